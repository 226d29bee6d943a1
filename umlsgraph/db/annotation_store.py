"""The `annotations` table: LLM (and imported) answers, written as they arrive, never asked twice.

One row per answer (DDL in `umlsgraph.db.schema`)::

    query, source, id, annotator, prompt_hash, label (NULL when unparseable), raw, score,
    created_at;  PRIMARY KEY (query, source, id, annotator, prompt_hash)

`source` is the item source key (``concepts`` or ``corpus:NAME``), `annotator` names the
backend and model (``hf:/models/x``, ``labels:gold.csv``…). Rows with a NULL label are the
parse failures: kept with their raw text, counted, never used for training.

**Which annotator's labels count** is decided once, by `choose_annotators`: train, eval,
export, audit and report all call it, so no step mixes annotators silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import duckdb

from umlsgraph.db.connection import table_exists, transaction
from umlsgraph.db.schema import ANNOTATIONS
from umlsgraph.db.sql import literal
from umlsgraph.db.versioned import ensure
from umlsgraph.errors import AnnotationError

TABLE = ANNOTATIONS


@dataclass(frozen=True)
class Annotation:
    """One answer about one item."""

    id: str
    label: str | None
    raw: str
    score: float | None = None


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    ensure(con, TABLE)


def has_table(con: duckdb.DuckDBPyConnection) -> bool:
    return table_exists(con, TABLE)


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
    rows = pa.table({
        "id": pa.array([a.id for a in items], pa.string()),
        "label": pa.array([a.label for a in items], pa.string()),
        "raw": pa.array([a.raw for a in items], pa.string()),
        "score": pa.array([a.score for a in items], pa.float64()),
    })
    ensure_table(con)
    con.register("_annotation_batch", rows)
    try:
        with transaction(con):
            con.execute(
                f"INSERT OR REPLACE INTO {TABLE} (query, source, id, annotator, prompt_hash, "
                "label, raw, score) SELECT ?, ?, id, ?, ?, label, raw, score "
                "FROM _annotation_batch", [query, source, annotator, prompt_hash])
    finally:
        con.unregister("_annotation_batch")
    return len(items)


def done_ids_sql(query: str, source: str, annotator: str, prompt_hash: str) -> str:
    """SQL selecting the ids already annotated (parsed or not) for this exact setting."""
    return (f"SELECT id FROM {TABLE} WHERE query = {literal(query)} "
            f"AND source = {literal(source)} AND annotator = {literal(annotator)} "
            f"AND prompt_hash = {literal(prompt_hash)}")


def annotators(con: duckdb.DuckDBPyConnection, query: str, source: str) -> list[str]:
    """The annotators that have parsed labels for this query, most labels first."""
    if not has_table(con):
        return []
    rows = con.execute(f"SELECT annotator FROM {TABLE} WHERE query = ? AND source = ? "
                       "AND label IS NOT NULL GROUP BY annotator "
                       "ORDER BY count(*) DESC, annotator", [query, source]).fetchall()
    return [r[0] for r in rows]


def choose_annotators(con: duckdb.DuckDBPyConnection, query: str, source: str,
                      annotator: str | None) -> list[str]:
    """THE rule for whose labels count, used by train, eval, export, audit and report.

    - `annotator` given (one name, or several comma-separated in order of priority, e.g.
      ``human:ana,hf:/models/llama``: where both labelled an item the first one wins):
      each must have labels for this query, else an error listing the known ones;
    - not given and exactly one annotator has labels: that one;
    - not given and several have: an error asking to choose (labels are never mixed silently);
    - none at all: an error saying how to make some.
    """
    known = annotators(con, query, source)
    if not known:
        raise AnnotationError(f"no annotations for query '{query}' on {source}; run "
                              f"`umlsgraph annotate {query}` (or import labels with "
                              "--labels-file) first")
    if annotator is None:
        if len(known) > 1:
            raise AnnotationError(
                f"several annotators labelled query '{query}' on {source}: "
                f"{', '.join(known)}; choose one with --annotator (several, comma-separated, "
                "in order of priority)")
        return known
    chosen = [a.strip() for a in annotator.split(",") if a.strip()]
    missing = [a for a in chosen if a not in known]
    if not chosen or missing:
        raise AnnotationError(f"--annotator '{', '.join(missing) or annotator}': no labels by "
                              f"it for query '{query}'; known: {', '.join(known)}")
    return chosen


def labels_sql(query: str, source: str, chosen: Sequence[str],
               with_annotator: bool = False) -> str:
    """SQL of (id, label), or (id, label, annotator): one parsed label per item from the
    `chosen` annotators.

    The first annotator in `chosen` that labelled an item wins; within one annotator (several
    prompt versions) the most recent answer wins.
    """
    if not chosen:
        raise ValueError("labels_sql needs at least one annotator (see choose_annotators)")
    priority = " ".join(f"WHEN {literal(a)} THEN {i}" for i, a in enumerate(chosen))
    columns = "id, label, annotator" if with_annotator else "id, label"
    return (f"SELECT {columns} FROM (SELECT id, label, annotator, row_number() OVER ("
            f"PARTITION BY id ORDER BY CASE annotator {priority} END, created_at DESC) AS rank_ "
            f"FROM {TABLE} WHERE query = {literal(query)} AND source = {literal(source)} "
            f"AND label IS NOT NULL AND annotator IN ({', '.join(literal(a) for a in chosen)})"
            ") WHERE rank_ = 1")


def labelled_ids_sql(query: str, source: str) -> str:
    """SQL of one column `id`: the items with a parsed label from any annotator."""
    return (f"SELECT DISTINCT id FROM {TABLE} WHERE query = {literal(query)} AND source = "
            f"{literal(source)} AND label IS NOT NULL")


def scores(con: duckdb.DuckDBPyConnection, query: str, source: str,
           annotator: str) -> dict[str, float]:
    """id -> the annotator's stored score (its P(positive) or margin), latest answer per id."""
    rows = con.execute(f"SELECT id, arg_max(score, created_at) FROM {TABLE} WHERE query = ? "
                       "AND source = ? AND annotator = ? AND label IS NOT NULL AND score IS NOT "
                       "NULL GROUP BY id", [query, source, annotator]).fetchall()
    return {r[0]: float(r[1]) for r in rows}


def counts(con: duckdb.DuckDBPyConnection, query: str, source: str) -> list[tuple]:
    """(annotator, prompt_hash, label or None, count) for a query: what `annotations` shows."""
    if not has_table(con):
        return []
    return con.execute(
        f"SELECT annotator, prompt_hash, label, count(*) FROM {TABLE} "
        "WHERE query = ? AND source = ? GROUP BY ALL ORDER BY 1, 2, 3 NULLS LAST",
        [query, source]).fetchall()
