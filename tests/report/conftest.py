"""The report tests' store: the synthetic release with annotations (2 annotators, 5
unparseable answers) and predictions written directly (as `annotate` and `label` store them),
and a model folder whose `umlsgraph.json` has the exact layout `umlsgraph.train.trainer`
writes (copied from a real MiniLM run: a real training run takes a minute on a loaded 2-core
machine, too long for these files' budget)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import networkx as nx
import pytest

from umlsgraph.db import annotation_store
from umlsgraph.query import load_query

QUERY = load_query("nervous_system")
MODEL_ID = "tiny-minilm-0a1b2c3d"
FAILED_RAW = "I <b>cannot</b> tell & won't"


def model_meta(model_id: str = MODEL_ID) -> dict:
    """A umlsgraph.json as `umlsgraph.train.trainer` writes it (the keys the report reads)."""
    def record(epoch: int, loss: float, f1: float, tp: int) -> dict:
        return {"epoch": epoch, "step": 6 * epoch, "lr": 1e-5, "loss": loss, "accuracy": 0.8,
                "precision": 0.7, "recall": 0.75, "f1": f1, "f1_macro": 0.7, "n": 20,
                "confusion": {"yes": {"yes": tp, "no": 4 - tp}, "no": {"yes": 2, "no": 14}}}
    history = [record(1, 0.69, 0.40, 2), record(2, 0.55, 0.72, 3), record(3, 0.58, 0.70, 3)]
    return {"complete": True, "model_id": model_id, "query": QUERY.name, "source": "concepts",
            "categories": QUERY.categories, "positive": QUERY.positive,
            "base_model": "all-MiniLM-L6-v2", "history": history,
            "run": {"n_train": 80, "n_val": 20, "epochs": 3, "steps": 18, "best_epoch": 2,
                    "best": history[1], "seconds": 12.5, "resumed": False, "device": "cpu"}}


def positive_subtree(con: duckdb.DuckDBPyConnection) -> set[str]:
    """A connected set to predict positive: the largest subtree of the synthetic hierarchy
    (by the one hierarchy rule, so the export's descendant closure adds nothing to it)."""
    from umlsgraph.db.hierarchy import edges_sql

    tree = nx.DiGraph(con.execute(f"SELECT parent, child FROM ({edges_sql()})").fetchall())
    top = sorted(tree, key=lambda n: (-len(nx.descendants(tree, n)), n))[1]
    return {top} | nx.descendants(tree, top)


@pytest.fixture(scope="module")
def _pipeline_template(_loaded_template: Path,
                       tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The loaded store with annotations (2 annotators, 5 unparseable) and predictions."""
    db = tmp_path_factory.mktemp("report") / "pipeline.duckdb"
    shutil.copy(_loaded_template, db)
    con = duckdb.connect(str(db))
    ids = [r[0] for r in con.execute("SELECT cui FROM concepts ORDER BY cui").fetchall()]
    first = [annotation_store.Annotation(i, "yes" if k % 4 == 0 else "no", "yes or no")
             for k, i in enumerate(ids[:95])]
    first += [annotation_store.Annotation(i, None, FAILED_RAW) for i in ids[95:100]]
    annotation_store.write(con, QUERY.name, "concepts", "hf:smollm", QUERY.prompt_hash(), first)
    second = [annotation_store.Annotation(i, "yes" if k % 3 == 0 else "no", "x", 0.9)
              for k, i in enumerate(ids[:60])]
    annotation_store.write(con, QUERY.name, "concepts", "embed:minilm", QUERY.prompt_hash(), second)
    positive = positive_subtree(con)
    con.execute("""CREATE TABLE predictions (query VARCHAR, source VARCHAR, id VARCHAR,
        label VARCHAR, probability DOUBLE, model VARCHAR, created_at TIMESTAMP DEFAULT
        current_timestamp, PRIMARY KEY (query, source, id, model))""")
    rows = []
    for k, cui in enumerate(ids):
        p = 0.55 + 0.44 * (k % 7) / 6 if cui in positive else 0.45 * (k % 11) / 10
        rows.append((QUERY.name, "concepts", cui, "yes" if p >= 0.5 else "no", p, MODEL_ID))
    con.executemany("INSERT INTO predictions (query, source, id, label, probability, model) "
                    "VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.close()
    return db, len(positive)


@pytest.fixture
def pipeline_db(_pipeline_template: tuple[Path, int], tmp_path: Path) -> tuple[Path, int]:
    """A fresh copy of the pipeline store per test."""
    db = tmp_path / "pipeline.duckdb"
    shutil.copy(_pipeline_template[0], db)
    return db, _pipeline_template[1]


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "umlsgraph.json").write_text(json.dumps(model_meta()), encoding="utf-8")
    return folder
