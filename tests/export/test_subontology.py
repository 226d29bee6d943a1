"""Selecting the subontology: which concepts, which edges, in which direction, and the options."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.subontology_data import (
    ISOLATED,
    KNOWN_CHILD,
    KNOWN_PARENT,
    MODEL,
    QUERY,
    cui,
    subtree,
    synthetic_positives,
    write_predictions,
)
from umlsgraph.db import annotation_store
from umlsgraph.db.items import CorpusSource
from umlsgraph.errors import QueryError, StoreError
from umlsgraph.export.subontology import EDGES, NODES, SelectionOptions, SubontologyOptions, build
from umlsgraph.query import load_query


@pytest.fixture
def predicted_db(loaded_db: Path) -> Path:
    write_predictions(loaded_db, synthetic_positives())
    return loaded_db


def _build(db: Path, **options: object) -> tuple[duckdb.DuckDBPyConnection, dict]:
    con = duckdb.connect(str(db), read_only=True)
    sub = build(con, load_query(QUERY), options=SubontologyOptions(**options))  # type: ignore[arg-type]
    return con, sub.summary


def _nodes(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute(f"SELECT cui FROM {NODES}").fetchall()}


def _edges(con: duckdb.DuckDBPyConnection, kind: str = "BROADER") -> set[tuple[str, str]]:
    return set(con.execute(f"SELECT from_cui, to_cui FROM {EDGES} WHERE type = ?",
                           [kind]).fetchall())


def test_default_selection_is_the_positive_label_with_child_to_parent_edges(predicted_db):
    con, summary = _build(predicted_db)
    expected = subtree(1) | set(ISOLATED)
    assert _nodes(con) == expected
    edges = _edges(con)
    # every hierarchy edge of the tree inside the selection, each pair once, child -> parent
    assert edges == {(c, cui((int(c[1:]) - 1) // 4)) for c in subtree(1) - {cui(1)}}
    assert (KNOWN_CHILD, KNOWN_PARENT) in edges and (KNOWN_PARENT, KNOWN_CHILD) not in edges
    rel, rela, sab = con.execute(f"SELECT rel, rela, sab FROM {EDGES} WHERE from_cui = ? "
                                 "AND to_cui = ?", [KNOWN_CHILD, KNOWN_PARENT]).fetchone()
    assert rel == ["CHD", "PAR"] and rela == ["inverse_isa", "isa"]
    assert sab == ["MSH", "SNOMEDCT_US"]
    assert summary["nodes"] == len(expected) and summary["edges"] == len(edges)
    assert summary["components"] == 3 and summary["largest_component"] == len(subtree(1))
    assert summary["isolated"] == 2 and summary["model"] == MODEL
    row = con.execute(f"SELECT name, probability, label, selected, semantic_types, component "
                      f"FROM {NODES} WHERE cui = ?", [KNOWN_CHILD]).fetchone()
    assert row[0] and row[1] == 0.9 and row[2] == "yes" and row[3] is True
    assert row[4] and row[5] == 1


def test_threshold_selects_by_probability(predicted_db):
    con, summary = _build(predicted_db, threshold=0.8, closure="none")
    assert _nodes(con) == (subtree(1) - {cui(i) for i in range(85, 149)}) | set(ISOLATED)
    for closure in ("all", "confident"):  # the deepest level, under confident (0.9) parents
        con, summary = _build(predicted_db, threshold=0.8, closure=closure)
        assert _nodes(con) == subtree(1) | set(ISOLATED) and summary["descendants_added"] == 64
    con, summary = _build(predicted_db, threshold=0.99)
    assert summary["nodes"] == 0 and summary["components"] == 0


def test_drop_isolated_and_min_component_size(predicted_db):
    con, summary = _build(predicted_db, drop_isolated=True)
    assert _nodes(con) == subtree(1) and summary["dropped"] == 2 and summary["isolated"] == 0
    con, summary = _build(predicted_db, min_component_size=len(subtree(1)) + 1)
    assert summary["nodes"] == 0 and summary["edges"] == 0


def test_with_ancestors_connects_the_selection_to_the_root(loaded_db):
    write_predictions(loaded_db, {cui(100): 0.9, cui(99): 0.9})
    con, summary = _build(loaded_db)
    assert summary["edges"] == 0 and summary["components"] == 2
    con, summary = _build(loaded_db, with_ancestors=True)
    path = {cui(i) for i in (100, 99, 24, 5, 1, 0)}
    assert _nodes(con) == path and summary["ancestors_added"] == 4
    assert _edges(con) == {(cui(100), cui(24)), (cui(99), cui(24)), (cui(24), cui(5)),
                           (cui(5), cui(1)), (cui(1), cui(0))}
    assert summary["components"] == 1
    added = con.execute(f"SELECT cui, selected, probability FROM {NODES} WHERE NOT selected "
                        "ORDER BY cui").fetchall()
    assert [r[0] for r in added] == [cui(0), cui(1), cui(5), cui(24)]
    assert all(r[2] == 0.1 for r in added)  # their own (negative) predictions


def test_other_relation_types_are_extra_edges_cui1_to_cui2(predicted_db):
    con, summary = _build(predicted_db, rels=("ro",))
    ro = _edges(con, "RO")
    expected = set(con.execute(
        f"SELECT DISTINCT cui1, cui2 FROM relations WHERE rel = 'RO' AND cui1 <> cui2 AND "
        f"cui1 IN (SELECT cui FROM {NODES}) AND cui2 IN (SELECT cui FROM {NODES})").fetchall())
    assert ro == expected and ro
    assert summary["edges_by_type"] == {"BROADER": len(_edges(con)), "RO": len(ro)}
    con, summary = _build(predicted_db, hierarchy=False, relas=("location_of",))
    assert set(summary["edges_by_type"]) == {"RO"}


def test_annotations_override_predictions_where_present(predicted_db):
    con = duckdb.connect(str(predicted_db))
    rows = [annotation_store.Annotation(KNOWN_CHILD, "no", "no"),
            annotation_store.Annotation(cui(200), "yes", "yes")]
    annotation_store.write(con, QUERY, "concepts", "hf:test", "hash", rows)
    con.close()
    con, summary = _build(predicted_db, source="annotations")
    assert _nodes(con) == {cui(200)} and summary["selected"] == 1
    con, summary = _build(predicted_db, source="both")
    assert _nodes(con) == (subtree(1) | set(ISOLATED) | {cui(200)}) - {KNOWN_CHILD}


def test_missing_labels_and_unknown_model_are_one_line_errors(loaded_db):
    con = duckdb.connect(str(loaded_db), read_only=True)
    with pytest.raises(StoreError, match="no predictions for query 'nervous_system'.*label"):
        build(con, load_query(QUERY))
    con.close()
    write_predictions(loaded_db, synthetic_positives())
    predicted_db = loaded_db
    with pytest.raises(StoreError, match="no annotations for query"):
        _build(predicted_db, source="annotations")
    with pytest.raises(StoreError, match=f"known models: {MODEL}"):
        _build(predicted_db, model="other")
    with pytest.raises(QueryError, match="known: predictions, annotations, both"):
        SelectionOptions(source="llm")


def test_latest_model_is_used_unless_one_is_named(predicted_db):
    write_predictions(predicted_db, {cui(3): 0.7}, model="newer", created="2025-06-01")
    con, summary = _build(predicted_db)
    assert summary["model"] == "newer" and _nodes(con) == {cui(3)}
    con, summary = _build(predicted_db, model=MODEL)
    assert summary["nodes"] == len(subtree(1)) + 2


def test_corpus_items_make_nodes_without_edges(predicted_db):
    con = duckdb.connect(str(predicted_db))
    con.execute("CREATE TABLE IF NOT EXISTS corpus_items (corpus VARCHAR, id VARCHAR, "
                "text VARCHAR, gold VARCHAR, split VARCHAR)")
    con.execute("INSERT INTO corpus_items VALUES ('rt', 'r1', 'a fine film', 'yes', 'train'), "
                "('rt', 'r2', 'dull', 'no', 'train')")
    con.close()
    write_predictions(predicted_db, {}, source="corpus:rt")
    con = duckdb.connect(str(predicted_db))
    con.execute("UPDATE predictions SET label = 'yes', id = 'r1' WHERE source = 'corpus:rt' "
                "AND id = (SELECT min(cui) FROM concepts)")
    con.close()
    con = duckdb.connect(str(predicted_db), read_only=True)
    sub = build(con, load_query(QUERY), CorpusSource("rt"))
    assert _nodes(con) == {"r1"} and sub.summary["edges"] == 0
    assert con.execute(f"SELECT name FROM {NODES}").fetchone()[0] == "a fine film"
