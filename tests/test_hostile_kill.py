"""kill -9 in the middle of `train`, `label` and `run`, then the same command again: the result
equals an uninterrupted run's.

Each test first times an uninterrupted run, then kills the same command with SIGKILL at
seeded random moments within that time, and finally lets it finish. A kill counts only when
it landed mid-work, as the files it left prove: a training checkpoint, or some but not all
predictions, and the work not finished. A kill that came too early (nothing stored yet) is
retried later; one too late (the command finished first) is retried earlier, from a fresh
start when no kill has landed yet. The kill times and what each left are printed in a
failure message so a failure can be replayed.
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
from collections.abc import Callable
from pathlib import Path

import duckdb
import networkx as nx
import pytest

from tests.training_data import annotate, word_gold
from umlsgraph.query import load_query

pytestmark = pytest.mark.slow
QUERY = load_query("nervous_system")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
       "TOKENIZERS_PARALLELISM": "false", "OMP_WAIT_POLICY": "PASSIVE"}
KILLS = 3
#: Kills tried at most per test (early, late and landed together).
MAX_TRIES = 10


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


def killed_mid_work(args: list[str], seconds: float, seed: int, stage: Callable[[], str],
                    reset: Callable[[], None]) -> list[tuple[float, str]]:
    """Kill `args` until KILLS kills landed mid-work (or the work finished after one did),
    then let it finish; return each kill's moment and what it left.

    `stage()` reads what the killed command left: "none" (nothing stored yet: too early),
    "partial" (a checkpoint or some predictions, not finished: mid-work) or "done" (too
    late). Moments are seeded random between the latest too-early and the earliest too-late
    one, so they narrow onto the window in which work is stored; a command that finished
    before any kill landed is started over with `reset()`.
    """
    rng = random.Random(seed)
    low, high = 0.3, seconds
    kills: list[tuple[float, str]] = []
    for _ in range(MAX_TRIES):
        moment = round(rng.uniform(low, high), 2)
        code, err = cli(args, kill_after=moment)
        assert code in (None, 0), f"kills at {kills + [(moment, 'failed')]}: {err[-3000:]}"
        left = "done" if code == 0 else stage()
        kills.append((moment, left))
        landed = sum(1 for _, what in kills if what == "partial")
        if left == "none":
            low = moment
        elif left == "done":
            high = moment
            if landed:
                break  # resumed from a mid-work kill, then finished: what we came to test
            reset()
            kills.append((moment, "reset"))
        elif landed == KILLS:
            break
    assert any(what == "partial" for _, what in kills), f"no kill landed mid-work: {kills}"
    code, err = cli(args)
    assert code == 0, f"after kills at {kills}: {err[-3000:]}"
    print(f"{args[0]}: kills (seconds, what each left): {kills}")  # shown with -s or -rP
    return kills


def fresh_copy(template: Path, db: Path) -> None:
    """`db` as a copy of `template`, without the write-ahead log a kill may have left."""
    Path(f"{db}.wal").unlink(missing_ok=True)
    shutil.copy(template, db)


def count_predictions(db: Path) -> int:
    """Predictions stored in `db` so far (0 when the table is not there yet)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        found = con.execute("SELECT count(*) FROM information_schema.tables "
                            "WHERE table_name = 'predictions'").fetchall()[0][0]
        return con.execute("SELECT count(*) FROM predictions").fetchall()[0][0] if found else 0
    finally:
        con.close()


def finished_model(model: Path) -> bool:
    meta = model / "umlsgraph.json"
    return meta.is_file() and bool(json.loads(meta.read_text()).get("complete"))


def training_stage(model: Path) -> str:
    """What a killed `train` left: a finished model, a checkpoint, or nothing yet."""
    if finished_model(model):
        return "done"
    return "partial" if (model / "checkpoint.pt").is_file() else "none"


def labelling_stage(db: Path, total: int) -> str:
    """What a killed `label` left: all predictions, some, or none yet."""
    stored = count_predictions(db)
    return "done" if stored >= total else "partial" if stored else "none"


def run_stage(folder: Path, total: int) -> str:
    """What a killed `run` left: the export, or a checkpoint / a model / some predictions
    (training or labelling under way), or nothing of training yet (annotating)."""
    if (folder / "model" / "export" / "nervous_system.graphml").is_file():
        return "done"
    if count_predictions(folder / "umls.duckdb") >= total:
        return "partial"  # labelled, the export still to write
    model = folder / "model"
    started = (model / "checkpoint.pt").is_file() or finished_model(model)
    return "partial" if started or count_predictions(folder / "umls.duckdb") else "none"


def graph(path: Path) -> tuple[dict[str, dict], set[tuple[str, str, tuple]]]:
    """An exported GraphML file as (node -> attributes, edges with attributes), each
    probability rounded as predictions are compared."""
    g = nx.read_graphml(path)

    def rounded(attrs: dict) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in attrs.items()}

    nodes = {n: rounded(a) for n, a in g.nodes(data=True)}
    edges = {(u, v, tuple(sorted(rounded(a).items()))) for u, v, a in g.edges(data=True)}
    return nodes, edges


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


def test_train_killed_mid_work_matches_an_uninterrupted_run(
        labelled: Path, straight_model: tuple[Path, float], minilm_path: Path,
        tmp_path: Path) -> None:
    straight, seconds = straight_model
    out = tmp_path / "model"
    kills = killed_mid_work(train_args(labelled, out, minilm_path), seconds, 11,
                            lambda: training_stage(out), lambda: shutil.rmtree(out))
    assert history(out) == history(straight), f"kills at {kills}"
    assert not (out / "checkpoint.pt").exists()


def test_label_killed_mid_work_matches_an_uninterrupted_run(
        labelled: Path, straight_model: tuple[Path, float], tmp_path: Path) -> None:
    model, _ = straight_model
    dbs = {}
    for name in ("straight", "killed"):
        dbs[name] = tmp_path / f"{name}.duckdb"
        shutil.copy(labelled, dbs[name])
    args = ["label", "nervous_system", "--model", str(model), "--chunk-size", "32",
            "--batch-size", "16"]
    seconds = timed([*args, "--db", str(dbs["straight"])])
    assert len(predictions(dbs["straight"])) == 300
    kills = killed_mid_work([*args, "--db", str(dbs["killed"])], seconds, 12,
                            lambda: labelling_stage(dbs["killed"], 300),
                            lambda: fresh_copy(labelled, dbs["killed"]))
    assert same_predictions(predictions(dbs["killed"]), predictions(dbs["straight"])), \
        f"kills at {kills}"


def test_run_killed_mid_work_exports_what_an_uninterrupted_run_exports(
        _loaded_template: Path, minilm_path: Path, tmp_path: Path) -> None:
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    for folder in (straight, killed):
        fresh_project(folder, _loaded_template, minilm_path)
    seconds = timed(["run", "--project", str(straight / "project.toml")])
    kills = killed_mid_work(["run", "--project", str(killed / "project.toml")], seconds, 13,
                            lambda: run_stage(killed, 300),
                            lambda: fresh_project(killed, _loaded_template, minilm_path))
    assert len(predictions(straight / "umls.duckdb")) == 300
    assert same_predictions(predictions(killed / "umls.duckdb"),
                            predictions(straight / "umls.duckdb")), f"kills at {kills}"
    assert history(killed / "model") == history(straight / "model"), f"kills at {kills}"
    nodes, edges = graph(straight / "model" / "export" / "nervous_system.graphml")
    positives = sum(label == "yes" for label, _ in predictions(straight / "umls.duckdb").values())
    assert nodes and edges, f"the straight run exported nothing ({positives} positives)"
    assert graph(killed / "model" / "export" / "nervous_system.graphml") == (nodes, edges), \
        f"kills at {kills}"


def fresh_project(folder: Path, template: Path, minilm: Path) -> None:
    """`folder` as a new project: the loaded store, every concept's word-rule label as the
    labels file (so the model finds positives and the export has nodes and edges), a project
    file, no model yet. Two epochs, so that training checkpoints (after the first) before it
    finishes."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    shutil.copy(template, folder / "umls.duckdb")
    labels = word_gold(template)
    (folder / "labels.csv").write_text(
        "id,label\n" + "".join(f"{cui},{label}\n" for cui, label in labels.items()))
    (folder / "project.toml").write_text(
        f'[run]\nquery = "nervous_system"\ndb = "umls.duckdb"\nlabels-file = "labels.csv"\n'
        f'base-model = "{minilm}"\nout = "model"\nepochs = 2\nmin-steps = 0\n'
        'max-length = 24\nformats = ["graphml"]\n')
