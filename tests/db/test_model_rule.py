"""One rule for which model's predictions count, and whose labels, in every reader.

`prediction_store.resolve_model` picks one model per query (the most recent; a tie goes to
the first by name) and `annotation_store.choose_annotators` picks whose labels count. The
query export, the whole-store export (`export --all`), the corpus export and the review page
must all follow them: one model per query, never a per-item mix of models or annotators.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.subontology_data import QUERY, subtree, write_predictions
from umlsgraph.corpus.catalog import export_corpus
from umlsgraph.corpus.loader import load_corpus
from umlsgraph.corpus.options import CorpusOptions
from umlsgraph.db import annotation_store, prediction_store
from umlsgraph.db.annotation_store import Annotation
from umlsgraph.errors import AnnotationError, StoreError
from umlsgraph.export.subontology import NODES, build, build_all
from umlsgraph.query import load_query
from umlsgraph.report.review import build_review, review_rows
from umlsgraph.selection import SelectionOptions, select
from umlsgraph.settings import RunSettings
from umlsgraph.workflows.run import step_export

runner = CliRunner()
SAME_TIME = "2025-03-04 05:06:07"


def _two_models_tied(db: Path) -> str:
    """Two models label every concept at the same moment, with different positives; the
    second written sorts first by name, so "the last row written" and the rule disagree."""
    write_predictions(db, {c: 0.9 for c in subtree(2)}, model="models/b", created=SAME_TIME)
    write_predictions(db, {c: 0.9 for c in subtree(1)}, model="models/a", created=SAME_TIME)
    con = duckdb.connect(str(db), read_only=True)
    try:
        chosen = prediction_store.resolve_model(con, QUERY, "concepts", None)
    finally:
        con.close()
    assert chosen == "models/a"
    return chosen


def _positives_by(db: Path, model: str) -> set[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {r[0] for r in con.execute(
            f"SELECT id FROM ({prediction_store.labels_sql(QUERY, 'concepts', model)}) "
            "WHERE label = 'yes'").fetchall()}
    finally:
        con.close()


def test_export_all_takes_the_model_resolve_model_picks(loaded_db: Path) -> None:
    chosen = _two_models_tied(loaded_db)
    con = duckdb.connect(str(loaded_db))
    try:
        build(con, load_query(QUERY))
        selected = {r[0] for r in con.execute(f"SELECT cui FROM {NODES}").fetchall()}
        sub = build_all(con)
        labelled = {r[0] for r in con.execute(
            f"SELECT cui FROM {NODES} WHERE {QUERY}_label = 'yes'").fetchall()}
    finally:
        con.close()
    assert labelled == selected == _positives_by(loaded_db, chosen) == subtree(1)
    assert sub.summary["queries"] == [QUERY] and sub.modified == "2025-03-04"
    refused = runner.invoke(app, ["export", "--all", "--db", str(loaded_db), "-f", "csv",
                                  "-o", str(loaded_db.parent / "all"), "--model", chosen])
    assert refused.exit_code == 1 and "--all takes each query's most recent model" in \
        refused.output


def _notes(db: Path, tmp_path: Path) -> None:
    """A corpus of six texts: an older model ("old") labelled all, a newer one ("new") two."""
    texts = tmp_path / "t.csv"
    texts.write_text("id,text\n" + "".join(f"t{i},text number {i}\n" for i in range(6)))
    load_corpus(db, "notes", texts, CorpusOptions())
    con = duckdb.connect(str(db))
    prediction_store.ensure_table(con)
    rows = [("imdb_sentiment", "corpus:notes", f"t{i}", "negative", 0.2, "old", "2025-01-01")
            for i in range(6)]
    rows += [("imdb_sentiment", "corpus:notes", f"t{i}", "positive", 0.9, "new", "2025-02-01")
             for i in (1, 3)]
    con.executemany("INSERT INTO predictions (query, source, id, label, probability, model, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    con.close()


def _read(path: Path) -> dict[str, tuple]:
    found = duckdb.sql(f"SELECT id, label, model FROM '{path}'")
    return {str(r[0]): r[1:] for r in found.fetchall()}


def test_corpus_export_never_mixes_models(loaded_db: Path, tmp_path: Path) -> None:
    """The export shows the newer model's two labels and nothing else (it used to fill the
    rest from the older model)."""
    _notes(loaded_db, tmp_path)

    def exported(**options: str) -> dict[str, tuple]:
        out = tmp_path / "out.parquet"
        assert export_corpus(loaded_db, "notes", out, **options) == 6
        return _read(out)

    latest = exported()
    assert {i: v for i, v in latest.items() if v != (None, None)} == {
        "t1": ("positive", "new"), "t3": ("positive", "new")}
    assert set(exported(model="old").values()) == {("negative", "old")}
    with pytest.raises(StoreError, match="no predictions by model 'gone'.*known models: new, old"):
        exported(query="imdb_sentiment", model="gone")


def _review_store(db: Path) -> list[str]:
    """Predictions of two models and labels of two annotators for the same concepts."""
    _two_models_tied(db)
    con = duckdb.connect(str(db))
    ids = sorted(subtree(1))[:6]
    annotation_store.write(con, QUERY, "concepts", "llm:a", "h",
                           [Annotation(i, "yes", "yes") for i in ids])
    annotation_store.write(con, QUERY, "concepts", "human:b", "imported",
                           [Annotation(i, "no", "no") for i in ids[:2]])
    con.close()
    return ids


def test_review_follows_both_rules(loaded_db: Path, tmp_path: Path) -> None:
    """Several annotators without --annotator is the error train/eval/export give (the page
    used to show whichever answer came last); with a priority list the first one wins."""
    ids = _review_store(loaded_db)
    with pytest.raises(AnnotationError, match="several annotators.*--annotator"):
        build_review(loaded_db, QUERY, tmp_path / "r.html")
    refused = runner.invoke(app, ["review", QUERY, "--db", str(loaded_db), "--out",
                                  str(tmp_path / "r.html")])
    assert refused.exit_code == 1 and "several annotators" in refused.output
    result = build_review(loaded_db, QUERY, tmp_path / "r.html", annotator="human:b,llm:a")
    assert result.model == "models/a"
    con = duckdb.connect(str(loaded_db), read_only=True)
    try:
        chosen = select(con, load_query(QUERY), SelectionOptions(model=result.model,
                                                                 closure="none"))
        rows = review_rows(con, load_query(QUERY), result.model, 0.2, ["human:b", "llm:a"],
                           selected=chosen.selected_sql)
    finally:
        con.close()
    shown = {r[0]: (r[5], r[6]) for r in rows if r[0] in ids}
    assert shown == {**{i: ("no", "human:b") for i in ids[:2]},
                     **{i: ("yes", "llm:a") for i in ids[2:]}}
    assert {r[0] for r in rows if r[4]} == _positives_by(loaded_db, "models/a")


def test_run_exports_the_predictions_of_its_own_model(loaded_db: Path, tmp_path: Path) -> None:
    """`run --corpus` exports what ITS model predicted, as `run` on concepts does, even when
    another model labelled more recently. (The model folder is its metadata only: the
    export step reads nothing else.)"""
    _notes(loaded_db, tmp_path)
    model = tmp_path / "model"
    model.mkdir()
    (model / "umlsgraph.json").write_text(json.dumps({"complete": True, "model_id": "old"}))
    settings = RunSettings(query="imdb_sentiment", db=loaded_db, corpus="notes", out=model)
    step_export(settings)
    assert set(_read(settings.exports / "notes.parquet").values()) == {("negative", "old")}
