"""`umlsgraph run`: the whole pipeline in one command, resumable, settings from a project file.

Runs on the synthetic release with the real MiniLM encoder and the offline `embed` annotator
(real inference end to end), kept small: a few hundred concepts, one short training run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import networkx as nx
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph.errors import InputFileError
from umlsgraph.settings import RunSettings
from umlsgraph.workflows.run import resolve_settings

runner = CliRunner()


def _project(tmp_path: Path, db: Path, minilm: Path, n: int = 120) -> Path:
    """Tiny settings, with enough steps that the model selects something (a run whose model
    selects nothing exits 1: tests/workflows/test_run_empty.py)."""
    path = tmp_path / "umlsgraph.toml"
    path.write_text(f"""
[run]
query = "nervous_system"
db = "{db}"
llm = "embed"
n = {n}
base-model = "{minilm}"
out = "model"
epochs = 1
min_steps = 100
max_length = 32
formats = ["graphml", "csv"]
""")
    return path


def test_settings_resolve_defaults_then_project_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[run]\nquery = "anatomy"\nn = 50\nout = "runs/a"\nformats = "ttl,csv"\n')
    settings = resolve_settings({"n": 70, "llm": None}, path)
    assert settings.query == "anatomy"
    assert settings.n == 70                                   # flag wins
    assert settings.out == tmp_path / "runs/a"                # relative to the project file
    assert settings.formats == ("ttl", "csv")
    assert settings.llm == RunSettings(query="x").llm         # default kept


def test_unknown_project_setting_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[run]\nquery = "anatomy"\nepoch = 3\n')
    with pytest.raises(InputFileError, match="unknown setting 'epoch'"):
        resolve_settings({}, path)


@pytest.mark.slow
def test_run_whole_pipeline_then_rerun_does_nothing(loaded_db: Path, minilm_path: Path,
                                                    tmp_path: Path) -> None:
    project = _project(tmp_path, loaded_db, minilm_path)
    first = runner.invoke(app, ["run", "--project", str(project), "--json"])
    assert first.exit_code == 0, first.output
    steps = {s["step"]: s for s in json.loads(first.stdout)}
    assert [steps[k]["status"] for k in ("annotate", "train", "label", "export")] == \
        ["done"] * 4
    con = duckdb.connect(str(loaded_db), read_only=True)
    n_annotations = con.execute("SELECT count(*) FROM annotations").fetchone()[0]
    n_predictions = con.execute("SELECT count(*) FROM predictions").fetchone()[0]
    n_concepts = con.execute("SELECT count(*) FROM concepts").fetchone()[0]
    positives = {r[0] for r in con.execute(
        "SELECT id FROM predictions WHERE label = 'yes'").fetchall()}
    con.close()
    assert n_annotations == 120
    assert n_predictions == n_concepts
    graph = nx.read_graphml(tmp_path / "model" / "export" / "nervous_system.graphml")
    assert set(graph.nodes) == positives

    again = runner.invoke(app, ["run", "--project", str(project), "--json"])
    assert again.exit_code == 0, again.output
    steps = {s["step"]: s for s in json.loads(again.stdout)}
    assert [steps[k]["status"] for k in ("annotate", "train", "label")] == ["skipped"] * 3

    more = runner.invoke(app, ["run", "--project", str(project), "-n", "150", "--json"])
    steps = {s["step"]: s for s in json.loads(more.stdout)}
    assert steps["annotate"]["status"] == "done" and "30 asked" in steps["annotate"]["detail"]
    assert steps["train"]["status"] == "done"                 # new labels: retrained


@pytest.mark.slow
def test_run_resumes_after_kill_9_without_asking_twice(loaded_db: Path, minilm_path: Path,
                                                       tmp_path: Path) -> None:
    project = _project(tmp_path, loaded_db, minilm_path, n=250)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    command = [sys.executable, "-m", "umlsgraph_cli.main", "run", "--project", str(project)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    assert proc.stdout is not None
    for line in proc.stdout:                                   # kill -9 once training starts
        if "annotate" in line and "asked" in line:
            break
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    rerun = runner.invoke(app, ["run", "--project", str(project), "--json"])
    assert rerun.exit_code == 0, rerun.output
    steps = {s["step"]: s for s in json.loads(rerun.stdout)}
    assert steps["annotate"]["status"] == "skipped"            # the 250 answers were kept
    assert steps["label"]["status"] == "done"
    con = duckdb.connect(str(loaded_db), read_only=True)
    assert con.execute("SELECT count(*), count(DISTINCT id) FROM annotations").fetchone() == \
        (250, 250)
    con.close()
