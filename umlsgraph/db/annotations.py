"""Storage of LLM (and imported) annotations in DuckDB: written as they arrive, never asked twice.

Table ``annotations``, one row per answer::

    query VARCHAR, source VARCHAR, id VARCHAR, annotator VARCHAR, prompt_hash VARCHAR,
    label VARCHAR (NULL when unparseable), raw VARCHAR, score DOUBLE (NULL if none),
    created_at TIMESTAMP;  PRIMARY KEY (query, source, id, annotator, prompt_hash)

`source` is the item source key (``concepts`` or ``corpus:NAME``), `annotator` names the
backend and model (``hf:/models/x``, ``labels:gold.csv``…). Rows with a NULL label are the
parse failures: kept with their raw text, counted, never used for training.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

TABLE = "annotations"


@dataclass(frozen=True)
class Annotation:
    """One answer about one item."""

    id: str
    label: str | None
    raw: str
    score: float | None = None


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        query VARCHAR NOT NULL, source VARCHAR NOT NULL, id VARCHAR NOT NULL,
        annotator VARCHAR NOT NULL, prompt_hash VARCHAR NOT NULL, label VARCHAR,
        raw VARCHAR, score DOUBLE, created_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (query, source, id, annotator, prompt_hash))""")


def write(con: duckdb.DuckDBPyConnection, query: str, source: str, annotator: str,
          prompt_hash: str, batch: Iterable[Annotation]) -> int:
    """Insert one batch in one transaction (a re-sent item replaces its old answer).

    The batch goes in as one Arrow table: DuckDB's `executemany` runs one statement per row
    (~120 rows/s on a busy CPU), which made importing thousands of labels take minutes.
    """
    import pyarrow as pa

    items = list({a.id: a for a in batch}.values())  # an id sent twice: the last answer wins
    if not items:
        return 0
    n = len(items)
    rows = pa.table({
        "query": [query] * n, "source": [source] * n, "id": [a.id for a in items],
        "annotator": [annotator] * n, "prompt_hash": [prompt_hash] * n,
        "label": pa.array([a.label for a in items], pa.string()),
        "raw": pa.array([a.raw for a in items], pa.string()),
        "score": pa.array([a.score for a in items], pa.float64()),
    })
    ensure_table(con)
    con.register("_annotation_batch", rows)
    con.execute("BEGIN")
    try:
        con.execute(
            f"INSERT OR REPLACE INTO {TABLE} (query, source, id, annotator, prompt_hash, label, "
            "raw, score) SELECT * FROM _annotation_batch")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_annotation_batch")
    return n


def done_ids_sql(query: str, source: str, annotator: str, prompt_hash: str) -> str:
    """SQL selecting the ids already annotated (parsed or not) for this exact setting."""
    def q(v: str) -> str:
        return "'" + v.replace("'", "''") + "'"
    return (f"SELECT id FROM {TABLE} WHERE query = {q(query)} AND source = {q(source)} "
            f"AND annotator = {q(annotator)} AND prompt_hash = {q(prompt_hash)}")


def annotators(con: duckdb.DuckDBPyConnection, query: str, source: str) -> list[str]:
    """The annotators that have answers for this query, most answers first."""
    if not has_table(con):
        return []
    rows = con.execute(f"SELECT annotator FROM {TABLE} WHERE query = ? AND source = ? "
                       "GROUP BY annotator ORDER BY count(*) DESC, annotator",
                       [query, source]).fetchall()
    return [r[0] for r in rows]


def choose_annotator(con: duckdb.DuckDBPyConnection, query: str, source: str,
                     annotator: str | None) -> str:
    """The one rule for whose labels a step uses: the one named, else the only one.

    Gold and LLM labels are never mixed silently: with several annotators and none named,
    this is an error listing them.
    """
    from umlsgraph.errors import AnnotationError

    known = annotators(con, query, source)
    if not known:
        raise AnnotationError(f"no annotations for query '{query}' on {source}; run "
                              "`umlsgraph annotate` (or import labels with --labels-file) first")
    if annotator is None and len(known) > 1:
        raise AnnotationError(f"several annotators labelled query '{query}' on {source}: "
                              f"{', '.join(known)}; choose one with --annotator")
    if annotator and annotator not in known:
        raise AnnotationError(f"--annotator '{annotator}': no annotations by it; known: "
                              f"{', '.join(known)}")
    return annotator or known[0]


def scores(con: duckdb.DuckDBPyConnection, query: str, source: str,
           annotator: str) -> dict[str, float]:
    """id -> the annotator's stored score (its P(positive) or margin), latest answer per id."""
    rows = con.execute(f"SELECT id, arg_max(score, created_at) FROM {TABLE} WHERE query = ? "
                       "AND source = ? AND annotator = ? AND label IS NOT NULL AND score IS NOT "
                       "NULL GROUP BY id", [query, source, annotator]).fetchall()
    return {r[0]: float(r[1]) for r in rows}


def has_table(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?",
                            [TABLE]).fetchone()[0])  # type: ignore[index]


def labels_sql(query: str, source: str, annotator: str | None = None) -> str:
    """SQL selecting (id, label) of parsed annotations, one per item (latest wins).

    With no annotator given, every annotator's labels are used; where two disagree on an
    item the most recent answer wins.
    """
    def q(v: str) -> str:
        return "'" + v.replace("'", "''") + "'"
    cond = f"query = {q(query)} AND source = {q(source)} AND label IS NOT NULL"
    if annotator:
        cond += f" AND annotator = {q(annotator)}"
    return (f"SELECT id, arg_max(label, created_at) AS label FROM {TABLE} WHERE {cond} "
            "GROUP BY id")


def counts(con: duckdb.DuckDBPyConnection, query: str, source: str) -> list[tuple]:
    """(annotator, prompt_hash, label or None, count) for a query: what `annotations` shows."""
    if not has_table(con):
        return []
    return con.execute(
        f"SELECT annotator, prompt_hash, label, count(*) FROM {TABLE} "
        "WHERE query = ? AND source = ? GROUP BY ALL ORDER BY 1, 2, 3 NULLS LAST",
        [query, source]).fetchall()
