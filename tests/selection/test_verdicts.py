"""`--verdicts`: a stronger annotator's answers decide the selection where they speak, on the
real HPO hierarchy (issue 30).

The model selects the nervous system, plus a wrong island in the eye (as an encoder trained
on an LLM that erred on that whole branch would). The strong annotator says "no" at the
island's top, and "yes" at the top of an eye branch the model left out. One concept of the
wrong island also has a selected parent outside it, planted as a confident prediction: it
must stay, with what it holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph.db import prediction_store
from umlsgraph.db.hierarchy import child_edges_sql, descendants_sql
from umlsgraph.errors import AnnotationError, QueryError
from umlsgraph.query import load_query
from umlsgraph.selection import SelectionOptions, select

from ..training_data import annotate

QUERY = load_query("nervous_system")
NERVOUS, EYE = "HP:0000707", "HP:0000478"
runner = CliRunner()


def below(con: duckdb.DuckDBPyConnection, root: str) -> set[str]:
    return {r[0] for r in con.execute(descendants_sql(), [root]).fetchall()}


def children(con: duckdb.DuckDBPyConnection, parent: str) -> list[str]:
    return sorted(r[0] for r in con.execute(f"SELECT child FROM ({child_edges_sql('?')})",
                                            [parent, parent]).fetchall())


def parents(con: duckdb.DuckDBPyConnection, child: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT cui2 FROM relations WHERE cui1 = ? AND rel = 'PAR'", [child]).fetchall()}


@pytest.fixture
def planted(hpo_db: Path) -> dict[str, object]:
    """Predictions and strong answers as the module docstring says; the parts, by name."""
    con = duckdb.connect(str(hpo_db), read_only=True)
    try:
        nervous = below(con, NERVOUS)
        tops = {g for c in children(con, EYE) for g in [c, *children(con, c)]}
        sizes = {c: below(con, c) - nervous for c in sorted(tops)}
        fits = sorted((len(b), c) for c, b in sizes.items() if 20 <= len(b) <= 600)
        island = fits[-1][1]
        missed = next(c for _, c in reversed(fits) if not sizes[c] & sizes[island])
        island_part, missed_part = sizes[island], sizes[missed]
        # a concept inside the island with a second parent outside it: planted selected
        held = next(c for c in sorted(island_part - {island})
                    if parents(con, c) - island_part - nervous)
        holder = sorted(parents(con, held) - island_part - nervous)[0]
        held_part = below(con, held)
    finally:
        con.close()
    probability = dict.fromkeys(nervous, 0.97) | dict.fromkeys(island_part, 0.97)
    probability[holder] = 0.97
    con = duckdb.connect(str(hpo_db))
    try:
        ids = sorted(probability)
        prediction_store.write(con, QUERY.name, "concepts", "model-a", ids,
                               ["yes"] * len(ids), [probability[i] for i in ids])
    finally:
        con.close()
    annotate(hpo_db, QUERY, {island: "no", missed: "yes"}, "strong")
    return {"db": hpo_db, "island": island, "island_part": island_part, "missed": missed,
            "missed_part": missed_part, "held": held, "held_part": held_part,
            "nervous": nervous, "holder": holder}


def selected(db: Path, **options: object) -> tuple[set[str], dict[str, object], object]:
    con = duckdb.connect(str(db), read_only=True)
    selection = select(con, QUERY, SelectionOptions(model="model-a", **options))  # type: ignore[arg-type]
    ids = {r[0] for r in con.execute(selection.selected_sql).fetchall()}
    return ids, selection.summary, selection


def test_a_no_verdict_takes_its_branch_out_and_a_yes_passes_down(planted):
    db = planted["db"]
    without, _, _ = selected(db)
    assert planted["island_part"] <= without  # the model's wrong island is exported
    assert not planted["missed_part"] & without

    with_verdicts, summary, selection = selected(db, verdicts="strong")
    cut = planted["island_part"] - planted["held_part"]
    assert not cut & with_verdicts, "the branch under the 'no' verdict stays selected"
    assert planted["held_part"] <= with_verdicts, "a concept with a selected parent outside " \
        "the branch was taken out"
    assert planted["missed_part"] <= with_verdicts, "a 'yes' verdict did not pass down"
    assert planted["nervous"] <= with_verdicts
    assert summary["cut_by_verdicts"] == len(cut - {planted["island"]})
    assert summary["verdicts"] == "strong" and summary["verdict_answers"] == 2

    deep = sorted(cut - {planted["island"]})[0]
    why = selection.explain(deep)
    assert not why["selected"] and why["via"] == planted["island"]
    assert "strong judged not a member" in why["why"]


def test_without_the_closure_a_yes_verdict_selects_only_itself(planted):
    ids, _, _ = selected(planted["db"], verdicts="strong", closure="none")
    assert planted["missed"] in ids
    assert not (planted["missed_part"] - {planted["missed"]}) & ids


def test_unknown_verdicts_annotator_is_one_line(planted):
    with pytest.raises(AnnotationError, match="--annotator 'nobody': no labels by it"):
        selected(planted["db"], verdicts="nobody")
    with pytest.raises(QueryError, match="one annotator"):
        SelectionOptions(verdicts="strong,weak")


def test_export_and_check_take_verdicts(planted, tmp_path):
    db = str(planted["db"])
    out = tmp_path / "sub.csv"
    plain = runner.invoke(app, ["export", QUERY.name, "--db", db, "--format", "csv",
                                "--out", str(out), "--json"])
    judged = runner.invoke(app, ["export", QUERY.name, "--db", db, "--format", "csv",
                                 "--out", str(tmp_path / "judged.csv"), "--verdicts", "strong",
                                 "--json"])
    assert plain.exit_code == 0 and judged.exit_code == 0, plain.output + judged.output
    before, after = json.loads(plain.output), json.loads(judged.output)
    assert after["selected"] < before["selected"]
    check = runner.invoke(app, ["check", QUERY.name, "--db", db, "--verdicts", "strong",
                                "--json"])
    assert check.exit_code == 0, check.output
    bad = runner.invoke(app, ["export", QUERY.name, "--db", db, "--format", "csv",
                              "--out", str(tmp_path / "x.csv"), "--verdicts", "nobody"])
    assert bad.exit_code == 1 and "Traceback" not in bad.output
    assert "nobody" in bad.output


def test_export_all_refuses_verdicts(planted, tmp_path):
    out = runner.invoke(app, ["export", "--all", "--db", str(planted["db"]), "--format", "csv",
                              "--out", str(tmp_path / "all"), "--verdicts", "strong"])
    assert out.exit_code == 1 and "--verdicts" in out.output and "Traceback" not in out.output


def test_eval_and_the_report_score_the_selection_with_verdicts(planted, tmp_path):
    """`eval --source selection --verdicts` and `report --verdicts` read the same selection as
    `export --verdicts`: the wrong island is gone from what they score and count."""
    from tests.training_data import write_labels
    from umlsgraph.report.page import build_report

    db = str(planted["db"])
    truth = {c: "yes" if c in planted["nervous"] else "no"
             for c in planted["nervous"] | planted["island_part"] | planted["missed_part"]}
    gold = write_labels(tmp_path / "gold.csv", truth)
    scores = {}
    for flags in ([], ["--verdicts", "strong"]):
        out = runner.invoke(app, ["eval", QUERY.name, "--db", db, "--gold", str(gold),
                                  "--source", "selection", *flags, "--json"])
        assert out.exit_code == 0, out.output
        scores[bool(flags)] = json.loads(out.output)
    assert scores[True]["verdicts"] == "strong"
    assert scores[True]["precision"] > scores[False]["precision"]
    wrong = runner.invoke(app, ["eval", QUERY.name, "--db", db, "--gold", str(gold),
                                "--verdicts", "strong"])
    assert wrong.exit_code == 1 and "--verdicts chooses what --source selection" in wrong.output

    plain = build_report(db, QUERY, tmp_path / "plain")
    judged = build_report(db, QUERY, tmp_path / "judged", verdicts="strong", gold=gold)
    cut = judged.sections["subontology"]["cut_by_verdicts"]
    assert cut > 0
    assert judged.sections["subontology"]["selected"] < plain.sections["subontology"]["selected"]
    export = judged.sections["quality"]["export (held-out)"]  # the strong answers left out
    assert export["verdicts"] == "strong" and export["precision"] > scores[False]["precision"]
