"""bench/reask.py's rendering keeps recipes apart, labels the TF-IDF proxy, and reports each
strategy's gain over the first model of the same runs (no training)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import reask  # noqa: E402


def row(strategy: str, pct: int, export: float, encoder: float, seed: int = 1,
        recipe: str = "tfidf") -> dict:
    case = reask.Row("nervous", "branches10", 2000, recipe, strategy, pct, 0)
    data = {"key": case.key, "seed": seed, "case": {**case.__dict__, "split": case.split},
            "export": {"f1": export}, "encoder": {"f1": encoder}}
    return data if strategy == "none" else {**data, "fixed": 10, "asked": 90, "budget": 100}


def test_render_shows_gains_and_labels_the_proxy(tmp_path: Path) -> None:
    rows = [row("none", 0, 0.60, 0.59), row("contradictions", 5, 0.67, 0.65),
            row("random", 5, 0.61, 0.60), row("random", 5, 0.62, 0.60),  # the latest wins
            row("none", 0, 0.70, 0.70, recipe="new")]
    results = tmp_path / "reask.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = reask.render(results)
    proxy, encoder = text.split("## recipe tfidf")[1], text.split("## recipe new")[1]
    assert "TF-IDF PROXY" in proxy and "PROXY" not in encoder.split("## recipe tfidf")[0]
    assert ("| contradictions | export 0.670 (+0.070), encoder 0.650 (+0.060); asked 90, of them "
            "weak labels fixed 10; n=1 |") in proxy
    assert "| random | export 0.620 (+0.020)" in proxy
    assert "first model (weak labels) | export 0.600, encoder 0.590; n=1" in proxy


def test_indicative_rows_render_apart_and_decide_nothing(tmp_path: Path) -> None:
    """CPU rows beside the results render in their own section with the done-when checks
    read on the export with verdicts, and never join the study's tables."""
    first = row("none", 0, 0.50, 0.45, recipe="new")
    retrained = row("contradictions+closure", 5, 0.70, 0.62, recipe="new")
    retrained["export"] = {"f1": 0.70, "precision": 0.65}
    retrained["export_verdicts"] = {"f1": 0.80, "precision": 0.78, "cut": 2}
    retrained["export_verdict_round"] = {"f1": 0.86, "precision": 0.82, "cut": 3,
                                         "asked_more": 7}
    retrained["annotator"] = {"f1": 0.50}
    retrained["fp_tops"] = {"false_positives": 12, "scored_half": 9, "askable": 3, "tops": 2}
    (tmp_path / "reask.jsonl").write_text(json.dumps(row("none", 0, 0.6, 0.59)) + "\n")
    (tmp_path / reask.INDICATIVE.name).write_text(
        "".join(json.dumps(r) + "\n" for r in (first, retrained)))
    text = reask.render(tmp_path / "reask.jsonl")
    section = text.split("## Indicative")[1].split("\n## ")[0]
    assert "decide nothing" in section
    assert ("| dev | branches10 | nervous | 1 | 0.500 | 0.450 / 0.500 | 0.620 | 0.700 (0.650) | "
            "0.860 (0.820) | 7.0 | 9 of 12 | yes | yes | yes |") in section
    assert "## recipe new" not in text  # the CPU rows stay out of the study's tables
    del retrained["export_verdict_round"]  # recorded before the round, with budget left:
    (tmp_path / reask.INDICATIVE.name).write_text(  # not what run exports, so not shown
        "".join(json.dumps(r) + "\n" for r in (first, retrained)))
    assert "## Indicative" not in reask.render(tmp_path / "reask.jsonl")


def test_store_scope_rows_render_apart_and_half_keys_stay() -> None:
    """`--scope store` rows (strong annotator asked anywhere, answered concepts left out of
    scoring) get their own done-when table; the half study's keys are unchanged, so its
    recorded rows still resume and render where they did."""
    assert "scope" not in reask.Row("eye", "misses10", 2000, "new", "none", 0, 2000).key
    store = reask.Row("eye", "misses10", 2000, "new", "none", 0, 2000, "store")
    assert store.key.endswith("|scope=store")

    def store_row(strategy: str, export: float, encoder: float, **extra: object) -> dict:
        case = reask.Row("eye", "branches10", 2000, "new", strategy, 5, 2000, "store")
        return {"key": case.key, "seed": 1, "case": {**case.__dict__, "split": case.split},
                "export": {"f1": export, "precision": 0.9}, "encoder": {"f1": encoder},
                "annotator": {"f1": 0.40}, "asked": 100, "budget": 100, "fixed": 9, **extra}

    rows = [store_row("none", 0.50, 0.40),
            store_row("contradictions+closure", 0.80, 0.55, held_out_answered=12,
                      export_verdicts={"f1": 0.88, "precision": 0.86, "cut": 5}),
            store_row("random+closure", 0.70, 0.45),
            row("contradictions+closure", 5, 0.60, 0.50, recipe="new")]
    for r in rows[-1:]:
        r.update(annotator={"f1": 0.4}, export={"f1": 0.6, "precision": 0.7})
    text = reask.render_rows(rows, [])
    section = text.split("asked anywhere (`--scope store`): recipe new")[1].split("\n## ")[0]
    assert ("| test | branches10 | eye | 1 | 0.400 | 0.400 / 0.500 | 0.550 | 0.800 (0.900) | "
            "0.880 (0.860) | 100 (+0) | 12 | 0.450 / 0.700 | +0.100 ± — | yes | yes | yes |"
            ) in section
    half = text.split("Issue 30's done-when: recipe new")[1].split("\n## ")[0]
    assert "| eye |" not in half and "| nervous |" in half


def test_scoring_leaves_out_what_the_strong_annotator_answered() -> None:
    run = reask.q.Run(Path("x"), None, {}, {}, [], ["a", "b", "c"], Path("f"), 1)
    assert reask.without_answered(run, {"b", "z"}).held_out == ["a", "c"]
    assert run.held_out == ["a", "b", "c"]
