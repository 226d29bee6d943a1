"""One rule for whose labels count, the same through train, eval and export.

Two annotators label the same concepts differently. With no --annotator every step refuses
(never a silent mix); with one, every step uses exactly its labels; with "a,b" the first
wins where both answered.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph.db import annotation_store
from umlsgraph.db.annotation_store import Annotation, choose_annotators, labels_sql
from umlsgraph.errors import AnnotationError

runner = CliRunner()
QUERY = "nervous_system"


def _two_annotators(db: Path) -> list[str]:
    con = duckdb.connect(str(db))
    ids = [r[0] for r in con.execute("SELECT cui FROM concepts ORDER BY cui LIMIT 40").fetchall()]
    answers = [Annotation(i, "yes" if k < 20 else "no", "x") for k, i in enumerate(ids)]
    annotation_store.write(con, QUERY, "concepts", "llm:a", "h", answers)
    annotation_store.write(con, QUERY, "concepts", "human:b", "imported",
                           [Annotation(i, "no", "x") for i in ids[:10]])
    con.close()
    return ids


def _labels(db: Path, annotator: str | None) -> dict[str, str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        chosen = choose_annotators(con, QUERY, "concepts", annotator)
        return dict(con.execute(labels_sql(QUERY, "concepts", chosen)).fetchall())
    finally:
        con.close()


def test_the_rule(loaded_db: Path) -> None:
    ids = _two_annotators(loaded_db)
    with pytest.raises(AnnotationError, match="several annotators.*--annotator"):
        _labels(loaded_db, None)
    with pytest.raises(AnnotationError, match="no labels by it.*known: llm:a, human:b"):
        _labels(loaded_db, "gpt")
    only_a = _labels(loaded_db, "llm:a")
    assert sum(v == "yes" for v in only_a.values()) == 20 and len(only_a) == 40
    assert _labels(loaded_db, "human:b") == {i: "no" for i in ids[:10]}
    both = _labels(loaded_db, "human:b,llm:a")
    assert len(both) == 40 and sum(v == "yes" for v in both.values()) == 10


def _cli(*args: str) -> object:
    return runner.invoke(app, list(args))


def test_eval_and_export_follow_the_rule(loaded_db: Path, tmp_path: Path) -> None:
    ids = _two_annotators(loaded_db)
    gold = tmp_path / "gold.csv"
    gold.write_text("id,label\n" + "".join(f"{i},yes\n" for i in ids))
    db = str(loaded_db)
    refused = _cli("eval", QUERY, "--db", db, "--gold", str(gold), "--source", "annotations")
    assert refused.exit_code == 1 and "several annotators" in refused.output
    out = tmp_path / "sel"
    refused = _cli("export", QUERY, "--db", db, "-f", "csv", "-o", str(out),
                   "--source", "annotations")
    assert refused.exit_code == 1 and "several annotators" in refused.output
    for annotator, positives in (("llm:a", 20), ("human:b,llm:a", 10)):
        result = _cli("eval", QUERY, "--db", db, "--gold", str(gold), "--source", "annotations",
                      "--annotator", annotator, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["confusion"]["yes"]["yes"] == positives
        result = _cli("export", QUERY, "--db", db, "-f", "csv", "-o", str(out),
                      "--source", "annotations", "--annotator", annotator)
        assert result.exit_code == 0, result.output
        nodes = (out / "nodes.csv").read_text().strip().splitlines()
        assert len(nodes) - 1 == positives


@pytest.mark.slow
def test_train_follows_the_rule(loaded_db: Path, minilm_path: Path, tmp_path: Path) -> None:
    _two_annotators(loaded_db)
    args = ["train", QUERY, "--db", str(loaded_db), "--base-model", str(minilm_path),
            "--epochs", "1", "--min-steps", "0", "--max-length", "16", "--val-fraction", "0"]
    refused = _cli(*args, "--out", str(tmp_path / "m0"))
    assert refused.exit_code == 1 and "several annotators" in refused.output
    # off: the priority rule alone (human:b's "no" on the hierarchy's top concepts would
    # otherwise judge llm:a's branch below them: tests/train/test_second_opinion.py)
    result = _cli(*args, "--out", str(tmp_path / "m1"), "--annotator", "human:b,llm:a",
                  "--second-opinion", "off", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_train"] == 40
