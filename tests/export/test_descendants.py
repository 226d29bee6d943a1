"""`export --closure` closes the selection downwards: a kind of a selected kind is selected,
through main parents only, never above the selection, from every selected concept (`all`,
`--descendants`) or from the selection's body (`body`: islands pass nothing down);
`eval --source selection` scores it."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.subontology_data import QUERY, cui, subtree, write_predictions
from umlsgraph.db.items import ConceptSource
from umlsgraph.errors import InputFileError
from umlsgraph.evaluate.evaluation import evaluate
from umlsgraph.export.subontology import NODES, SelectionOptions, build
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
    --closure all the whole branch is; with none the labels stay as they are."""
    missed = subtree(5)
    write_predictions(loaded_db, {c: 0.9 for c in subtree(1) - missed})
    nodes, summary = _nodes(loaded_db, closure="all")
    assert nodes == subtree(1)
    assert summary["descendants_added"] == len(missed) and summary["selected"] == len(nodes)
    kept, summary = _nodes(loaded_db, closure="none")
    assert kept == subtree(1) - missed and summary["descendants_added"] == 0


def test_a_hole_between_selected_concepts_is_filled(loaded_db: Path) -> None:
    """C0000021 is unselected between its selected parent and its selected children (a hole,
    what `check` lists): above part of the selection, yet on no cycle, so every closure but
    `none` fills it."""
    write_predictions(loaded_db, {c: 0.95 for c in subtree(1) - {cui(21)}})
    for closure in ("confident", "guarded", "rooted", "all"):
        nodes, summary = _nodes(loaded_db, closure=closure)
        assert nodes == subtree(1) and summary["descendants_added"] == 1, closure
    nodes, _ = _nodes(loaded_db, closure="none")
    assert cui(21) not in nodes


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
    nodes, summary = _nodes(loaded_db, closure="all")
    assert outside not in nodes and summary["descendants_added"] == 0


def test_nothing_above_the_selection_is_added(loaded_db: Path) -> None:
    """The root gets a stray parent inside the selection (a cycle): the root, above every
    selected concept, is not selected as its descendant, and neither is the rest."""
    _stray_parent(loaded_db, cui(0), cui(5))
    write_predictions(loaded_db, {c: 0.9 for c in subtree(1)})
    nodes, summary = _nodes(loaded_db, closure="all")
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
    with pytest.raises(InputFileError, match="--closure chooses what --source selection"):
        evaluate(loaded_db, query, ConceptSource(), gold, closure="all")
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


def test_guarded_passes_nothing_down_from_a_suspicious_island(loaded_db: Path) -> None:
    """C0000009 is confidently selected under an unselected parent (C0000002, 0.1): a
    suspicious island, where a false positive stands. `confident` and `all` pull its branch
    in; `guarded` keeps its label and adds nothing under it, while the branch the encoder
    missed under the selection's root is filled all the same (the root, C0000001, heads the
    most selected descendants)."""
    missed = subtree(5)
    write_predictions(loaded_db, {c: 0.9 for c in (subtree(1) - missed) | {cui(9)}})
    for pulling in ("all", "confident"):
        every, _ = _nodes(loaded_db, closure=pulling)
        pulled = every - subtree(1)  # the island's branch (the candidates among it)
        assert subtree(1) <= every and pulled <= subtree(9) and len(pulled) > 1, pulling
    for guarded in ("guarded", "rooted"):
        nodes, summary = _nodes(loaded_db, closure=guarded)
        assert nodes == subtree(1) | {cui(9)}, guarded
        assert summary["closure"] == guarded and summary["descendants_added"] == len(missed)


def test_guarded_trusts_an_island_whose_parent_is_half_believed(loaded_db: Path) -> None:
    """The same island under a parent the model half believes (0.4 > 0.2) is not suspicious:
    `guarded` lets it pass its selection down; `rooted` (every island but the root) does not."""
    write_predictions(loaded_db, {c: 0.9 for c in subtree(1) | {cui(9)}})
    con = duckdb.connect(str(loaded_db))
    con.execute("UPDATE predictions SET probability = 0.4 WHERE id = ?", [cui(2)])
    con.close()
    guarded, _ = _nodes(loaded_db, closure="guarded")
    rooted, _ = _nodes(loaded_db, closure="rooted")
    assert len(guarded - subtree(1)) > 1 and rooted == subtree(1) | {cui(9)}


def test_guarded_passes_down_from_inside_the_root_only(loaded_db: Path) -> None:
    """The root C0000001 is not selected: C0000005 and C0000006 are islands, and the one with
    the most selected descendants (C0000005) is the selection's root. A hole under C0000021
    (inside the root's branch) is filled; C0000025, right under the suspicious island
    C0000006, stays a hole."""
    write_predictions(loaded_db, {c: 0.9 for c in (subtree(5) | subtree(6))
                                  - {cui(85), cui(25)}})
    nodes, summary = _nodes(loaded_db, closure="guarded")
    assert cui(85) in nodes and cui(25) not in nodes
    assert summary["descendants_added"] == 1


def test_confident_passes_down_from_confident_concepts_only(loaded_db: Path) -> None:
    """`confident`: C0000005 (probability 0.95) passes its selection down to the hole under
    it; C0000006 (0.6, below `CONFIDENT`) keeps its own label and fills nothing."""
    from umlsgraph.selection.closure import CONFIDENT

    positives = {c: 0.95 for c in subtree(5) - {cui(21)}}
    positives.update({c: 0.6 for c in subtree(6) - {cui(25)}})
    assert 0.6 < CONFIDENT <= 0.95
    write_predictions(loaded_db, positives)
    nodes, summary = _nodes(loaded_db, closure="confident")
    assert cui(21) in nodes and cui(25) not in nodes and summary["descendants_added"] == 1


def test_closure_cli(loaded_db: Path, tmp_path: Path) -> None:
    write_predictions(loaded_db, {c: 0.9 for c in (subtree(1) - subtree(5)) | {cui(9)}})
    runner = CliRunner()
    out = runner.invoke(app, ["export", QUERY, "--db", str(loaded_db), "-f", "csv", "-o",
                              str(tmp_path / "x"), "--closure", "guarded", "--json"])
    assert out.exit_code == 0, out.output
    assert f'"descendants_added": {len(subtree(5))}' in out.output
    for bad, said, code in (
            (["--closure", "some"], "Invalid value for '--closure'", 2),
            (["--closure", "rooted"], "Invalid value for '--closure'", 2),  # a study's rule
            (["--closure", "guarded", "--descendants"], "--descendants means --closure", 1)):
        out = runner.invoke(app, ["export", QUERY, "--db", str(loaded_db), "-f", "csv", "-o",
                                  str(tmp_path / "y"), *bad])
        assert out.exit_code == code and said in out.output, out.output
        assert "Traceback" not in out.output
        assert not (tmp_path / "y").exists()
    out = runner.invoke(app, ["export", "--all", "--db", str(loaded_db), "-f", "csv", "-o",
                              str(tmp_path / "z"), "--closure", "none"])
    assert out.exit_code != 0 and "--all exports every concept" in out.output, out.output
