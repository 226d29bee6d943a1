"""Storage of label audits: out-of-sample probabilities and the flags of likely-wrong labels.

Table ``label_audit`` (DDL in `umlsgraph.db.schema`), one row per audited annotation::

    query VARCHAR, source VARCHAR, annotator VARCHAR, id VARCHAR, audit_key VARCHAR,
    fold INTEGER, label VARCHAR, probabilities DOUBLE[] (one per category, NULL until the
    item's fold is predicted), p_out_of_sample DOUBLE (P(positive)), annotator_score DOUBLE,
    quality DOUBLE (how much the evidence supports the label, 0..1), suspect BOOLEAN (NULL
    until the audit is complete), created_at TIMESTAMP;
    PRIMARY KEY (query, source, annotator, id)

One audit per query, source and annotator: a new audit (another `audit_key`: other labels,
folds or settings) replaces the old one. Fold predictions are written as each fold finishes,
so an interrupted audit resumes at the first fold without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from umlsgraph.db.connection import table_exists, transaction
from umlsgraph.db.schema import LABEL_AUDIT
from umlsgraph.db.sql import literal
from umlsgraph.db.versioned import ensure
from umlsgraph.errors import StoreError

TABLE = LABEL_AUDIT


@dataclass(frozen=True)
class Flag:
    """One audited annotation as stored (probabilities of the query's categories, in order)."""

    id: str
    label: str
    fold: int
    probabilities: tuple[float, ...] | None
    p_out_of_sample: float | None
    annotator_score: float | None
    quality: float | None
    suspect: bool | None


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    ensure(con, TABLE)


def start(con: duckdb.DuckDBPyConnection, query: str, source: str, annotator: str, key: str,
          rows: Sequence[tuple[str, str, int, float | None]]) -> bool:
    """Plan an audit: (id, label, fold, annotator score) per annotation.

    Keeps the stored rows when they belong to the same `key` (a resumed audit; returns True),
    else replaces whatever audit this annotator had.
    """
    import pyarrow as pa

    ensure_table(con)
    where = "query = ? AND source = ? AND annotator = ?"
    params = [query, source, annotator]
    keys = {r[0] for r in con.execute(f"SELECT DISTINCT audit_key FROM {TABLE} WHERE {where}",
                                      params).fetchall()}
    if keys == {key}:
        return True
    table = pa.table({"id": [r[0] for r in rows], "label": [r[1] for r in rows],
                      "fold": pa.array([r[2] for r in rows], pa.int32()),
                      "score": pa.array([r[3] for r in rows], pa.float64())})
    con.register("_audit_plan", table)
    try:
        with transaction(con):
            con.execute(f"DELETE FROM {TABLE} WHERE {where}", params)
            con.execute(f"INSERT INTO {TABLE} (query, source, annotator, id, audit_key, fold, "
                        "label, annotator_score) SELECT ?, ?, ?, id, ?, fold, label, score "
                        "FROM _audit_plan", [*params, key])
    finally:
        con.unregister("_audit_plan")
    return False


def done_folds(con: duckdb.DuckDBPyConnection, query: str, source: str,
               annotator: str) -> set[int]:
    """Folds whose items all have out-of-sample probabilities."""
    rows = con.execute(f"SELECT fold FROM {TABLE} WHERE query = ? AND source = ? AND "
                       "annotator = ? GROUP BY fold HAVING count(probabilities) = count(*)",
                       [query, source, annotator]).fetchall()
    return {int(r[0]) for r in rows}


def training_labels_sql(query: str, source: str, annotator: str, fold: int) -> str:
    """SQL of (id, label): the audited labels outside `fold` (what that fold's model learns)."""
    return (f"SELECT id, label FROM {TABLE} WHERE query = {literal(query)} AND source = "
            f"{literal(source)} AND annotator = {literal(annotator)} AND fold <> {int(fold)}")


def fold_ids(con: duckdb.DuckDBPyConnection, query: str, source: str, annotator: str,
             fold: int) -> list[str]:
    rows = con.execute(f"SELECT id FROM {TABLE} WHERE query = ? AND source = ? AND "
                       "annotator = ? AND fold = ? ORDER BY id",
                       [query, source, annotator, fold]).fetchall()
    return [r[0] for r in rows]


def write_probabilities(con: duckdb.DuckDBPyConnection, query: str, source: str,
                        annotator: str, ids: Sequence[str],
                        probabilities: Sequence[Sequence[float]], positive: int) -> None:
    """Store one fold's out-of-sample probabilities in one transaction."""
    import pyarrow as pa

    table = pa.table({"id": list(ids),
                      "probs": pa.array([list(p) for p in probabilities], pa.list_(pa.float64())),
                      "p": pa.array([p[positive] for p in probabilities], pa.float64())})
    _update(con, query, source, annotator, table,
            "probabilities = u.probs, p_out_of_sample = u.p")


def write_flags(con: duckdb.DuckDBPyConnection, query: str, source: str, annotator: str,
                ids: Sequence[str], quality: Sequence[float], suspect: Sequence[bool]) -> None:
    """Store the verdicts of a finished audit (this completes it)."""
    import pyarrow as pa

    table = pa.table({"id": list(ids), "quality": pa.array(list(quality), pa.float64()),
                      "suspect": pa.array(list(suspect), pa.bool_())})
    _update(con, query, source, annotator, table, "quality = u.quality, suspect = u.suspect")


def _update(con: duckdb.DuckDBPyConnection, query: str, source: str, annotator: str,
            table: object, assignments: str) -> None:
    con.register("_audit_update", table)
    try:
        with transaction(con):
            con.execute(f"UPDATE {TABLE} SET {assignments} FROM _audit_update u WHERE "
                        f"{TABLE}.id = u.id AND {TABLE}.query = ? AND {TABLE}.source = ? AND "
                        f"{TABLE}.annotator = ?", [query, source, annotator])
    finally:
        con.unregister("_audit_update")


def flags(con: duckdb.DuckDBPyConnection, query: str, source: str,
          annotator: str) -> list[Flag]:
    """Every audited annotation of this annotator, least supported label first."""
    if not table_exists(con, TABLE):
        return []
    rows = con.execute(
        f"SELECT id, label, fold, probabilities, p_out_of_sample, annotator_score, quality, "
        f"suspect FROM {TABLE} WHERE query = ? AND source = ? AND annotator = ? "
        "ORDER BY quality NULLS LAST, id", [query, source, annotator]).fetchall()
    return [Flag(r[0], r[1], int(r[2]), tuple(r[3]) if r[3] is not None else None, r[4], r[5],
                 r[6], r[7]) for r in rows]


def audited_annotators(con: duckdb.DuckDBPyConnection, query: str, source: str) -> list[str]:
    """Annotators with a complete audit for this query."""
    if not table_exists(con, TABLE):
        return []
    rows = con.execute(f"SELECT annotator FROM {TABLE} WHERE query = ? AND source = ? "
                       "GROUP BY annotator HAVING count(suspect) = count(*) ORDER BY annotator",
                       [query, source]).fetchall()
    return [r[0] for r in rows]


def suspects_sql(con: duckdb.DuckDBPyConnection, query: str, source: str,
                 annotator: str) -> str:
    """SQL of one column `id`: the flagged items of this annotator's complete audit.

    Raises a StoreError saying to run `umlsgraph audit` when there is no complete audit.
    """
    if annotator not in audited_annotators(con, query, source):
        raise StoreError(f"no finished label audit of query '{query}' for annotator "
                         f"'{annotator}'; run `umlsgraph audit {query} --annotator {annotator}` "
                         "first (re-running it resumes an interrupted one)")
    return (f"SELECT id FROM {TABLE} WHERE query = {literal(query)} AND source = "
            f"{literal(source)} AND annotator = {literal(annotator)} AND suspect")
