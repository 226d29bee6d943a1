"""Seeded sampling in DuckDB: reproducible, extendable, excluding what is done, stratified."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest

from umlsgraph.annotate.sampling import plan, sample_ids
from umlsgraph.db import annotation_store
from umlsgraph.db.items import ConceptSource, CorpusSource
from umlsgraph.errors import QueryError
from umlsgraph.query import load_query

QUERY = load_query("nervous_system")
SOURCE = ConceptSource()


@pytest.fixture
def con(loaded_db: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(loaded_db))
    yield connection
    connection.close()


def test_same_seed_same_sample_other_seed_other_sample(con: duckdb.DuckDBPyConnection) -> None:
    first = sample_ids(con, QUERY, SOURCE, 50, seed=1)
    assert first == sample_ids(con, QUERY, SOURCE, 50, seed=1)
    assert len(set(first)) == 50
    other = sample_ids(con, QUERY, SOURCE, 50, seed=2)
    assert set(first) != set(other)
    # not simply the first ids in storage order
    assert first != sorted(first)


def test_a_larger_sample_extends_a_smaller_one(con: duckdb.DuckDBPyConnection) -> None:
    small = sample_ids(con, QUERY, SOURCE, 20, seed=3)
    assert sample_ids(con, QUERY, SOURCE, 60, seed=3)[:20] == small
    assert len(sample_ids(con, QUERY, SOURCE, 10_000, seed=3)) == 300  # capped at candidates


def test_plan_skips_ids_already_done(con: duckdb.DuckDBPyConnection) -> None:
    sample = sample_ids(con, QUERY, SOURCE, 30, seed=4)
    annotation_store.write(con, QUERY.name, SOURCE.key, "x", "h",
                      [annotation_store.Annotation(i, "yes", "yes") for i in sample[:12]])
    done = annotation_store.done_ids_sql(QUERY.name, SOURCE.key, "x", "h")
    result = plan(con, QUERY, SOURCE, 30, seed=4, done_sql=done)
    assert result.todo == sample[12:]
    assert (result.size, result.done, result.candidates) == (30, 12, 300)
    # another annotator or prompt hash has done nothing
    other = annotation_store.done_ids_sql(QUERY.name, SOURCE.key, "x", "other-hash")
    assert plan(con, QUERY, SOURCE, 30, seed=4, done_sql=other).todo == sample


def test_filter_restricts_candidates(con: duckdb.DuckDBPyConnection) -> None:
    anatomy = load_query("anatomy")
    ids = sample_ids(con, anatomy, SOURCE, 1000, seed=5)
    allowed = {r[0] for r in con.execute(
        f"SELECT cui FROM semantic_types WHERE tui IN {tuple(anatomy.filter.semantic_types)}"
    ).fetchall()}
    assert ids and set(ids) <= allowed and len(ids) < 300


def test_stratified_sample_is_proportional(con: duckdb.DuckDBPyConnection) -> None:
    strata = dict(con.execute(SOURCE.strata_sql(QUERY)).fetchall())
    sizes = Counter(strata.values())
    ids = sample_ids(con, QUERY, SOURCE, 60, seed=6, stratify=True)
    assert ids == sample_ids(con, QUERY, SOURCE, 60, seed=6, stratify=True)
    got = Counter(strata.get(i, "") for i in ids)
    for stratum, size in sizes.items():
        expected = 60 * size / 300
        assert abs(got[stratum] - expected) <= 1.5, (stratum, got[stratum], expected)


def test_bad_requests_are_one_line_errors(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(QueryError, match="at least 1"):
        plan(con, QUERY, SOURCE, 0, seed=1)
    with pytest.raises(QueryError, match="no strata"):
        plan(con, QUERY, CorpusSource("rt"), 5, seed=1, stratify=True)
