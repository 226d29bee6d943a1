"""`umlsgraph check`: islands and holes planted in the synthetic 4-ary tree are found, with
the right neighbours and order; a selection that is exactly a subtree flags nothing."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli import common
from umlsgraph_cli.main import app

from tests.subontology_data import QUERY, cui, rename, subtree, write_predictions
from umlsgraph.db import annotation_store
from umlsgraph.errors import NotFoundError
from umlsgraph.evaluate.consistency import check
from umlsgraph.selection import DEFAULT_CLOSURE, SelectionOptions

runner = CliRunner()
HOSTILE = 'Evil "$x$" \\ <b>&amp;</b> ]]> \u202e[red]rtl[/red]\n{name}'
#: The hole: C0000006 (child of the root C0000001; children 25-28) predicted no.
HOLE = cui(6)
#: A lone island (a leaf under the unselected C0000072) and a bigger one: C0000010 (under the
#: unselected C0000002) with its four children 41-44.
LONE, BIG = cui(290), cui(10)


def planted() -> dict[str, float]:
    positives = {c: 0.9 for c in subtree(1)} | {BIG: 0.95, LONE: 0.7}
    positives.update({cui(i): 0.8 for i in range(41, 45)})
    del positives[HOLE]
    return positives


@pytest.fixture
def planted_db(loaded_db: Path) -> Path:
    write_predictions(loaded_db, planted())
    return loaded_db


def test_planted_islands_and_holes_are_found_with_their_neighbours(planted_db):
    found = check(planted_db, QUERY)
    added = found.counts["closure_added"]
    assert found.counts == {"selected": len(planted()) + added, "labelled": len(planted()),
                            "closure_added": added, "islands": 2, "holes": 1, "roots": 1,
                            "under_holes": 4, "no_parents": 0}
    # the default closure fills the hole below the confident root, and BIG (0.95) passes its
    # selection down to its unselected descendants
    assert added > 0 and found.selection["closure"] == DEFAULT_CLOSURE
    # the subtree's top is its root, not a contradiction
    assert [r["cui"] for r in found.roots] == [cui(1)]
    # islands: the one heading four selected children first, then the lone leaf
    assert [r["cui"] for r in found.islands] == [BIG, LONE]
    big, lone = found.islands
    assert big["selected_descendants"] == 4 and lone["selected_descendants"] == 0
    assert [p["cui"] for p in big["unselected_parents"]] == [cui(2)]
    assert big["unselected_parents"][0]["probability"] == 0.1
    assert {c["cui"] for c in big["selected_children"]} == {cui(i) for i in range(41, 45)}
    assert [p["cui"] for p in lone["unselected_parents"]] == [cui(72)]
    assert big["probability"] == 0.95 and big["surprise"] > lone["surprise"] > 0
    # the hole: its (selected) parent and its four selected children, which are not listed
    # again as islands
    (hole,) = found.holes
    assert hole["cui"] == HOLE and hole["probability"] == 0.1
    assert [p["cui"] for p in hole["selected_parents"]] == [cui(1)]
    assert {c["cui"] for c in hole["selected_children"]} == {cui(i) for i in range(25, 29)}
    assert (hole["n_parents"], hole["n_children"], hole["n_selected_children"]) == (1, 4, 4)
    assert all(r["name"] for r in [*found.islands, *found.holes])


def test_holes_are_ranked_by_how_sure_the_model_is_they_are_out(loaded_db):
    positives = {c: 0.9 for c in subtree(1)}
    del positives[cui(6)], positives[cui(7)]
    write_predictions(loaded_db, positives)
    con = duckdb.connect(str(loaded_db))
    con.execute("UPDATE predictions SET probability = 0.45 WHERE id = ?", [cui(7)])
    con.close()
    found = check(loaded_db, QUERY)
    assert [h["cui"] for h in found.holes] == [cui(6), cui(7)]
    assert found.holes[0]["surprise"] > found.holes[1]["surprise"]


def test_a_subtree_flags_nothing(loaded_db):
    write_predictions(loaded_db, {c: 0.9 for c in subtree(5)})
    found = check(loaded_db, QUERY)
    assert [r["cui"] for r in found.roots] == [cui(5)]
    assert found.islands == [] and found.holes == []
    assert found.counts["islands"] == found.counts["holes"] == 0
    assert found.counts["under_holes"] == 0


def test_limit_caps_the_lists_not_the_counts(planted_db):
    found = check(planted_db, QUERY, limit=1)
    assert [r["cui"] for r in found.islands] == [BIG] and found.counts["islands"] == 2


def test_annotations_as_the_source(planted_db):
    """Selected by annotations: an annotated 'yes' is certain, an unannotated parent unknown."""
    con = duckdb.connect(str(planted_db))
    rows = [annotation_store.Annotation(c, "yes", "yes") for c in (cui(1), cui(5), LONE)]
    rows.append(annotation_store.Annotation(cui(72), "no", "no"))
    annotation_store.write(con, QUERY, "concepts", "hf:llm", "h", rows)
    con.close()
    found = check(planted_db, QUERY, SelectionOptions(source="annotations"))
    assert found.counts["labelled"] == found.counts["selected"] == 3  # nothing passes down
    assert [r["cui"] for r in found.roots] == [cui(1)]
    (island,) = found.islands
    assert island["cui"] == LONE and island["annotation"] == "yes"
    assert island["surprise"] == 1.0  # annotated yes (1) under an annotated no (0)
    assert [h["cui"] for h in found.holes] == []


def test_nothing_selected_is_an_error(loaded_db):
    write_predictions(loaded_db, {})
    with pytest.raises(NotFoundError, match="select no concept"):
        check(loaded_db, QUERY)
    done = runner.invoke(app, ["check", QUERY, "--db", str(loaded_db)])
    assert done.exit_code == 1 and "select no concept" in done.output
    assert "Traceback" not in done.output


def test_cli_json_shape_and_hostile_names(planted_db, monkeypatch):
    rename(planted_db, LONE, HOSTILE)
    rename(planted_db, cui(2), HOSTILE + " parent")
    done = runner.invoke(app, ["check", QUERY, "--db", str(planted_db), "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    assert set(data) >= {"islands", "holes", "counts", "roots"}
    assert set(data["counts"]) == {"selected", "labelled", "closure_added", "islands",
                                   "holes", "roots", "under_holes", "no_parents"}
    island = {r["cui"]: r for r in data["islands"]}
    assert island[LONE]["name"] == HOSTILE
    assert island[BIG]["unselected_parents"][0]["name"] == HOSTILE + " parent"
    assert {"cui", "name", "probability", "annotation", "surprise", "selected_descendants",
            "closure_adds", "unselected_parents", "selected_children"} <= set(island[BIG])
    assert {"cui", "name", "probability", "surprise", "n_parents", "n_children",
            "n_selected_children", "selected_parents", "selected_children"} <= set(
                data["holes"][0])
    monkeypatch.setattr(common.console, "width", 400)  # one line per row, for the asserts
    plain = runner.invoke(app, ["check", QUERY, "--db", str(planted_db), "--limit", "1"])
    assert plain.exit_code == 0, plain.output
    assert "Evil \"$x$\" \\ <b>&amp;</b> ]]>" in plain.output  # literal, not rich markup
    assert "[red]rtl[/red]" in plain.output
    assert "1 islands" not in plain.output and "2 islands, 1 holes" in plain.output
    assert LONE not in plain.output  # --limit 1 shows the top island only


def test_a_sparse_selection_has_no_root(loaded_db):
    """Lone concepts (an annotated sample, say): no island carries a tenth of the selection,
    so none is called the root; all are flagged, the one with a selected child first."""
    lone = {cui(i): 0.8 for i in range(150, 160)}
    write_predictions(loaded_db, lone | {cui(26): 0.8, cui(105): 0.8})  # 105 is 26's child
    found = check(loaded_db, QUERY)
    assert found.roots == [] and found.counts["roots"] == 0
    # (C0000154 lost its parent rows to the synthetic release's suppression: no parent)
    assert found.counts["islands"] + found.counts["no_parents"] == 11
    assert found.islands[0]["cui"] == cui(26)


@pytest.mark.parametrize("seed", [4, 5])
def test_six_planted_holes_and_six_planted_islands_are_all_named(hpo_db, seed):
    """HPO's nervous subtree annotated exactly, then 6 concepts inside it answered no (holes)
    and 6 outside answered yes (islands): `check --source annotations` names all 12. Seed 4
    plants holes that have a parent outside the subtree (HPO is a polyhierarchy), which the
    old rule (every parent selected) missed: 9 of 12 were named."""
    import random
    from collections import defaultdict

    from umlsgraph.db.hierarchy import edges_sql
    from umlsgraph.evaluate.gold import subtree_gold

    con = duckdb.connect(str(hpo_db))
    gold = dict(subtree_gold(con, "HP:0000707"))
    kids, ups = defaultdict(set), defaultdict(set)
    for child, parent in con.execute(edges_sql()).fetchall():
        kids[parent].add(child)
        ups[child].add(parent)
    inside = {i for i, label in gold.items() if label == "yes"}
    rng = random.Random(seed)
    holes = rng.sample(sorted(i for i in inside if kids[i] & inside and i != "HP:0000707"), 6)
    islands = rng.sample(sorted(i for i in gold if i not in inside and ups[i]), 6)
    labels = {**gold, **dict.fromkeys(holes, "no"), **dict.fromkeys(islands, "yes")}
    annotation_store.write(con, "hpo_nervous", "concepts", "sim", "h",
                           [annotation_store.Annotation(i, v, v) for i, v in labels.items()])
    con.close()
    found = check(hpo_db, "hpo_nervous", SelectionOptions(source="annotations"), limit=None)
    assert {r["cui"] for r in found.holes} >= set(holes)
    assert {r["cui"] for r in found.islands} >= set(islands)
    assert [r["cui"] for r in found.roots] == ["HP:0000707"]
