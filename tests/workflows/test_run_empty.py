"""`run` whose model selects no concept: nothing is written (never an empty file), the labels
and predictions stay, and the command exits 1 with one line saying what to do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.subontology_data import write_predictions
from tests.workflows.test_run_reask import fake_model
from umlsgraph.settings import RunSettings
from umlsgraph.workflows import run as workflow

runner = CliRunner()


def test_an_empty_selection_writes_no_file(loaded_db: Path, tmp_path: Path) -> None:
    write_predictions(loaded_db, {})  # every concept predicted "no"
    fake_model(tmp_path / "model")
    settings = RunSettings(query="nervous_system", db=loaded_db, out=tmp_path / "model",
                           formats=("graphml", "obo"))
    step = workflow.step_export(settings)
    assert step.status == workflow.EMPTY
    assert "selection has no concept" in step.detail and "--threshold" in step.detail
    assert not settings.exports.exists() or not any(settings.exports.iterdir())


def test_run_exits_1_after_printing_its_steps(monkeypatch: Any, tmp_path: Path) -> None:
    steps = [workflow.StepResult("label", "skipped", "all labelled"),
             workflow.StepResult("export", workflow.EMPTY, "nothing written: no concept")]
    monkeypatch.setattr(workflow, "run_pipeline", lambda settings, on_step=None: steps)
    result = runner.invoke(app, ["run", "nervous_system", "--db", str(tmp_path / "x.duckdb"),
                                 "--llm", "embed", "--json"])
    assert result.exit_code == 1
    printed = json.loads(result.stdout[:result.stdout.rindex("]") + 1])
    assert [s["status"] for s in printed] == ["skipped", "empty"]
    assert "nothing written: no concept" in result.output.splitlines()[-1]
    assert "Traceback" not in result.output
