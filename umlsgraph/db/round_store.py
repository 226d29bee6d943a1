"""Storage of annotation rounds: which items a sampling strategy chose to ask, in what order.

Table ``annotation_rounds`` (DDL in `umlsgraph.db.schema`), one row per chosen item::

    query VARCHAR, source VARCHAR, round_key VARCHAR, strategy VARCHAR, id VARCHAR,
    rank INTEGER (1 = asked first), score DOUBLE (the strategy's, e.g. |P - 0.5|),
    created_at TIMESTAMP;  PRIMARY KEY (query, source, round_key, id)

A round is chosen once and stored before anything is asked, so an interrupted round resumes
with the same items (choosing again would pick other items, as some are labelled by then).
`round_key` hashes what decides the choice (strategy, model, annotator, n, seed).
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from umlsgraph.db.connection import table_exists, transaction
from umlsgraph.db.schema import ANNOTATION_ROUNDS
from umlsgraph.db.sql import literal
from umlsgraph.db.versioned import ensure

TABLE = ANNOTATION_ROUNDS


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    ensure(con, TABLE)


def has_round(con: duckdb.DuckDBPyConnection, query: str, source: str, key: str) -> bool:
    if not table_exists(con, TABLE):
        return False
    row = con.execute(f"SELECT count(*) FROM {TABLE} WHERE query = ? AND source = ? AND "
                      "round_key = ?", [query, source, key]).fetchall()
    return bool(row[0][0])


def write(con: duckdb.DuckDBPyConnection, query: str, source: str, key: str, strategy: str,
          ids: Sequence[str], scores: Sequence[float | None]) -> None:
    """Store a round's choice (ids in asking order) in one transaction."""
    import pyarrow as pa

    ensure_table(con)
    table = pa.table({"id": list(ids), "rank": pa.array(range(1, len(ids) + 1), pa.int32()),
                      "score": pa.array(list(scores), pa.float64())})
    con.register("_round_rows", table)
    try:
        with transaction(con):
            con.execute(f"DELETE FROM {TABLE} WHERE query = ? AND source = ? AND round_key = ?",
                        [query, source, key])
            con.execute(f"INSERT INTO {TABLE} (query, source, round_key, strategy, id, rank, "
                        "score) SELECT ?, ?, ?, ?, id, rank, score FROM _round_rows",
                        [query, source, key, strategy])
    finally:
        con.unregister("_round_rows")


def ids(con: duckdb.DuckDBPyConnection, query: str, source: str, key: str) -> list[str]:
    """The round's ids in asking order."""
    rows = con.execute(f"SELECT id FROM {TABLE} WHERE query = ? AND source = ? AND "
                       "round_key = ? ORDER BY rank", [query, source, key]).fetchall()
    return [r[0] for r in rows]


def ids_sql(query: str, source: str, key: str) -> str:
    """SQL of one column `id`: the round's items (for a `SubsetSource`)."""
    return (f"SELECT id FROM {TABLE} WHERE query = {literal(query)} AND source = "
            f"{literal(source)} AND round_key = {literal(key)}")
