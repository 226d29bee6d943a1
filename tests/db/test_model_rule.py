"""One rule for which model's predictions count, and whose labels, in every reader.

`prediction_store.resolve_model` picks one model per query (the most recent; a tie goes to
the first by name) and `annotation_store.choose_annotators` picks whose labels count. The
query export, the whole-store export (`export --all`), the corpus export and the review page
must all follow them: one model per query, never a per-item mix of models or annotators.
"""

from __future__ import annotations

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
from umlsgraph.export.selection import NODES, build, build_all
from umlsgraph.query import load_query
from umlsgraph.report.review import build_review, review_rows

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


def test_corpus_export_never_mixes_models(loaded_db: Path, tmp_path: Path) -> None:
    """An older model labelled every text, a newer one only two: the export shows the newer
    model's two labels and nothing else (it used to fill the rest from the older model)."""
    texts = tmp_path / "t.csv"
    texts.write_text("id,text\n" + "".join(f"t{i},text number {i}\n" for i in range(6)))
    load_corpus(loaded_db, "notes", texts, CorpusOptions())
    con = duckdb.connect(str(loaded_db))
    prediction_store.ensure_table(con)
    rows = [("imdb_sentiment", "corpus:notes", f"t{i}", "negative", 0.2, "old", "2025-01-01")
            for i in range(6)]
    rows += [("imdb_sentiment", "corpus:notes", f"t{i}", "positive", 0.9, "new", "2025-02-01")
             for i in (1, 3)]
    con.executemany("INSERT INTO predictions (query, source, id, label, probability, model, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    con.close()

    def exported(**options: str) -> dict[str, tuple]:
        out = tmp_path / "out.csv"
        assert export_corpus(loaded_db, "notes", out, **options) == 6
        found = duckdb.sql(f"SELECT id, label, model FROM read_csv('{out}', all_varchar=true)")
        return {r[0]: r[1:] for r in found.fetchall()}

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
        rows = review_rows(con, load_query(QUERY), result.model, 0.2, ["human:b", "llm:a"])
    finally:
        con.close()
    shown = {r[0]: (r[5], r[6]) for r in rows if r[0] in ids}
    assert shown == {**{i: ("no", "human:b") for i in ids[:2]},
                     **{i: ("yes", "llm:a") for i in ids[2:]}}
    assert {r[0] for r in rows if r[4]} == _positives_by(loaded_db, "models/a")
