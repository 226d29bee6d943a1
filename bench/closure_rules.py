"""Which concepts should pass their selection down the hierarchy? Scored on kept predictions.

    python bench/closure_rules.py        # -> bench/results/closure_rules.jsonl and .md

`bench/quality.py` keeps every run's predictions of every concept (with gold, the annotator's
answer and whether the concept is held out) as Parquet under its cache. This script scores,
on those same held-out concepts and without training again, selection rules that add the
descendants (through main parents, never onto a cycle of them, as `export --closure`
does) of some of the encoder's positives:

  none          the predictions as they are (`export --closure none`, what `check` reads)
  all           every positive passes its selection down (`export --descendants`)
  p>=T          only positives whose probability is at least T
  topN          only positives whose probability is among the top N% of the positives'
                (a rank, not a probability: it follows the model's calibration, which
                depends on how noisy its labels were)
  body          only positives that have a selected parent, and the selection's root (the
                positive with the most selected descendants): islands, which `check`
                flags, pass nothing down

A rule study, not a default: a rule becomes one only after it is chosen on the dev subtrees
and wins on test subtrees, on runs it was not chosen on. The pre-registered study (`--study
preregistered`, the rules above fixed before its runs were trained: seeds 4 and up) decides
so: the chosen rule is the one with the highest mean paired Δ F1 (rule minus `none`) over the
dev runs among those that lose no more than 0.01 on any dev run; it becomes the default when,
over the fresh test runs, its mean paired Δ exceeds two standard errors (and, the stricter
reading, two standard deviations of the Δs) and no test case loses more than 0.01 on average.
One amendment, made before any test run was scored (`--split dev` scored the dev runs alone):
the closure's guard stopped at every unselected ancestor of a selected concept, so it never
filled a hole (an unselected concept between selected ones, what `check` lists); it now stops
only at concepts on a cycle, for every rule alike, and the dev runs were scored again.
The `all` rule reproduces the "+descendants" figures `quality.py` records through the
product's `select()`, which checks this script's closure.
"""

from __future__ import annotations

import argparse
import glob
import re
import shlex
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality  # noqa: E402  (bench/quality.py: CACHE, store(), prf(), append())
import render_quality  # noqa: E402  (bench/render_quality.py: load(), ms())

RESULTS = Path(__file__).resolve().parent / "results" / "closure_rules.jsonl"
#: The product's name (`export --closure`) of a rule this script names otherwise.
PRODUCT_NAMES = {"confident": "p>=0.9"}
THRESHOLDS = (0.9, 0.97, 0.99)
#: Rank rules: positives whose probability is among the top share of the positives' (at least
#: that quantile of them), a threshold that follows the model's calibration.
TOP_SHARES = (0.5, 0.25)
RULES = ("none", "all", *(f"p>={t}" for t in THRESHOLDS), *(f"top{round(100 * s)}"
                                                            for s in TOP_SHARES), "body")
ABOUT = ("Every rule adds the descendants (through main parents, never onto a cycle of them, "
         "as `export --closure` does) of some of the encoder's positives: `none` adds "
         "nothing (`export --closure none`), `all` every positive's "
         "(`export --descendants`; it reproduces the +descendants figures `quality.py` "
         "records through the product's `select()`), `p>=T` those of positives with "
         "probability ≥ T (`p>=0.9` is `export --closure confident`, the default since this "
         "study), `topN` those of positives whose probability is among the top N% "
         "of the positives' (a rank: it follows the model's calibration), `body` those of "
         "positives that have a selected parent, and of "
         "the selection's root (islands, which `check` flags, pass nothing down). Scored on "
         "the held-out concepts of runs whose predictions `bench/quality.py` kept; each run's "
         "training row (its commit and command) is in `quality.jsonl` under the same case and "
         "seed. A rule study: a rule becomes a default only when chosen on dev subtrees and "
         "winning by more than 2 sd on test subtrees, on runs it was not chosen on.")
NAME = re.compile(r"(?P<subtree>[a-z]+)-(?P<budget>\d+)-(?P<noise>[a-z]+\d*)-(?P<extra>none)"
                  r"-(?P<seed>\d+)-new\.parquet$")


class Hierarchy:
    """Main-parent edges of the pristine HPO store (the rule `export --descendants` follows)."""

    def __init__(self, edges: list[tuple[str, str]]) -> None:
        self.children: dict[str, set[str]] = defaultdict(set)
        self.parents: dict[str, set[str]] = defaultdict(set)
        for child, parent in edges:
            self.children[parent].add(child)
            self.parents[child].add(parent)

    def walk(self, start: set[str], step: dict[str, set[str]]) -> set[str]:
        seen: set[str] = set()
        stack = list(start)
        while stack:
            for nxt in step[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    def walk_within(self, start: set[str], inside: set[str]) -> set[str]:
        """The descendants of `start` reached through concepts of `inside` only (how `check`
        counts an island's selected descendants)."""
        seen: set[str] = set()
        stack = list(start)
        while stack:
            for nxt in self.children[stack.pop()] & inside:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    def close(self, selected: set[str], roots: set[str]) -> set[str]:
        """`selected` plus the descendants of `roots`: the walk goes through selected concepts
        but adds none that lies on a cycle of the hierarchy (above and below the selection);
        a hole (unselected, between selected concepts) is added."""
        above = self.walk(selected, self.parents) - selected
        cyclic = {c for c in above if c in self.walk({c}, self.parents)}
        below, stack = set(roots), list(roots)
        while stack:
            for child in self.children[stack.pop()]:
                if child not in below and (child in selected or child not in cyclic):
                    below.add(child)
                    stack.append(child)
        return selected | below


def rules(tree: Hierarchy, positives: set[str], probability: dict[str, float]
          ) -> dict[str, set[str]]:
    out = {"none": positives, "all": tree.close(positives, positives)}
    for threshold in THRESHOLDS:
        confident = {i for i in positives if probability[i] >= threshold}
        out[f"p>={threshold}"] = tree.close(positives, confident)
    ranked = sorted(probability[i] for i in positives)
    for share in TOP_SHARES:
        cut = ranked[min(len(ranked) - 1, int(len(ranked) * (1 - share)))] if ranked else 1.0
        out[f"top{round(100 * share)}"] = tree.close(
            positives, {i for i in positives if probability[i] >= cut})
    body = {i for i in positives if tree.parents[i] & positives}
    islands = positives - body
    if islands:
        body.add(max(sorted(islands), key=lambda i: len(tree.walk_within({i}, positives))))
    out["body"] = tree.close(positives, body)
    return out


def product_rules(path: Path, subtree: str) -> dict[str, set[str]]:
    """What the product's `select()` selects under each of its closures (`export.closure`),
    from the kept predictions written into a copy of the pristine store."""
    import shutil
    import tempfile

    from umlsgraph.db import prediction_store
    from umlsgraph.selection.closure import CLOSURES
    from umlsgraph.selection import SelectionOptions, select

    query = quality.make_query(subtree)
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "store.duckdb"
        shutil.copy(quality.store(), db)

        def run(con: Any) -> dict[str, set[str]]:
            rows = con.execute("SELECT id, label, probability FROM read_parquet(?) "
                               "WHERE label IS NOT NULL", [str(path)]).fetchall()
            prediction_store.write(con, query.name, "concepts", "kept", [r[0] for r in rows],
                                   [r[1] for r in rows], [r[2] for r in rows])
            out = {}
            for closure in CLOSURES:
                select(con, query, SelectionOptions(model="kept", closure=closure))
                out[closure] = {r[0] for r in con.execute(
                    "SELECT id FROM subontology_selected").fetchall()}
            return out

        return quality.with_con(db, run)  # type: ignore[no-any-return]


def score(path: Path, tree: Hierarchy, subtree: str) -> dict[str, Any]:
    import duckdb

    rows = duckdb.connect().execute(
        "SELECT id, gold, answer, held_out, label, probability FROM read_parquet(?)",
        [str(path)]).fetchall()
    positives = {r[0] for r in rows if r[4] == "yes"}
    probability = {r[0]: r[5] or 0.0 for r in rows}
    held = [(r[0], r[1], r[2]) for r in rows if r[3]]

    def prf(chosen: set[str]) -> dict[str, float]:
        return quality.prf([(gold, "yes" if i in chosen else "no") for i, gold, _ in held])

    mirror = rules(tree, positives, probability)
    product = product_rules(path, subtree)
    held_ids = {i for i, _, _ in held}
    mirror.update({product_name: mirror[name] for product_name, name in PRODUCT_NAMES.items()
                   if name in mirror})
    return {"annotator": quality.prf([(gold, answer) for _, gold, answer in held]),
            "rules": {name: prf(chosen) for name, chosen in mirror.items()
                      if name not in PRODUCT_NAMES},
            "product": {name: prf(chosen) for name, chosen in product.items()},
            # Where this script's closure and the product's choose different held-out concepts.
            "mirror_differs": sorted(n for n in product if n in mirror
                                     and (product[n] ^ mirror[n]) & held_ids)}


def measure(args: argparse.Namespace) -> None:
    from umlsgraph.db.items import ranked_parents_sql

    edges = quality.with_con(quality.store(), lambda con: con.execute(
        f"SELECT DISTINCT child, parent FROM ({ranked_parents_sql()}) WHERE main").fetchall(),
        read_only=True)
    tree = Hierarchy(edges)
    done = {r["file"] for r in render_quality.load(args.results)}
    for name in sorted(glob.glob(str(args.predictions / "*.parquet"))):
        match = NAME.search(name)
        if not match or Path(name).name in done:
            continue
        case = {k: v for k, v in match.groupdict().items() if k != "seed"}
        split = "dev" if case["subtree"] in quality.DEV else "test"
        if args.split and split != args.split:
            continue
        row = {"file": Path(name).name, "study": args.study, "case": case,
               "seed": int(match["seed"]),
               "split": split,
               **score(Path(name), tree, case["subtree"]), "commit": quality.commit(),
               "command": shlex.join(["python", "bench/closure_rules.py", *sys.argv[1:]]),
               "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        quality.append(args.results, row)
        print(f"{row['file']}: " + ", ".join(f"{k} {v['f1']:.3f}"
                                             for k, v in row["rules"].items()), flush=True)


STUDIES = {
    "exploratory": "Exploratory (the rules `p>=T` and `body` were written after seeing these "
                   "runs; their test rows cannot choose a default)",
    "preregistered": "Pre-registered (every rule above fixed before these runs were trained: "
                     "dev rows choose, fresh test seeds confirm)"}


def render(path: Path) -> str:
    found = render_quality.load(path)
    lines = ["# Closure rules on kept predictions (generated by `python bench/closure_rules.py`;"
             " do not edit)", "", ABOUT, "",
             "Held-out F1 (precision below it), mean ± sd over the runs' seeds; "
             "Δ: paired by run, minus `none`; — where a study did not score a rule."]
    for study, title in STUDIES.items():
        rows = [r for r in found if r.get("study", "exploratory") == study]
        if rows:
            lines += ["", f"## {title}", "", *study_table(rows), "",
                      *([*decision(rows), ""] if study == "preregistered" else []),
                      "Runs: " + ", ".join(f"{r['file']} ({r['commit']})" for r in rows) + "."]
            checked = [r for r in rows if "product" in r]
            if checked:
                differ = [f"{r['file']} ({', '.join(r['mirror_differs'])})" for r in checked
                          if r["mirror_differs"]]
                closures = ", ".join(checked[0]["product"])
                lines += ["", f"The product's `select()` (`--closure` {closures}) was run on "
                          f"{len(checked)} of these runs: it "
                    + (f"chose other held-out concepts than this script on {'; '.join(differ)}"
                       if differ else "chose the same held-out concepts as this script "
                       "under every rule both have") + "."]
    return "\n".join(lines) + "\n"


def delta(row: dict[str, Any], name: str) -> float:
    return float(row["rules"][name]["f1"] - row["rules"]["none"]["f1"])


def decision(rows: list[dict[str, Any]]) -> list[str]:
    """The pre-registered decision (the module docstring), computed from the rows."""
    import statistics

    dev = [r for r in rows if r["split"] == "dev"]
    test = [r for r in rows if r["split"] == "test"]
    if not dev:
        return []
    candidates = [n for n in RULES if n != "none" and all(n in r["rules"] for r in dev)]
    eligible = [n for n in candidates if min(delta(r, n) for r in dev) >= -0.01]
    if not eligible:
        return ["No rule loses at most 0.01 on every dev run: nothing is chosen."]
    chosen = max(eligible, key=lambda n: statistics.fmean(delta(r, n) for r in dev))
    lines = ["Dev: mean paired Δ F1 over " + f"{len(dev)} runs: " + ", ".join(
        f"`{n}` {statistics.fmean(delta(r, n) for r in dev):+.3f}"
        + ("" if n in eligible else " (loses > 0.01 on a dev run)") for n in candidates)
        + f". Chosen: **`{chosen}`**."]
    if len(test) < 2:
        return [*lines, "", "Test: fewer than two fresh runs; no verdict yet."]
    deltas = [delta(r, chosen) for r in test]
    mean, sd = statistics.fmean(deltas), statistics.stdev(deltas)
    se = sd / len(deltas) ** 0.5
    by_case: dict[str, list[float]] = defaultdict(list)
    for r in test:
        by_case[f"{r['case']['subtree']}/{r['case']['noise']}"].append(delta(r, chosen))
    worst = min(by_case, key=lambda c: statistics.fmean(by_case[c]))
    harmless = statistics.fmean(by_case[worst]) >= -0.01
    adopted = mean > 2 * se and harmless
    lines += ["", f"Test: `{chosen}` minus `none` over {len(test)} fresh runs: Δ F1 {mean:+.3f}"
              f" (sd {sd:.3f}, se {se:.3f}; by case: " + ", ".join(
                  f"{c} {statistics.fmean(v):+.3f} ({len(v)})" for c, v in sorted(by_case.items()))
              + f"). Δ > 2 se: {'yes' if mean > 2 * se else 'no'}; Δ > 2 sd (the stricter "
              f"reading): {'yes' if mean > 2 * sd else 'no'}; no case loses more than 0.01: "
              f"{'yes' if harmless else 'no'}. Verdict: **"
              + (f"`{chosen}` becomes the default" if adopted else "the default stays `none`")
              + "**."]
    return lines


def study_table(found: list[dict[str, Any]]) -> list[str]:
    names = [n for n in RULES if any(n in r["rules"] for r in found)]
    ms = render_quality.ms
    lines = ["| split | subtree | noise | runs | annotator | " + " | ".join(names) + " |",
             "|---|---|---|--:|--:|" + "--:|" * len(names)]
    cases: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in found:
        cases[(row["split"], row["case"]["subtree"], row["case"]["noise"])].append(row)
    for (split, subtree, noise), rows in sorted(cases.items()):
        cells = []
        for name in names:
            scored = [r for r in rows if name in r["rules"]]
            f1 = [r["rules"][name]["f1"] for r in scored]
            delta = [r["rules"][name]["f1"] - r["rules"]["none"]["f1"] for r in scored]
            precision = [r["rules"][name]["precision"] for r in scored]
            cells.append("—" if not scored else f"{ms(f1)} (P {ms(precision)})"
                         + ("" if name == "none" else f" Δ {ms(delta)}"))
        lines.append(f"| {split} | {subtree} | {noise} | {len(rows)} "
                     f"| {ms([r['annotator']['f1'] for r in rows])} | " + " | ".join(cells)
                     + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--predictions", type=Path, default=quality.CACHE / "predictions")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--study", choices=tuple(STUDIES), default="preregistered",
                        help="Which study the scored runs belong to.")
    parser.add_argument("--split", choices=("dev", "test"), default=None,
                        help="Score only the runs of this split (default: all).")
    parser.add_argument("--render", action="store_true", help="Only write the markdown.")
    quality.measure_and_render(parser.parse_args(), measure, render)


if __name__ == "__main__":
    main()
