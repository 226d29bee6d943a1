"""Evaluation: metrics against a hand-computed confusion, gold files, gold columns, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph.corpus.loader import load_corpus
from umlsgraph.corpus.options import CorpusOptions
from umlsgraph.db import annotation_store
from umlsgraph.db.annotation_store import Annotation
from umlsgraph.db.items import ConceptSource, CorpusSource
from umlsgraph.db.prediction_store import ensure_table
from umlsgraph.errors import AnnotationError, InputFileError
from umlsgraph.evaluate.evaluation import evaluate, evaluate_rows, read_gold
from umlsgraph.query import load_query

QUERY = load_query("nervous_system")
# gold, predicted for ten concepts: TP=3, FN=1, FP=2, TN=4.
PAIRS = [("yes", "yes")] * 3 + [("yes", "no")] + [("no", "yes")] * 2 + [("no", "no")] * 4


def test_metrics_match_a_hand_computed_confusion() -> None:
    m = evaluate_rows(PAIRS, ["yes", "no"], "yes")
    assert m["n"] == 10
    assert m["accuracy"] == pytest.approx(0.7)
    assert m["precision"] == pytest.approx(3 / 5)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    f1_no = 2 * (4 / 5) * (4 / 6) / (4 / 5 + 4 / 6)
    assert m["f1_macro"] == pytest.approx((m["f1"] + f1_no) / 2)
    assert m["confusion"] == {"yes": {"yes": 3, "no": 1}, "no": {"yes": 2, "no": 4}}


def test_no_positive_predictions_give_zero_not_a_crash() -> None:
    m = evaluate_rows([("yes", "no"), ("no", "no")], ["yes", "no"], "yes")
    assert (m["precision"], m["recall"], m["f1"], m["accuracy"]) == (0.0, 0.0, 0.0, 0.5)
    assert evaluate_rows([], ["yes", "no"], "yes")["n"] == 0


def _concepts(db: Path) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT cui FROM concepts ORDER BY cui").fetchall()]
    finally:
        con.close()


def _predict(db: Path, rows: list[tuple[str, str]], model: str = "m1") -> None:
    con = duckdb.connect(str(db))
    try:
        ensure_table(con)
        con.executemany("INSERT INTO predictions (query, source, id, label, probability, model) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        [(QUERY.name, "concepts", i, lab, 0.9 if lab == "yes" else 0.1, model)
                         for i, lab in rows])
    finally:
        con.close()


@pytest.fixture
def scored_db(loaded_db: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Ten predicted concepts (PAIRS) plus a gold file with two extra unpredicted ids."""
    ids = _concepts(loaded_db)[:12]
    _predict(loaded_db, [(i, p) for i, (_, p) in zip(ids, PAIRS, strict=False)])
    gold = tmp_path / "gold.csv"
    spelled = {"yes": "Yes", "no": "0"}  # answer words and 1/0 are accepted
    lines = ["id,label"] + [f"{i},{spelled[g]}" for i, (g, _) in zip(ids, PAIRS, strict=False)]
    lines += [f"{ids[10]},yes", f"{ids[11]},no"]
    gold.write_text("\n".join(lines) + "\n")
    return loaded_db, gold


def test_evaluate_predictions_against_a_gold_csv(scored_db: tuple[Path, Path]) -> None:
    db, gold = scored_db
    m = evaluate(db, QUERY, ConceptSource(), gold)
    assert (m["n"], m["n_gold"], m["n_missing"], m["model"]) == (10, 12, 2, "m1")
    assert m["f1"] == pytest.approx(evaluate_rows(PAIRS, ["yes", "no"], "yes")["f1"])


def test_gold_jsonl_and_the_latest_model_by_default(scored_db: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    db, gold_csv = scored_db
    ids = _concepts(db)[:10]
    _predict(db, [(i, "yes") for i in ids], model="m2")  # newer: everything positive
    jsonl = tmp_path / "gold.jsonl"
    jsonl.write_text("\n".join(json.dumps({"id": i, "label": g})
                               for i, (g, _) in zip(ids, PAIRS, strict=True)))
    latest = evaluate(db, QUERY, ConceptSource(), jsonl)
    assert latest["model"] == "m2" and latest["recall"] == 1.0 and latest["precision"] == 0.4
    assert evaluate(db, QUERY, ConceptSource(), jsonl, model="m1")["accuracy"] == 0.7


def test_evaluate_annotations(loaded_db: Path, tmp_path: Path) -> None:
    ids = _concepts(loaded_db)[:10]
    con = duckdb.connect(str(loaded_db))
    annotation_store.write(con, QUERY.name, "concepts", "llm", "h",
                      [Annotation(i, p, p) for i, (_, p) in zip(ids, PAIRS, strict=True)])
    con.close()
    gold = tmp_path / "gold.csv"
    gold.write_text("id,label\n" + "".join(f"{i},{g}\n" for i, (g, _) in
                                           zip(ids, PAIRS, strict=True)))
    m = evaluate(loaded_db, QUERY, ConceptSource(), gold, what="annotations", annotator="llm")
    assert (m["n"], m["accuracy"], m["annotator"]) == (10, 0.7, "llm")
    with pytest.raises(AnnotationError, match="no labels by it"):
        evaluate(loaded_db, QUERY, ConceptSource(), gold, what="annotations", annotator="x")


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such labels file"),
    ("key;answer\nC1;yes\n", "no id column"),
    ("id,label\nC0000001,maybe\n", "line 2: label 'maybe' is not one of"),
    ("id,label\nC1,yes\nC1,no\n", "line 3: id 'C1' has two different labels"),
    ("id,label\n", "no usable labels"),
])
def test_bad_gold_files_are_one_line_errors(tmp_path: Path, content: str | None,
                                            message: str) -> None:
    path = tmp_path / "gold.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputFileError, match=message) as info:
        read_gold(path, QUERY)
    assert "\n" not in str(info.value)


def test_bad_jsonl_gold(tmp_path: Path) -> None:
    path = tmp_path / "gold.jsonl"
    path.write_text('{"id": "C1", "label": "yes"}\n{oops\n')
    with pytest.raises(InputFileError, match="line 2: not a JSON object"):
        read_gold(path, QUERY)


def test_gold_column_of_a_corpus(loaded_db: Path, tmp_path: Path) -> None:
    data = tmp_path / "reviews.csv"
    data.write_text("doc,text,stars\nr1,great,positive\nr2,awful,negative\n"
                    "r3,fine,positive\nr4,bad,negative\n")
    load_corpus(loaded_db, "rt", data, CorpusOptions(id_column="doc", label_column="stars"))
    query, source = load_query("imdb_sentiment"), CorpusSource("rt")
    con = duckdb.connect(str(loaded_db))
    ensure_table(con)
    con.executemany("INSERT INTO predictions (query, source, id, label, probability, model) "
                    "VALUES (?, 'corpus:rt', ?, ?, 0.5, 'm')",
                    [(query.name, "r1", "positive"), (query.name, "r2", "positive"),
                     (query.name, "r3", "positive")])
    con.close()
    m = evaluate(loaded_db, query, source, gold_column="gold")
    assert (m["n"], m["n_missing"], m["precision"], m["recall"]) == (3, 1, 2 / 3, 1.0)
    with pytest.raises(InputFileError, match="needs --corpus"):
        evaluate(loaded_db, QUERY, ConceptSource(), gold_column="gold")


def test_cli_eval_json_and_errors(scored_db: tuple[Path, Path], tmp_path: Path) -> None:
    db, gold = scored_db
    runner = CliRunner()
    result = runner.invoke(app, ["eval", "nervous_system", "--db", str(db), "--gold", str(gold),
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"accuracy", "precision", "recall", "f1", "n"} <= set(data)
    assert data["n"] == 10 and data["accuracy"] == pytest.approx(0.7)
    table = runner.invoke(app, ["eval", "nervous_system", "--db", str(db), "--gold", str(gold)])
    assert table.exit_code == 0 and "f1_macro" in table.stdout and "confusion" in table.stdout
    bad = runner.invoke(app, ["eval", "nervous_system", "--db", str(db), "--gold",
                              str(tmp_path / "missing.csv")])
    assert bad.exit_code == 1
    assert "no such labels file" in bad.output and "Traceback" not in bad.output
    no_preds = runner.invoke(app, ["eval", "anatomy", "--db", str(db), "--gold", str(gold)])
    assert no_preds.exit_code == 1 and "run `umlsgraph label" in no_preds.output
