"""The demo names where its selection contradicts HPO's hierarchy: a whole organ system
selected under the nervous-system question is the first island, and HPO's gold says so."""

from __future__ import annotations

import shutil
from pathlib import Path

from umlsgraph_cli import common
from umlsgraph_cli.pipeline import _print_contradictions

from tests.subontology_data import hpo_positives, write_predictions
from umlsgraph.workflows.demo import GOLD_ROOT, QUERY, contradictions, demo_settings

GENITOURINARY = "HP:0000119"  # Abnormality of the genitourinary system
SEIZURE = "HP:0001250"


def test_demo_names_an_organ_system_selected_by_mistake(hpo_db: Path, tmp_path: Path,
                                                         monkeypatch) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    shutil.copy(hpo_db, out / "hpo.duckdb")
    positives = hpo_positives(out / "hpo.duckdb", GOLD_ROOT)
    positives.update(hpo_positives(out / "hpo.duckdb", GENITOURINARY))
    del positives[SEIZURE]  # a hole: its parents are selected, so are its children
    write_predictions(out / "hpo.duckdb", positives, query=QUERY)
    found = contradictions(demo_settings(out))
    assert [cui for cui, _ in found["roots"]] == [GOLD_ROOT]
    first = found["islands"][0]
    assert first["id"] == GENITOURINARY and first["selection_wrong"] and first["gold"] == "no"
    assert first["selected_below"] > 100
    assert SEIZURE in [h["id"] for h in found["holes"]]
    hole = next(h for h in found["holes"] if h["id"] == SEIZURE)
    assert hole["selection_wrong"] and hole["gold"] == "yes"
    monkeypatch.setattr(common.console, "width", 250)
    with common.console.capture() as printed:
        _print_contradictions(found)
    text = printed.get()
    assert "Contradictions of the hierarchy" in text and GENITOURINARY in text
    assert "Abnormality of the genitourinary system" in text and "selection wrong" in text


def test_demo_scores_its_export_with_the_strong_answers_as_verdicts(hpo_db: Path,
                                                                     tmp_path: Path) -> None:
    """`demo --reask-with labels:FILE --verdicts`: the held-out export is scored as
    `export --verdicts` makes it, so a strong "no" at the top of the wrongly selected organ
    system takes it out of the scored export; without --verdicts it stays in."""
    from tests.training_data import annotate
    from umlsgraph.annotate.backends import create
    from umlsgraph.query import load_query
    from umlsgraph.workflows.demo import score

    out = tmp_path / "demo"
    out.mkdir()
    shutil.copy(hpo_db, out / "hpo.duckdb")
    positives = hpo_positives(out / "hpo.duckdb", GOLD_ROOT)
    positives.update(hpo_positives(out / "hpo.duckdb", GENITOURINARY))
    write_predictions(out / "hpo.duckdb", positives, query=QUERY)
    strong = tmp_path / "strong.csv"
    strong.write_text(f"id,label\n{GENITOURINARY},no\n")
    plain = demo_settings(out, reask_with=f"labels:{strong}", reask_budget=5)
    judged = demo_settings(out, reask_with=f"labels:{strong}", reask_budget=5, verdicts=True)
    query = load_query(QUERY)
    annotate(out / "hpo.duckdb", query, {SEIZURE: "yes"}, create(plain.backend).name)
    annotate(out / "hpo.duckdb", query, {GENITOURINARY: "no"}, "labels:strong.csv")
    without = score(plain, out)[1]["export (held-out)"]
    with_verdicts = score(judged, out)[1]["export (held-out)"]
    assert without["precision"] < 0.9 <= with_verdicts["precision"] == 1.0
    assert with_verdicts["recall"] == without["recall"] == 1.0


def test_demo_refuses_verdicts_without_a_reask_before_making_its_folder(tmp_path: Path) -> None:
    from typer.testing import CliRunner
    from umlsgraph_cli.main import app

    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--verdicts", "--out", str(out)])
    assert result.exit_code == 1 and "--reask-with" in result.output
    assert "Traceback" not in result.output and not out.exists()
