"""Labelling every concept with a model trained through the CLI; resume after kill -9."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.training_data import annotate, killed_after_first, word_gold
from umlsgraph.db.items import ConceptSource
from umlsgraph.errors import ModelError
from umlsgraph.label.labeller import label
from umlsgraph.model_folder import META_FILE
from umlsgraph.query import load_query

QUERY = load_query("nervous_system")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(_loaded_template: Path, minilm_path: Path,
            tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(store with 200 labelled concepts, model folder trained by `umlsgraph train`, gold CSV
    of the 100 concepts the model never saw)."""
    folder = tmp_path_factory.mktemp("labeling")
    db = folder / "umls.duckdb"
    shutil.copy(_loaded_template, db)
    gold = word_gold(db)
    annotate(db, QUERY, dict(list(gold.items())[:200]))
    gold_csv = folder / "held_out.csv"
    gold_csv.write_text("id,label\n" + "".join(f"{i},{g}\n" for i, g in
                                               list(gold.items())[200:]))
    model = folder / "model"
    result = CliRunner().invoke(app, [
        "train", "nervous_system", "--db", str(db), "--base-model", str(minilm_path),
        "--out", str(model), "--epochs", "3", "--min-steps", "0", "--max-length", "24",
        "--seed", "5", "--text", "none", "--class-weighting", "balanced"])
    # (36 steps on a word rule over random synthetic names: the names alone, minority
    # weighted, as this fixture was tuned; the defaults are measured by bench/quality.py)
    assert result.exit_code == 0, result.output
    assert "trained on 180 items (20 validation)" in " ".join(result.output.split())
    return db, model, gold_csv


@pytest.fixture
def store(trained: tuple[Path, Path, Path], tmp_path: Path) -> Path:
    db = tmp_path / "umls.duckdb"
    shutil.copy(trained[0], db)
    return db


def _predictions(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT id, label, probability, model, created_at FROM predictions "
                           "ORDER BY id").fetchall()
    finally:
        con.close()


def test_label_all_then_eval_beats_chance(trained: tuple[Path, Path, Path], store: Path) -> None:
    _, model, gold_csv = trained
    runner = CliRunner()
    result = runner.invoke(app, ["label", "nervous_system", "--db", str(store), "--model",
                                 str(model), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["labelled"], summary["already"], summary["candidates"]) == (300, 0, 300)
    rows = _predictions(store)
    assert len(rows) == 300 and len({r[0] for r in rows}) == 300
    assert all(0.0 <= p <= 1.0 and (lab == "yes") == (p >= 0.5) for _, lab, p, _, _ in rows)
    assert {r[3] for r in rows} == {summary["model"]}

    scored = runner.invoke(app, ["eval", "nervous_system", "--db", str(store), "--gold",
                                 str(gold_csv), "--model", str(model), "--json"])
    assert scored.exit_code == 0, scored.output
    metrics = json.loads(scored.stdout)
    assert metrics["n"] == 100 and metrics["n_missing"] == 0
    # about a third of the concepts are positive: chance F1 is about 0.35
    assert metrics["f1"] > 0.7 and metrics["accuracy"] > 0.8, metrics


def test_label_resumes_after_kill_without_redoing(trained: tuple[Path, Path, Path],
                                                  store: Path) -> None:
    _, model, _ = trained
    killed_after_first("label", db=store, query=QUERY.name, model=model, chunk_size=64)
    first = _predictions(store)
    assert len(first) == 64

    chunks: list[int] = []
    result = label(store, QUERY, ConceptSource(), model, chunk_size=100, progress=False,
                   on_chunk=chunks.append)
    assert (result.already, result.labelled, result.candidates) == (64, 236, 300)
    assert chunks == [100, 200, 236]
    after = {r[0]: r for r in _predictions(store)}
    assert len(after) == 300
    assert all(after[r[0]][4] == r[4] for r in first)  # the first chunk was not redone
    again = label(store, QUERY, ConceptSource(), model, progress=False)
    assert (again.labelled, again.already) == (0, 300)
    assert again.positives == sum(1 for r in after.values() if r[1] == "yes")


def test_model_folder_errors(trained: tuple[Path, Path, Path], store: Path,
                             tmp_path: Path) -> None:
    _, model, _ = trained
    with pytest.raises(ModelError, match="no such model folder"):
        label(store, QUERY, ConceptSource(), tmp_path / "missing", progress=False)
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(ModelError, match="not a umlsgraph model folder"):
        label(store, QUERY, ConceptSource(), bare, progress=False)
    unfinished = tmp_path / "unfinished"
    shutil.copytree(model, unfinished)
    meta = json.loads((unfinished / META_FILE).read_text())
    (unfinished / META_FILE).write_text(json.dumps({**meta, "complete": False}))
    with pytest.raises(ModelError, match="training has not finished"):
        label(store, QUERY, ConceptSource(), unfinished, progress=False)
    with pytest.raises(ModelError, match="trained for categories"):
        label(store, load_query("imdb_sentiment"), ConceptSource(), model, progress=False)
    result = CliRunner().invoke(app, ["label", "nervous_system", "--db", str(store), "--model",
                                      str(tmp_path / "missing")])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_a_model_trained_for_another_query_is_refused_unless_forced(
        trained: tuple[Path, Path, Path], store: Path) -> None:
    """`anatomy` has the same categories as `nervous_system`, so only the query name tells
    that the model answers another question."""
    _, model, _ = trained
    runner = CliRunner()
    refused = runner.invoke(app, ["label", "anatomy", "--db", str(store), "--model", str(model)])
    assert refused.exit_code == 1 and "trained for query 'nervous_system'" in refused.output
    con = duckdb.connect(str(store), read_only=True)
    try:  # nothing was labelled
        assert not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = "
                               "'predictions'").fetchall()[0][0]
    finally:
        con.close()
    forced = runner.invoke(app, ["label", "anatomy", "--db", str(store), "--model", str(model),
                                 "--force", "--json"])
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)["labelled"] > 0
