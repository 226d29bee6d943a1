"""bench/quality.py's annotators, split and renderer do what the results claim (no training)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import quality  # noqa: E402
import quality_noise  # noqa: E402
import render_quality  # noqa: E402


def tree() -> tuple[dict[str, str], list[tuple[str, str]]]:
    """A root with two systems of 3 x 10 leaves each; gold = under system A."""
    edges = [("A", "root"), ("B", "root")]
    truth = {"root": "no", "A": "yes", "B": "no"}
    for system in "AB":
        for b in range(3):
            edges.append((f"{system}{b}", system))
            truth[f"{system}{b}"] = "yes" if system == "A" else "no"
            for leaf in range(10):
                edges.append((f"{system}{b}-{leaf}", f"{system}{b}"))
                truth[f"{system}{b}-{leaf}"] = "yes" if system == "A" else "no"
    return truth, edges


def answers(noise: str, seed: int = 1) -> dict[str, str]:
    truth, edges = tree()
    return quality_noise.answers(noise, truth, seed, lambda: dict.fromkeys(truth, 0.5),
                                 lambda: edges, "A")


def test_random_flips_the_stated_share_and_is_deterministic() -> None:
    truth, _ = tree()
    got = answers("random10")
    assert sum(got[i] != truth[i] for i in truth) == round(0.1 * len(truth))
    assert got == answers("random10") and got != answers("random10", seed=2)


def test_branches_are_wrong_whole_on_both_sides_of_the_border() -> None:
    truth, _ = tree()
    got = answers("branches20")
    wrong = {i for i in truth if got[i] != truth[i]}
    assert wrong, "a branch annotator must be wrong somewhere"
    for node in wrong:  # a wrong branch top takes everything below it along
        if "-" not in node:
            assert all(i in wrong for i in truth if i.startswith(node + "-"))
    assert any(truth[i] == "yes" for i in wrong) and any(truth[i] == "no" for i in wrong)


def test_misses_only_say_no_and_miss_forty_percent_on_average() -> None:
    truth, _ = tree()
    positives = sum(v == "yes" for v in truth.values())
    missed = []
    for seed in range(40):
        got = answers("misses50", seed)
        wrong = [i for i in truth if got[i] != truth[i]]
        assert all(truth[i] == "yes" and got[i] == "no" for i in wrong)
        missed.append(len(wrong) / positives)
    assert 0.33 < sum(missed) / len(missed) < 0.47


def test_unknown_noise_is_a_one_line_exit() -> None:
    with pytest.raises(SystemExit, match="unknown noise model 'loud10'"):
        quality_noise.parse("loud10")


def test_dev_and_test_subtrees_score_on_disjoint_halves() -> None:
    ids = [f"HP:{i:07d}" for i in range(2000)]
    dev_sample, dev_held = quality.split(ids, "nervous", 300, 0, 1)
    test_sample, test_held = quality.split(ids, "skeletal", 300, 0, 1)
    assert not set(dev_held) & set(test_held)
    assert not set(dev_sample) & set(dev_held) and not set(test_sample) & set(test_held)
    assert len(dev_held) + len(test_held) == len(ids)


def row(subtree: str, extra: str, rel: str, seed: int, f1: float) -> dict[str, object]:
    case = {"subtree": subtree, "noise": "random10", "budget": 2000, "extra": extra,
            "extra_rel": rel, "rule": "par-chd+isa", "recipe": "new", "held_out": 2000,
            "split": "dev"}
    scores = {"f1": f1, "precision": f1, "recall": f1, "n": 2000, "positives": 300}
    return {"commit": "abc", "command": "python bench/quality.py", "case": case,
            "seed": seed, "key": "k", "encoder": scores,
            "annotator": {**scores, "f1": 0.7}}


def test_render_gives_mean_sd_targets_and_the_paired_rule_verdict(tmp_path: Path) -> None:
    from umlsgraph.selection.closure import DEFAULT_CLOSURE

    rows = [row("nervous", "none", "par", s, f) for s, f in ((1, 0.90), (2, 0.92), (3, 0.91))]
    rows += [row("nervous", "random2", "rb-isa", s, f)
             for s, f in ((1, 0.80), (2, 0.81), (3, 0.79))]
    for r, f1 in zip(rows[:2], (0.95, 0.97), strict=True):  # two runs scored the selections
        r["selection"] = {"f1": f1, "precision": f1, "recall": f1, "n": 2000, "positives": 300}
        r["export"] = {**r["selection"], "closure": DEFAULT_CLOSURE}
    results = tmp_path / "quality.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = render_quality.render(results, tmp_path / "none.jsonl", tmp_path / "none.jsonl")
    assert "0.910 ± 0.010" in text
    assert ("| random noise: mean held-out F1 on nervous ≥ 0.90 | 3, 0.910 ± 0.010, yes "
            "| 2, 0.960 ± 0.014, yes |") in text
    assert "| 0.960 ± 0.014 (2) |" in text  # the case row's selection F1 and its run count
    assert "PAR/CHD only wins (> 2 sd)" in text


def test_readme_quality_section_is_what_the_committed_results_say() -> None:
    """Nothing in the README's quality table is typed: re-render it after adding results."""
    import render_readme

    readme = BENCH.parent / "README.md"
    text = readme.read_text(encoding="utf-8")
    assert render_readme.START in text and render_readme.END in text
    rendered = render_readme.replace_block(text, render_readme.block(render_readme.RESULTS))
    assert rendered == text, "README.md is out of date: run python bench/render_readme.py"


def test_flat_annotator_flips_the_stated_share_deterministically() -> None:
    import flat_quality

    gold = {f"s{i}": "positive" if i % 3 else "negative" for i in range(1000)}
    noisy = flat_quality.noisy("random10", gold, seed=1)
    assert sum(noisy[i] != gold[i] for i in gold) == 100
    assert noisy == flat_quality.noisy("random10", gold, seed=1)
    assert noisy != flat_quality.noisy("random10", gold, seed=2)
    assert flat_quality.noisy("clean", gold, seed=1) == gold
    with pytest.raises(SystemExit, match="randomNN"):
        flat_quality.noisy("branches10", gold, seed=1)
