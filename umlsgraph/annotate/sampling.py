"""Reproducible random samples of an item source's candidates, computed inside DuckDB.

Every candidate gets a fixed pseudo-random rank, ``md5(seed || ':' || id)``, so a sample is
the first N candidates in that order: the same seed always gives the same items on any
machine and DuckDB version, and a larger N extends a smaller one (the first 1,000 of a
2,000 sample are the 1,000 sample). `-n` is therefore a target: re-running asks only the
items of the first N that have no answer yet, which is what makes an interrupted run resume.

With stratification, items are ordered by their fractional rank inside their stratum
(semantic type for concepts), which interleaves the strata so that any prefix holds each in
proportion to its size, still extendable and still reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from umlsgraph.db.items import ItemSource
from umlsgraph.db.sql import literal
from umlsgraph.errors import QueryError
from umlsgraph.query import Query, no_items_error


@dataclass(frozen=True)
class SamplePlan:
    """What a run will ask: `todo` ids in sample order, and how many of the N are done."""

    todo: list[str]
    size: int
    done: int
    candidates: int


def ordered_sql(query: Query, source: ItemSource, seed: int, stratify: bool = False) -> str:
    """SQL of (id, pos): every candidate with its position in the seeded random order."""
    key = f"md5({literal(f'{int(seed)}:')} || c.id)"
    if not stratify:
        return (f"SELECT c.id, row_number() OVER (ORDER BY {key}, c.id) AS pos "
                f"FROM ({source.candidates_sql(query)}) c")
    strata = source.strata_sql(query)
    if strata is None:
        raise QueryError(f"stratified sampling is not available for {source.key} "
                         "(it has no strata); drop --stratify")
    return f"""
    WITH c AS (SELECT DISTINCT id FROM ({source.candidates_sql(query)})),
    s AS (SELECT c.id, coalesce(st.stratum, '') AS stratum, {key} AS k
          FROM c LEFT JOIN ({strata}) st ON st.id = c.id),
    r AS (SELECT id, k, (row_number() OVER (PARTITION BY stratum ORDER BY k, id) - 0.5)
                 / count(*) OVER (PARTITION BY stratum) AS frac FROM s)
    SELECT id, row_number() OVER (ORDER BY frac, k, id) AS pos FROM r"""


def sample_sql(query: Query, source: ItemSource, n: int, seed: int,
               stratify: bool = False) -> str:
    """SQL of (id, pos) for the first `n` items of the seeded order."""
    ordered = ordered_sql(query, source, seed, stratify)
    return f"SELECT id, pos FROM ({ordered}) WHERE pos <= {int(n)}"


def plan(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource, n: int, seed: int,
         stratify: bool = False, done_sql: str | None = None) -> SamplePlan:
    """The ids of a size-`n` sample still to ask, in sample order, skipping `done_sql`'s ids.

    `done_sql` selects one column `id` (typically `annotations.done_ids_sql(...)`).
    """
    if n < 1:
        raise QueryError(f"sample size must be at least 1 (got {n})")
    sample = sample_sql(query, source, n, seed, stratify)
    skip = f"WHERE id NOT IN ({done_sql})" if done_sql else ""
    todo = [r[0] for r in con.execute(f"SELECT id FROM ({sample}) {skip} ORDER BY pos").fetchall()]
    # fetchall, not fetchone: an unfinished result blocks `register` on DuckDB 2.
    size = con.execute(f"SELECT count(*) FROM ({sample})").fetchall()[0][0]
    total = con.execute(f"SELECT count(*) FROM ({source.candidates_sql(query)})").fetchall()[0][0]
    if not total:
        raise no_items_error(query, source.key)
    return SamplePlan(todo=todo, size=int(size), done=int(size) - len(todo), candidates=int(total))


def sample_ids(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource, n: int,
               seed: int, stratify: bool = False) -> list[str]:
    """The first `n` ids of the seeded order (the whole sample, done or not)."""
    sql = sample_sql(query, source, n, seed, stratify)
    return [r[0] for r in con.execute(f"SELECT id FROM ({sql}) ORDER BY pos").fetchall()]
