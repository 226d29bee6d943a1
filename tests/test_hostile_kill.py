"""kill -9 at random points (not only at the safe hooks) of `train`, `label` and `run`, then the
same command again: the result equals an uninterrupted run's.

Each test first times an uninterrupted run, then kills the same command with SIGKILL at
seeded random moments within that time (wherever it is: importing torch, reading the
database, in the middle of a step, while writing a checkpoint or a chunk), and finally lets it
finish. The kill times are printed in a failure message so a failure can be replayed.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.training_data import annotate, word_gold
from umlsgraph.query import load_query

pytestmark = pytest.mark.slow
QUERY = load_query("nervous_system")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
       "TOKENIZERS_PARALLELISM": "false", "OMP_WAIT_POLICY": "PASSIVE"}
KILLS = 3


def cli(args: list[str], kill_after: float | None = None) -> tuple[int | None, str]:
    """Run `umlsgraph ARGS`; with `kill_after`, SIGKILL it then (None: it was killed)."""
    proc = subprocess.Popen([sys.executable, "-m", "umlsgraph_cli.main", *args], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=kill_after if kill_after is not None else 1200)
    except subprocess.TimeoutExpired:
        if kill_after is None:
            raise
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        return None, ""
    return proc.returncode, err


def timed(args: list[str]) -> float:
    started = time.monotonic()
    code, err = cli(args)
    assert code == 0, err[-3000:]
    return time.monotonic() - started


def killed_then_finished(args: list[str], seconds: float, seed: int) -> list[float]:
    """Kill `args` at KILLS seeded random moments in (0.3 s, seconds), then let it finish."""
    rng = random.Random(seed)
    kills = []
    for _ in range(KILLS):
        moment = round(rng.uniform(0.3, seconds), 2)
        kills.append(moment)
        code, err = cli(args, kill_after=moment)
        assert code in (None, 0), f"kills at {kills}: {err[-3000:]}"
    code, err = cli(args)
    assert code == 0, f"after kills at {kills}: {err[-3000:]}"
    return kills


def predictions(db: Path) -> dict[str, tuple[str, float]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT id, label, probability FROM predictions").fetchall()
    finally:
        con.close()
    assert len(rows) == len({r[0] for r in rows})  # no item labelled twice
    return {r[0]: (r[1], r[2]) for r in rows}


def same_predictions(a: dict[str, tuple[str, float]], b: dict[str, tuple[str, float]]) -> bool:
    return a.keys() == b.keys() and all(
        a[k][0] == b[k][0] and abs(a[k][1] - b[k][1]) < 1e-4 for k in a)


def history(model: Path) -> list[tuple[float, dict]]:
    meta = json.loads((model / "umlsgraph.json").read_text())
    assert meta["complete"]
    return [(round(h["loss"], 4), h["confusion"]) for h in meta["history"]]


@pytest.fixture(scope="module")
def labelled(_loaded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("kill") / "umls.duckdb"
    shutil.copy(_loaded_template, db)
    annotate(db, QUERY, dict(list(word_gold(db).items())[:160]))
    return db


def train_args(db: Path, out: Path, minilm: Path) -> list[str]:
    return ["train", "nervous_system", "--db", str(db), "--out", str(out), "--base-model",
            str(minilm), "--epochs", "2", "--min-steps", "0", "--max-length", "24",
            "--seed", "3", "--val-fraction", "0.15"]


@pytest.fixture(scope="module")
def straight_model(labelled: Path, minilm_path: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    out = tmp_path_factory.mktemp("straight") / "model"
    seconds = timed(train_args(labelled, out, minilm_path))
    return out, seconds


def test_train_killed_at_random_points_matches_an_uninterrupted_run(
        labelled: Path, straight_model: tuple[Path, float], minilm_path: Path,
        tmp_path: Path) -> None:
    straight, seconds = straight_model
    out = tmp_path / "model"
    kills = killed_then_finished(train_args(labelled, out, minilm_path), seconds, seed=11)
    assert history(out) == history(straight), f"kills at {kills}"
    assert not (out / "checkpoint.pt").exists()


def test_label_killed_at_random_points_matches_an_uninterrupted_run(
        labelled: Path, straight_model: tuple[Path, float], tmp_path: Path) -> None:
    model, _ = straight_model
    dbs = {}
    for name in ("straight", "killed"):
        dbs[name] = tmp_path / f"{name}.duckdb"
        shutil.copy(labelled, dbs[name])
    args = ["label", "nervous_system", "--model", str(model), "--chunk-size", "32",
            "--batch-size", "16"]
    seconds = timed([*args, "--db", str(dbs["straight"])])
    kills = killed_then_finished([*args, "--db", str(dbs["killed"])], seconds, seed=12)
    assert len(predictions(dbs["straight"])) == 300
    assert same_predictions(predictions(dbs["killed"]), predictions(dbs["straight"])), \
        f"kills at {kills}"


def test_run_killed_at_random_points_matches_an_uninterrupted_run(
        _loaded_template: Path, minilm_path: Path, tmp_path: Path) -> None:
    results = {}
    seconds = 0.0
    for name in ("straight", "killed"):
        folder = tmp_path / name
        folder.mkdir()
        shutil.copy(_loaded_template, folder / "umls.duckdb")
        (folder / "project.toml").write_text(
            f'[run]\nquery = "nervous_system"\ndb = "umls.duckdb"\nllm = "embed"\nn = 80\n'
            f'base-model = "{minilm_path}"\nout = "model"\nepochs = 1\nmin-steps = 0\n'
            'max-length = 24\nformats = ["graphml"]\n')
        args = ["run", "--project", str(folder / "project.toml")]
        if name == "straight":
            seconds = timed(args)
        else:
            results["kills"] = killed_then_finished(args, seconds, seed=13)
        results[name] = (predictions(folder / "umls.duckdb"), history(folder / "model"),
                         (folder / "model" / "export" / "nervous_system.graphml").read_bytes())
    kills = results["kills"]
    assert same_predictions(results["killed"][0], results["straight"][0]), f"kills at {kills}"
    assert results["killed"][1] == results["straight"][1], f"kills at {kills}"
    assert len(results["killed"][2]) > 0
