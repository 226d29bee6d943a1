"""`export --descendants` closes the selection downwards: a kind of a selected kind is
selected, through main parents only, never above the selection; `eval --source selection`
scores it."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.subontology_data import QUERY, cui, subtree, write_predictions
from umlsgraph.db.items import ConceptSource
from umlsgraph.evaluate.evaluation import evaluate
from umlsgraph.export.selection import NODES, SelectionOptions, build
from umlsgraph.query import load_query


def _nodes(db: Path, **options: object) -> tuple[set[str], dict]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        sub = build(con, load_query(QUERY), options=SelectionOptions(**options))  # type: ignore[arg-type]
        return {r[0] for r in con.execute(f"SELECT cui FROM {NODES}").fetchall()}, sub.summary
    finally:
        con.close()


def test_descendants_of_a_selected_concept_are_selected(loaded_db: Path) -> None:
    """The encoder missed the branch under C0000005; its parent C0000001 is selected, so with
    --descendants the whole branch is; by default the labels stay as they are."""
    missed = subtree(5)
    write_predictions(loaded_db, {c: 0.9 for c in subtree(1) - missed})
    nodes, summary = _nodes(loaded_db, descendants=True)
    assert nodes == subtree(1)
    assert summary["descendants_added"] == len(missed) and summary["selected"] == len(nodes)
    kept, summary = _nodes(loaded_db)  # the default: the labels as they are
    assert kept == subtree(1) - missed and summary["descendants_added"] == 0


def _stray_parent(db: Path, child: str, parent: str) -> None:
    """One is-a row from a source that names neither concept."""
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO relations (cui1, rel, cui2, rela, sab) "
                "VALUES (?, 'PAR', ?, 'inverse_isa', 'STRAY')", [child, parent])
    con.close()


def test_a_stray_parent_from_another_source_pulls_nothing_in(loaded_db: Path) -> None:
    """A concept outside the selection, whose own sources (MSH, SNOMEDCT_US name it and
    state its parent) put it elsewhere, gets one stray is-a row under a selected concept: its
    branch stays out."""
    con = duckdb.connect(str(loaded_db), read_only=True)
    outside = con.execute("""SELECT min(cui) FROM names WHERE sab IN ('MSH', 'SNOMEDCT_US')
        AND cui NOT IN (SELECT unnest(?)) AND cui <> ?""", [sorted(subtree(1)), cui(0)]
                          ).fetchall()[0][0]
    con.close()
    _stray_parent(loaded_db, outside, cui(1))
    write_predictions(loaded_db, {c: 0.9 for c in subtree(1)})
    nodes, summary = _nodes(loaded_db, descendants=True)
    assert outside not in nodes and summary["descendants_added"] == 0


def test_nothing_above_the_selection_is_added(loaded_db: Path) -> None:
    """The root gets a stray parent inside the selection (a cycle): the root, above every
    selected concept, is not selected as its descendant, and neither is the rest."""
    _stray_parent(loaded_db, cui(0), cui(5))
    write_predictions(loaded_db, {c: 0.9 for c in subtree(1)})
    nodes, summary = _nodes(loaded_db, descendants=True)
    assert nodes == subtree(1) and summary["descendants_added"] == 0


def test_eval_scores_the_selection(loaded_db: Path, tmp_path: Path) -> None:
    missed = subtree(5)
    write_predictions(loaded_db, {c: 0.9 for c in subtree(1) - missed})
    gold = tmp_path / "gold.csv"
    with gold.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "label"])
        writer.writerows((c, "yes") for c in sorted(subtree(1)))
        writer.writerow([cui(2), "no"])
    query = load_query(QUERY)
    encoder = evaluate(loaded_db, query, ConceptSource(), gold)
    selection = evaluate(loaded_db, query, ConceptSource(), gold, what="selection")
    assert encoder["recall"] < 1.0 and selection["recall"] == 1.0
    assert selection["precision"] == 1.0 and selection["what"] == "selection"
    out = CliRunner().invoke(app, ["eval", QUERY, "--db", str(loaded_db), "--gold", str(gold),
                                   "--source", "selection", "--json"])
    assert out.exit_code == 0, out.output
    assert '"what": "selection"' in out.output


def test_export_cli_takes_descendants(loaded_db: Path, tmp_path: Path) -> None:
    write_predictions(loaded_db, {c: 0.9 for c in subtree(1) - subtree(5)})
    out = CliRunner().invoke(app, ["export", QUERY, "--db", str(loaded_db), "-f", "csv", "-o",
                                   str(tmp_path / "x"), "--descendants", "--json"])
    assert out.exit_code == 0, out.output
    assert f'"descendants_added": {len(subtree(5))}' in out.output
