"""`umlsgraph run --reask-with LLM --reask-budget N`: after label, the first model's most
surprising contradictions are re-asked with a stronger annotator (here `labels:FILE`), a model
is retrained on its answers over the first annotator's, relabels, and export reads it; each
step skips what is done."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import networkx as nx
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.annotate.test_reask_contradictions import planted, truth
from tests.subontology_data import MODEL, write_predictions
from tests.training_data import annotate as store_labels
from tests.training_data import write_labels
from umlsgraph.errors import InputFileError
from umlsgraph.model_folder import write_meta
from umlsgraph.query import load_query
from umlsgraph.settings import RunSettings
from umlsgraph.workflows import run as workflow

QUERY = load_query("nervous_system")
runner = CliRunner()


def fake_model(folder: Path, model_id: str = MODEL) -> Path:
    """A finished model folder as far as its umlsgraph.json says (no weights)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_meta(folder, {"model_id": model_id, "complete": True})
    return folder


@pytest.fixture
def first_run(loaded_db: Path, tmp_path: Path) -> RunSettings:
    """A store the first model has labelled (planted contradictions), a weak annotator's
    labels, and a strong annotator's labels file."""
    write_predictions(loaded_db, planted())
    store_labels(loaded_db, QUERY, {c: "yes" for c in planted()}, annotator="labels:weak.csv")
    strong = write_labels(tmp_path / "strong.csv", truth(loaded_db))
    fake_model(tmp_path / "model")
    return RunSettings(query="nervous_system", db=loaded_db, out=tmp_path / "model",
                       labels_file=tmp_path / "weak.csv", reask_with=f"labels:{strong}",
                       reask_budget=2)


@pytest.mark.parametrize(("values", "message"), [
    ({"reask_with": "labels:x.csv"}, "together"),
    ({"reask_budget": 5}, "together"),
    ({"reask_with": "labels:x.csv", "reask_budget": 0}, "at least 1"),
    ({"llm": "embed", "reask_with": "embed", "reask_budget": 5}, "re-ask with a stronger one"),
    ({"corpus": "imdb", "reask_with": "labels:x.csv", "reask_budget": 5}, "no hierarchy"),
])
def test_reask_settings_are_checked(values: dict[str, Any], message: str) -> None:
    with pytest.raises(InputFileError, match=message):
        RunSettings(query="nervous_system", **values)


def test_the_reask_steps_run_only_when_asked_for(first_run: RunSettings) -> None:
    names = [s.__name__ for s in workflow.steps(first_run)]
    assert names[3:7] == ["step_label", "step_reask", "step_retrain", "step_relabel"]
    plain = RunSettings(query="nervous_system", llm="embed")
    assert "step_reask" not in [s.__name__ for s in workflow.steps(plain)]


def test_reask_asks_the_budget_once(first_run: RunSettings) -> None:
    step = workflow.step_reask(first_run)
    assert step.status == "done" and step.detail.startswith("2 of 2 contradictions")
    assert step.data["reask"]["from"] == "predictions" and step.data["reask"]["of"] == MODEL
    again = workflow.step_reask(first_run)
    assert again.status == "skipped" and "all answered" in again.detail


def test_a_first_model_that_selects_nothing_has_nothing_to_reask(
        first_run: RunSettings) -> None:
    write_predictions(first_run.db, {})
    step = workflow.step_reask(first_run)
    assert step.status == "skipped" and "select no concept" in step.detail
    assert workflow.step_retrain(first_run).status == "skipped"
    assert workflow.step_relabel(first_run).status == "skipped"


def test_retrain_trains_the_strong_answers_over_the_weak(first_run: RunSettings,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    skipped = workflow.step_retrain(first_run)
    assert skipped.status == "skipped" and "gave no label" in skipped.detail
    assert workflow.final_model_dir(first_run) == first_run.model_dir
    workflow.step_reask(first_run)
    calls: list[dict[str, Any]] = []

    class Trained:
        n_train, n_val, already_done, out = 10, 2, False, first_run.reask_model_dir

        def kept(self) -> str:
            return "kept epoch 1"

    def train(db: Path, query: Any, source: Any, config: Any, out: Path,
              annotator: str | None = None) -> Trained:
        calls.append({"out": out, "annotator": annotator})
        fake_model(out, "models/retrained")
        return Trained()

    monkeypatch.setattr("umlsgraph.train.trainer.train", train)
    step = workflow.step_retrain(first_run)
    assert step.status == "done"
    assert calls == [{"out": first_run.model_dir / "reask",
                      "annotator": "labels:strong.csv,labels:weak.csv"}]
    assert workflow.final_model_dir(first_run) == first_run.model_dir / "reask"


@pytest.mark.slow
def test_run_with_a_reask_then_rerun_does_nothing(loaded_db: Path, minilm_path: Path,
                                                  tmp_path: Path) -> None:
    strong = write_labels(tmp_path / "strong.csv", truth(loaded_db))
    # tiny settings, as tests/workflows/test_pipeline.py, but enough steps that the first
    # model selects something to contradict
    project = tmp_path / "umlsgraph.toml"
    project.write_text(f"""
[run]
query = "nervous_system"
db = "{loaded_db}"
llm = "embed"
n = 120
base-model = "{minilm_path}"
out = "model"
epochs = 1
min_steps = 100
max_length = 32
formats = ["graphml"]
reask-with = "labels:{strong}"
""")
    args = ["run", "--project", str(project), "--reask-budget", "5", "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    steps = {s["step"]: s for s in json.loads(first.stdout)}
    assert [steps[k]["status"] for k in ("reask", "retrain", "relabel", "export")] == \
        ["done"] * 4, steps
    assert "labels:strong.csv,embed" in steps["retrain"]["detail"]
    con = duckdb.connect(str(loaded_db), read_only=True)
    asked = con.execute("SELECT count(*) FROM annotations WHERE annotator = 'labels:strong.csv'"
                        ).fetchone()
    model = json.loads((tmp_path / "model" / "reask" / "umlsgraph.json").read_text())
    positives = {r[0] for r in con.execute("SELECT id FROM predictions WHERE label = 'yes' "
                                           "AND model = ?", [model["model_id"]]).fetchall()}
    con.close()
    assert asked == (5,)
    graph = nx.read_graphml(tmp_path / "model" / "export" / "nervous_system.graphml")
    assert positives <= set(graph.nodes)  # the retrained model's selection (and its closure)
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    steps = {s["step"]: s for s in json.loads(again.stdout)}
    assert [steps[k]["status"] for k in ("annotate", "train", "label", "reask", "retrain",
                                         "relabel")] == ["skipped"] * 6
    # --verdicts: the budget is spent (5 of 5 asked), so no verdict round; the export judges
    judged = runner.invoke(app, [*args, "--verdicts"])
    assert judged.exit_code == 0, judged.output
    steps = {s["step"]: s for s in json.loads(judged.stdout)}
    assert steps["verdicts"]["status"] == "skipped" and "spent" in steps["verdicts"]["detail"]
    assert "verdicts of labels:strong.csv: 5 answers" in steps["export"]["detail"]


def test_the_report_shows_before_and_after_the_second_opinion(loaded_db: Path,
                                                              tmp_path: Path) -> None:
    """`report --before-model` (what `run --reask-with` passes): the first model's selection
    and contradictions beside the retrained one's, and both scored against gold."""
    from umlsgraph.report.page import build_report

    gold = truth(loaded_db)
    write_predictions(loaded_db, planted(), model="models/first")
    write_predictions(loaded_db, {c: 0.9 for c, label in gold.items() if label == "yes"},
                      model="models/retrained")
    store_labels(loaded_db, QUERY, {c: "yes" for c in planted()}, annotator="labels:weak.csv")
    before, after = (fake_model(tmp_path / n, f"models/{n}") for n in ("first", "retrained"))
    gold_csv = write_labels(tmp_path / "gold.csv", gold)
    result = build_report(loaded_db, QUERY, tmp_path / "report", model_dir=after,
                          before_model_dir=before, gold=gold_csv)
    facts = result.sections["second_opinion"]
    assert facts["before_model"] == "models/first" and facts["after_model"] == "models/retrained"
    assert facts["before"]["islands"] > 0 and facts["before"]["holes"] > 0
    assert facts["after"]["islands"] == 0 and facts["after"]["holes"] == 0
    page = result.html.read_text()
    assert "Before and after the second opinion" in page
    quality = result.sections["quality"]
    assert quality["encoder before the second opinion (held-out)"]["f1"] < \
        quality["encoder (held-out)"]["f1"] == 1.0
    plain = build_report(loaded_db, QUERY, tmp_path / "plain", model_dir=after)
    assert "second_opinion" not in plain.sections


def test_run_exports_with_the_strong_answers_as_verdicts_when_asked(
        first_run: RunSettings) -> None:
    """`run --reask-with LLM --verdicts`: the export honours the strong annotator's answers
    (`export --verdicts`); without the flag, or before it answered, the model's selection
    stands alone."""
    from dataclasses import replace

    judged = replace(first_run, reask_verdicts=True)
    assert workflow.export_verdicts(judged) is None  # nothing answered yet
    workflow.step_reask(first_run)
    assert workflow.export_verdicts(first_run) is None
    assert workflow.export_verdicts(judged) == "labels:strong.csv"
    plain, with_verdicts = workflow.step_export(first_run), workflow.step_export(judged)
    assert plain.status == with_verdicts.status == "done"
    assert with_verdicts.data["summary"]["verdicts"] == "labels:strong.csv"
    assert "verdicts" not in plain.data["summary"]
    with pytest.raises(InputFileError, match="--verdicts exports with the answers"):
        RunSettings(query="nervous_system", reask_verdicts=True)


def test_the_verdict_round_spends_what_the_budget_left_on_the_retrained_model(
        first_run: RunSettings) -> None:
    """`run --reask-with LLM --reask-budget N --verdicts`: the first model has 3
    contradictions, so a budget of 5 leaves 2; they are spent on the retrained model's own
    contradictions (a new wrong island), and the export takes that answer as a verdict."""
    from dataclasses import replace

    from tests.subontology_data import cui, subtree

    judged = replace(first_run, reask_budget=5, reask_verdicts=True)
    assert [s.__name__ for s in workflow.steps(judged)][4:8] == [
        "step_reask", "step_retrain", "step_relabel", "step_verdicts"]
    assert workflow.step_verdicts(judged).status == "skipped"  # no retrained model yet
    assert workflow.step_reask(judged).detail.startswith("3 of 3 contradictions")
    island = cui(60)  # outside C0000001's subtree: the strong annotator says no
    assert island not in subtree(1)
    fake_model(judged.reask_model_dir, "models/retrained")
    write_predictions(judged.db, {c: 0.9 for c in subtree(1)} | {island: 0.97},
                      model="models/retrained")
    step = workflow.step_verdicts(judged)
    assert step.status == "done" and step.detail.startswith("1 of the retrained model's"), \
        step.detail
    assert "the 2 the budget had left" in step.detail
    again = workflow.step_verdicts(judged)
    assert again.status == "skipped" and "nothing left to ask" in again.detail
    exported = workflow.step_export(judged)
    assert exported.data["summary"]["verdicts"] == "labels:strong.csv"
    plain = workflow.step_export(replace(judged, reask_verdicts=False))
    assert plain.data["summary"]["selected"] == exported.data["summary"]["selected"] + 1
    con = duckdb.connect(str(judged.db), read_only=True)
    asked = con.execute("SELECT count(*) FROM annotations WHERE annotator = "
                        "'labels:strong.csv'").fetchone()
    con.close()
    assert asked == (4,)  # never more than the budget
    spent = replace(judged, reask_budget=4)
    assert "is spent" in workflow.step_verdicts(spent).detail
