"""Re-asking a stronger annotator (issue #30): which items to spend a small budget on.

A weak annotator (bench/quality_noise.py, e.g. branches10: whole branches wrong, or misses10)
labels the sample; an encoder is trained on it and labels every concept. A stronger annotator
(gold with 3% random errors, `STRONG_NOISE`) then answers a budget of 2%, 5% or 10% of the
sample, chosen by one of:

  contradictions  `annotate --reask contradictions`: the most surprising islands and holes of
                  the first model's selection (`umlsgraph check`), through the product's code
  suspects        the labels a k-fold audit supports least (`umlsgraph audit`'s ranking; its
                  flags are the top of it, `--reask suspects` asks all of them); the tfidf
                  recipe ranks by out-of-fold TF-IDF probabilities instead
  uncertainty     `annotate --strategy uncertainty`: unlabelled concepts the first model is
                  least sure of (new items, not second opinions)
  random          sample items drawn at random (second opinions)

The model is trained again on the strong answers over the weak ones (`train --annotator
STRONG,WEAK`: `annotation_store.labels_sql` with the strong one first), labels every concept,
and is scored on held-out concepts: the encoder's F1 and the export's (the shipped closure).
Each strategy and budget has its own strong annotator name, and its answers are deleted after
it is scored, so no strategy sees another's. The same model's export is also scored with the
strong answers as verdicts (`export --verdicts`: `export_verdicts`) and, where contradictions
asked fewer than the budget, as `run --verdicts` makes it: the rest of the budget spent on the
retrained model's own contradictions first, no training (`export_verdict_round`).

Splits as in bench/quality.py: DEV subtrees choose, TEST subtrees confirm; held-out concepts
come from the half of the concepts the sample is not drawn from, and the strong annotator is
only ever asked about the other half (its labels file holds nothing else), so no scored
concept is ever trained on. `--scope store` (bench/results/store_scope_preregistered.md)
asks as the product does instead: contradictions anywhere in the store, and every score leaves
out the held-out concepts the strong annotator answered in that row. Every row is appended
to bench/results/reask.jsonl as it finishes (resumable: a key and seed already there is
skipped) and reask.md is rendered from it.

    python bench/reask.py --recipe tfidf --subtrees nervous --seeds 1 --budgets 5   # smoke
    python bench/reask.py --quick                    # the study: 3 seeds, 2,000 held-out
    python bench/reask.py --quick --scope store --strategies \
        contradictions+closure,random+closure --budgets 5   # the store-scope study
    python bench/reask.py --render                   # -> bench/results/reask.md

`--recipe tfidf` is a proxy, not the product: TF-IDF + logistic regression on the encoder's
default text (seconds per run) stands in for fine-tuning, so the mechanics can be checked
fast; its rows say recipe=tfidf and the rendering keeps them apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import shlex
import shutil
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality as q  # noqa: E402  (bench/quality.py)
import quality_noise  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "reask.jsonl"
#: Encoder rows run on the 2-core CPU machine while no GPU was lent (one seed per case): kept
#: apart from RESULTS so they never pair with, or replace, the GPU study's rows of the same key
#: (render reads the file of this name beside the results it renders).
INDICATIVE = RESULTS.with_name("reask_cpu.jsonl")
STRATEGIES = ("contradictions", "suspects", "uncertainty", "random")
#: A strategy may name how the strong answers are trained on after a "+":
#: umlsgraph.train.second_opinion's closure, flip or drop (none: `off`, the strong answer
#: wins on its items only).
SECOND_OPINION_RULES = ("closure", "flip", "drop")
#: The stronger annotator: gold with this share of random errors.
STRONG_NOISE = "random3"
RECIPES = ("new", "tfidf")


@dataclass(frozen=True)
class Row:
    """What one result row measures (with the seed, the key that makes it resumable)."""

    subtree: str
    noise: str
    sample: int
    recipe: str
    strategy: str  # "none": the first model, on the weak labels only
    budget_pct: int
    held_out: int
    #: "half": the strong annotator is asked only about the sample's half of the concepts;
    #: "store": anywhere, as the product asks (bench/results/store_scope_preregistered.md).
    scope: str = "half"

    @property
    def key(self) -> str:
        fields = {k: v for k, v in self.__dict__.items()
                  if not (k == "scope" and v == "half")}  # the half study's keys as before
        return "|".join(f"{k}={v}" for k, v in fields.items())

    @property
    def split(self) -> str:
        return "dev" if self.subtree in q.DEV else "test"


# ---------------------------------------------------------------------------- learners


class Learner:
    """Train on (id, label) SQL, label every concept, score the held-out ones; `ref` is what
    the product takes as the model (a model folder, or the id its predictions are stored as)."""

    def __init__(self, run: q.Run, recipe: str, base: str) -> None:
        self.run, self.recipe = run, recipe
        self.config = q.recipe_config("new", base, run.seed)[0]
        self._texts: dict[str, str] | None = None

    def fit(self, name: str, labels: str) -> tuple[dict[str, Any], str]:
        if self.recipe == "new":
            result = q.train_and_score(self.run, self.config, name, [], labels=labels)
            return result, str(result.pop("model"))
        return self._tfidf(name, labels)

    def suspects(self, weak: str, labels: str) -> list[str]:
        """The sample's labels, least supported first."""
        if self.recipe == "new":
            return self._audit(weak)
        return self._tfidf_suspects(labels)

    # -- the product's encoder

    def _audit(self, weak: str) -> list[str]:
        from umlsgraph.db import audit_store
        from umlsgraph.train.audit import audit, fold_config

        audit(self.run.db, self.run.query, annotator=weak, train_config=fold_config(self.config),
              progress=False)
        flags = q.with_con(self.run.db, lambda con: audit_store.flags(
            con, self.run.query.name, "concepts", weak), read_only=True)
        return [f.id for f in flags]

    # -- the proxy

    def texts(self) -> dict[str, str]:
        from umlsgraph.db.items import ConceptSource
        from umlsgraph.train.data import training_text

        if self._texts is None:
            query = training_text(self.run.query, self.config)
            sql = ConceptSource().texts_sql(query, "SELECT cui AS id FROM concepts")
            self._texts = q.with_con(self.run.db, lambda con: {
                str(i): t or "" for i, t in con.execute(sql).fetchall()}, read_only=True)
        return self._texts

    def _tfidf(self, name: str, labels: str) -> tuple[dict[str, Any], str]:
        from umlsgraph.db import prediction_store
        from umlsgraph.selection.closure import DEFAULT_CLOSURE

        started = time.monotonic()
        given = dict(q.with_con(self.run.db, lambda con: con.execute(labels).fetchall(),
                                read_only=True))
        texts = self.texts()
        every = sorted(texts)
        model, vectorizer = self._fit_tfidf([texts[i] for i in given], list(given.values()))
        proba = model.predict_proba(vectorizer.transform([texts[i] for i in every]))
        yes = list(model.classes_).index("yes")
        predicted = [str(c) for c in model.classes_[proba.argmax(1)]]
        model_id = f"tfidf/{self.run.folder.name}/{name}"
        q.with_con(self.run.db, lambda con: prediction_store.write(
            con, self.run.query.name, "concepts", model_id, every, predicted,
            [float(p) for p in proba[:, yes]]))
        held = q.with_con(self.run.db, lambda con: q.labels_sql(
            con, name + "/held", {i: self.run.truth[i] for i in self.run.held_out}))
        label_of = dict(zip(every, predicted, strict=True))
        result = {"encoder": q.prf([(self.run.truth[i], label_of[i]) for i in self.run.held_out]),
                  "selection": q.selection_scores(self.run, self.run.query, model_id, held, "all"),
                  "export": {**q.selection_scores(self.run, self.run.query, model_id, held,
                                                  DEFAULT_CLOSURE), "closure": DEFAULT_CLOSURE},
                  "epochs": 0, "best_epoch": 0, "train_s": 0.0,
                  "s": round(time.monotonic() - started, 1)}
        return result, model_id

    def _fit_tfidf(self, texts: list[str], labels: list[str]) -> tuple[Any, Any]:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        x = vectorizer.fit_transform(texts)
        model = LogisticRegression(C=4.0, max_iter=2000, random_state=self.run.seed)
        return model.fit(x, labels), vectorizer

    def _tfidf_suspects(self, labels: str) -> list[str]:
        """Out-of-fold (5 folds) TF-IDF probability of each given label, lowest first."""
        given = sorted(q.with_con(self.run.db, lambda con: con.execute(labels).fetchall(),
                                  read_only=True))
        texts = self.texts()
        folds = 5
        support: dict[str, float] = {}
        for fold in range(folds):
            train = [(i, v) for n, (i, v) in enumerate(given) if n % folds != fold]
            test = [(i, v) for n, (i, v) in enumerate(given) if n % folds == fold]
            model, vectorizer = self._fit_tfidf([texts[i] for i, _ in train],
                                                [v for _, v in train])
            proba = model.predict_proba(vectorizer.transform([texts[i] for i, _ in test]))
            classes = list(model.classes_)
            for (i, v), row in zip(test, proba, strict=True):
                support[i] = float(row[classes.index(v)]) if v in classes else 0.0
        return sorted(support, key=lambda i: (support[i], i))


# ---------------------------------------------------------------------------- one run


def pool_source(run: q.Run, subtree: str) -> tuple[Any, set[str]]:
    """The concepts the strong annotator may be asked about: the half the sample is from."""
    from umlsgraph.db.items import ConceptSource, SubsetSource

    scored = "choose" if subtree in q.DEV else "report"
    pool = {i: "" for i in run.truth if q.half(i) != scored}
    sql = q.with_con(run.db, lambda con: q.labels_sql(con, "reask/pool", pool))
    return SubsetSource(ConceptSource(), f"SELECT id FROM ({sql})"), set(pool)


def store_source(run: q.Run) -> tuple[Any, set[str]]:
    """`--scope store`: the strong annotator may be asked about any concept, as `run
    --reask-with` asks; what it answers is left out of scoring (`without_answered`)."""
    from umlsgraph.db.items import ConceptSource

    return ConceptSource(), set(run.truth)


def answered_ids(run: q.Run, strong: str) -> set[str]:
    """The concepts `strong` answered in the working store (first re-ask and any later)."""
    from umlsgraph.db import annotation_store

    sql = annotation_store.labels_sql(run.query.name, "concepts", [strong])
    return q.with_con(run.db, lambda con: {r[0] for r in con.execute(
        f"SELECT id FROM ({sql})").fetchall()}, read_only=True)


def without_answered(run: q.Run, answered: set[str]) -> q.Run:
    """The run scored on its held-out concepts minus those the strong annotator answered: no
    scored concept is trained on or judged by an answer (a no-op in the half study, which
    never asks the scored half)."""
    return dataclasses.replace(run, held_out=[i for i in run.held_out if i not in answered])


def ids_source(run: q.Run, name: str, ids: list[str]) -> Any:
    from umlsgraph.db.items import ConceptSource, SubsetSource

    sql = q.with_con(run.db, lambda con: q.labels_sql(con, name, dict.fromkeys(ids, "")))
    return SubsetSource(ConceptSource(), f"SELECT id FROM ({sql})")


def ask(run: q.Run, strategy: str, budget: int, llm: str, first: str, pool: Any,
        ranked_suspects: list[str]) -> Any:
    """Ask the strong annotator `llm` about `budget` items chosen by `strategy`."""
    from umlsgraph.annotate.driver import annotate

    if strategy == "contradictions":
        return annotate(run.db, run.query, pool, llm, n=budget, reask="contradictions",
                        reask_from="predictions", model=first, progress=False)
    if strategy == "uncertainty":
        return annotate(run.db, run.query, pool, llm, n=budget, strategy="uncertainty",
                        model=first, progress=False)
    if strategy == "suspects":
        chosen = ranked_suspects[:budget]
    elif strategy == "random":
        chosen = random.Random(f"reask/random/{run.seed}").sample(run.sample, budget)
    else:
        raise SystemExit(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    return annotate(run.db, run.query, ids_source(run, f"reask/{strategy}", chosen), llm,
                    n=budget, progress=False)


def asked_facts(run: q.Run, strong: str, strong_answers: dict[str, str]) -> dict[str, Any]:
    """What the budget bought: items asked, how many were new, how many weak labels it
    corrected, how many it made wrong."""
    from umlsgraph.db import annotation_store

    asked = [r[0] for r in q.with_con(run.db, lambda con: con.execute(
        f"SELECT id FROM ({annotation_store.labels_sql(run.query.name, 'concepts', [strong])})"
    ).fetchall(), read_only=True)]
    sample = set(run.sample)
    weak_wrong = {i for i in sample if run.answers[i] != run.truth[i]}
    return {"asked": len(asked), "new_items": sum(i not in sample for i in asked),
            "weak_wrong_asked": len(weak_wrong & set(asked)),
            "fixed": sum(i in weak_wrong and strong_answers[i] == run.truth[i] for i in asked),
            "broken": sum(i in sample and i not in weak_wrong and strong_answers[i] !=
                          run.truth[i] for i in asked),
            "weak_wrong_in_sample": len(weak_wrong)}


def split_strategy(name: str) -> tuple[str, str | None]:
    """("contradictions", "flip") from "contradictions+flip"; (name, None) without a rule."""
    strategy, _, rule = name.partition("+")
    if strategy not in STRATEGIES or (rule and rule not in SECOND_OPINION_RULES):
        raise SystemExit(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}, "
                         f"each optionally +{' or +'.join(SECOND_OPINION_RULES)}")
    return strategy, rule or None


def overturned(run: q.Run, strong: str, weak: str) -> dict[str, Any]:
    """Branches the strong answers overturned, the weak labels below them that differ from
    the verdict, and how many of those were really wrong (what flip fixes, what drop loses)."""
    from umlsgraph.db import annotation_store
    from umlsgraph.train.second_opinion import overturned_counts_sql, second_opinion_labels_sql

    name = run.query.name
    flipped = q.with_con(run.db, lambda con: dict(con.execute(
        second_opinion_labels_sql(name, "concepts", [strong, weak], "flip",
                                  run.query.positive)).fetchall()),
        read_only=True)
    counts = q.with_con(run.db, lambda con: con.execute(
        overturned_counts_sql(name, "concepts", [strong, weak])).fetchone(), read_only=True)
    asked = q.with_con(run.db, lambda con: {r[0] for r in con.execute(
        annotation_store.labels_sql(name, "concepts", [strong])).fetchall()}, read_only=True)
    changed = [i for i in run.sample if i not in asked and flipped.get(i, run.answers[i])
               != run.answers[i]]
    return {"overturned": counts[0], "disputed": counts[1],
            "flips_right": sum(run.truth[i] == flipped[i] for i in changed),
            "flips": len(changed)}


def export_with_verdicts(run: q.Run, model: str, strong: str) -> dict[str, Any]:
    """Held-out P/R/F1 of the same model's export with `--verdicts STRONG` (no training:
    bench/results/verdicts_preregistered.md compares it with the plain export)."""
    from umlsgraph.selection.closure import DEFAULT_CLOSURE

    held = q.with_con(run.db, lambda con: q.labels_sql(
        con, "verdicts/held", {i: run.truth[i] for i in run.held_out}))
    return {**q.selection_scores(run, run.query, model, held, DEFAULT_CLOSURE, strong),
            "closure": DEFAULT_CLOSURE, "verdicts": strong}


def verdict_round(run: q.Run, llm: str, model: str, left: int, pool: Any,
                  strong: str) -> tuple[dict[str, Any], q.Run]:
    """`run --reask-with --verdicts`'s verdict round (`umlsgraph.workflows.run.step_verdicts`):
    the budget the first re-ask left is spent on the retrained model's own contradictions,
    and its export is scored with all the strong answers as verdicts (no training), on the
    held-out concepts no answer touched; with the run it was scored on."""
    from umlsgraph.annotate.strategy import NothingToAsk
    from umlsgraph.model_folder import model_key

    try:
        more = ask(run, "contradictions", left, llm, model, pool, []).asked
    except NothingToAsk:
        more = 0
    scored = without_answered(run, answered_ids(run, strong))
    return ({**export_with_verdicts(scored, model_key(model), strong), "asked_more": more,
             "held_out_n": len(scored.held_out)}, scored)


def false_positive_tops(run: q.Run, model: str, strong: str,
                        pool_ids: set[str]) -> dict[str, int]:
    """Where the held-out false positives of run's export (with verdicts) hang from: the top
    of their selected chain, an island's top, lies in the half the study may ask
    (`askable`) or only in the scored half it never asks (`scored_half`). The study asks
    only the unscored half, so no scored concept is trained on; a user asks anything."""
    from umlsgraph.selection import SelectionOptions, select

    def fetch(con: Any) -> tuple[set[str], list[tuple[str, str]]]:
        selection = select(con, run.query, SelectionOptions(model=model, verdicts=strong))
        chosen = {r[0] for r in con.execute(selection.selected_sql).fetchall()}
        edges = con.execute("SELECT cui1, cui2 FROM relations WHERE rel = 'PAR'").fetchall()
        return chosen, edges

    chosen, edges = q.with_con(run.db, fetch, read_only=True)
    parents: dict[str, set[str]] = defaultdict(set)
    for child, parent in edges:
        if parent in chosen:
            parents[child].add(parent)
    counts = {"false_positives": 0, "askable": 0, "scored_half": 0}
    tops: set[str] = set()
    for concept in chosen & set(run.held_out):
        if run.truth[concept] != "no":
            continue
        found = _tops(concept, parents)
        tops |= found
        counts["false_positives"] += 1
        counts["askable" if found & pool_ids else "scored_half"] += 1
    return {**counts, "tops": len(tops)}


def _tops(concept: str, parents: dict[str, set[str]]) -> set[str]:
    """The concepts above `concept` (itself included) with no selected parent."""
    seen, stack, tops = {concept}, [concept], set()
    while stack:
        node = stack.pop()
        if not parents[node]:
            tops.add(node)
        for parent in parents[node] - seen:
            seen.add(parent)
            stack.append(parent)
    return tops


def forget(run: q.Run, annotator: str, model: str) -> None:
    """Delete a strategy's strong answers and its model's predictions (the next strategy
    starts from the first model's state)."""
    def drop(con: Any) -> None:
        con.execute("DELETE FROM annotations WHERE annotator = ?", [annotator])
        con.execute("DELETE FROM predictions WHERE model = ?", [model])

    q.with_con(run.db, drop)


def measure_one(args: argparse.Namespace, db: Path, subtree: str, noise: str, seed: int,
                base: str, finished: set[tuple[str, int]], command: str) -> None:
    """The first model and every strategy x budget of one subtree, noise and seed."""
    from umlsgraph.db import annotation_store
    from umlsgraph.model_folder import model_key
    from umlsgraph.train.second_opinion import second_opinion_labels_sql

    rows = [Row(subtree, noise, args.sample, args.recipe, s, pct, args.held_out_n, args.scope)
            for pct in map(int, q._list(args.budgets)) for s in q._list(args.strategies)]
    first_row = Row(subtree, noise, args.sample, args.recipe, "none", 0, args.held_out_n,
                    args.scope)
    todo = [r for r in [first_row, *rows] if (r.key, seed) not in finished or args.again]
    if not todo:
        print(f"skip {subtree} {noise} seed {seed} (in {args.results})", flush=True)
        return
    case = q.Case(subtree, noise, args.sample, recipe=args.recipe, held_out=args.held_out_n)
    run, facts = q.prepare(db, case, seed, args.work)
    learner = Learner(run, args.recipe, base)
    weak = q._store_labels(run, run.sample, "weak")
    weak_sql = annotation_store.labels_sql(run.query.name, "concepts", [weak])
    result, first = learner.fit("first", weak_sql)
    first_id = model_key(first)
    common = {"commit": q.commit(), "command": command, "seed": seed, "device": device(),
              **facts}
    if first_row in todo:
        emit(args, first_row, {**common, **result})
    pool, pool_ids = store_source(run) if args.scope == "store" else pool_source(run, subtree)
    root = q.SUBTREES[subtree]
    strong_answers = quality_noise.answers(STRONG_NOISE, run.truth, seed + 1000,
                                           lambda: {}, lambda: [], root)
    strong_file = {i: v for i, v in strong_answers.items() if i in pool_ids}
    ranked = (learner.suspects(weak, weak_sql)
              if any(r.strategy.startswith("suspects") for r in todo) else [])
    for row in rows:
        if row not in todo:
            continue
        budget = max(1, round(row.budget_pct / 100 * len(run.sample)))
        path = q.write_labels(strong_file,
                              run.folder / f"strong-{row.strategy}-{row.budget_pct}.csv")
        started = time.monotonic()
        strategy, rule = split_strategy(row.strategy)
        asked = ask(run, strategy, budget, f"labels:{path}", first, pool, ranked)
        strong = asked.annotator
        labels = second_opinion_labels_sql(run.query.name, "concepts", [strong, weak],
                                           rule or "off", run.query.positive)
        learner.run = scoring = without_answered(run, answered_ids(run, strong))
        scored, model = learner.fit(f"{row.strategy}-{row.budget_pct}", labels)
        learner.run = run
        scored["export_verdicts"] = export_with_verdicts(scoring, model_key(model), strong)
        extra = {"budget": budget, **asked_facts(run, strong, strong_answers),
                 "second_opinion": rule or "off",
                 **overturned(run, strong, weak),
                 "reask": asked.reask, "first_model": first_id,
                 "strong_annotator": {"noise": STRONG_NOISE, **q.prf(
                     [(run.truth[i], strong_answers[i]) for i in run.held_out])},
                 "round_s": round(time.monotonic() - started, 1),
                 "held_out_answered": len(run.held_out) - len(scoring.held_out)}
        if strategy == "contradictions" and budget > extra["asked"]:
            scored["export_verdict_round"], scoring = verdict_round(
                run, f"labels:{path}", model, budget - extra["asked"], pool, strong)
        if strategy == "contradictions":
            extra["fp_tops"] = false_positive_tops(scoring, model_key(model), strong, pool_ids)
        emit(args, row, {**common, **scored, **extra})
        forget(run, strong, model_key(model))
    shutil.rmtree(run.folder, ignore_errors=True)


def device() -> str:
    """Where the encoder trains: the CUDA device's name, else "cpu"."""
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


def emit(args: argparse.Namespace, row: Row, data: dict[str, Any]) -> None:
    out = {"key": row.key, "case": {**row.__dict__, "split": row.split}, **data,
           "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "load_average": round(os.getloadavg()[0], 2)}
    out.pop("model", None)
    q.append(args.results, out)
    enc, exp = out["encoder"], out.get("export") or {}
    print(f"{row.key} seed {out['seed']}: encoder F1 {enc['f1']:.3f}, export F1 "
          f"{exp.get('f1', float('nan')):.3f}"
          + (f"; asked {out['asked']:,}, fixed {out['fixed']:,}" if "asked" in out else ""),
          flush=True)


def measure(args: argparse.Namespace) -> None:
    base = args.base_model or str(q.minilm())
    db = q.store()
    finished = q.done(args.results)
    command = shlex.join(["python", "bench/reask.py", *sys.argv[1:]])
    for subtree in q._list(args.subtrees):
        if subtree not in q.SUBTREES:
            raise SystemExit(f"unknown subtree {subtree!r}; choose from {', '.join(q.SUBTREES)}")
        for noise in q._list(args.noise):
            quality_noise.parse(noise)
            for seed in map(int, q._list(args.seeds)):
                measure_one(args, db, subtree, noise, seed, base, finished, command)


# ---------------------------------------------------------------------------- rendering


def render(path: Path) -> str:
    """reask.md from `path` and the INDICATIVE file beside it."""
    indicative = path.with_name(INDICATIVE.name)
    return render_rows(q_load(path), q_load(indicative) if indicative != path else [])


def render_rows(every: list[dict[str, Any]], indicative: list[dict[str, Any]]) -> str:
    """Mean held-out F1 (export, encoder) per recipe, split, noise, strategy and budget,
    over subtrees and seeds, and the gain over the first model of the same runs; the
    pre-registered rules and issue 30's done-when, the half and the store-scope studies
    apart; INDICATIVE (CPU) rows in sections of their own."""
    rows = [r for r in every if scope_of(r) == "half"]
    out = ["# bench/reask: which items a stronger annotator should answer", "",
           "Rendered by `python bench/reask.py --render` from `bench/results/reask.jsonl`; "
           "see the docstring of bench/reask.py for the setup. Each cell: mean held-out F1 of "
           "the export (the shipped closure) over subtrees and seeds, then the encoder's, each "
           "with its gain over the first model (weak labels only) of the same runs; asked: "
           "strong answers (contradictions can ask fewer than the budget: only those in the "
           "half of the concepts never scored are asked); fixed: wrong weak labels the strong "
           "annotator corrected; n = runs.", ""]
    if not every:
        return "\n".join(out + ["No runs yet."]) + "\n"
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        c = r["case"]
        groups[(c["recipe"], c["split"], c["noise"])].append(r)
    for r in every:
        if scope_of(r) == "store":
            c = r["case"]
            groups[(c["recipe"] + ", strong annotator asked anywhere (scope store)",
                    c["split"], c["noise"])].append(r)
    encoder_rows = [r for r in rows if r["case"]["recipe"] == "new"]
    out += [*second_opinion_verdict(encoder_rows, DONE_WHEN_BUDGET), ""]
    for recipe in RECIPES:
        out += verdicts_verdict([r for r in rows if r["case"]["recipe"] == recipe],
                                DONE_WHEN_BUDGET, recipe)
    for rule in ("", *(f"+{r}" for r in SECOND_OPINION_RULES)):
        if any(r["case"]["strategy"] == f"contradictions{rule}" for r in encoder_rows):
            out += [*done_when(encoder_rows, DONE_WHEN_BUDGET, rule), ""]
    out += indicative_verdicts([r for r in indicative if scope_of(r) == "half"],
                               DONE_WHEN_BUDGET)
    for recipe in RECIPES:
        out += store_done_when([r for r in every if scope_of(r) == "store"
                                and r["case"]["recipe"] == recipe], DONE_WHEN_BUDGET, recipe)
    out += store_done_when([r for r in indicative if scope_of(r) == "store"],
                           DONE_WHEN_BUDGET, "new", indicative=True)
    for (recipe, split, noise), members in sorted(groups.items()):
        title = f"## recipe {recipe}, {split} subtrees, weak annotator {noise}"
        if recipe == "tfidf":
            title += " (TF-IDF PROXY, not the encoder: checks the mechanics only)"
        out += [title, "", *_table(members), ""]
    return "\n".join(out) + "\n"


#: The budget issue 30's done-when is read at (% of the sample).
DONE_WHEN_BUDGET = 5


def scope_of(row: dict[str, Any]) -> str:
    """"half" (rows recorded before `--scope` existed too) or "store"."""
    return str(row["case"].get("scope", "half"))


def store_done_when(rows: list[dict[str, Any]], budget: int, recipe: str,
                    indicative: bool = False) -> list[str]:
    """Issue 30's done-when in the store-scope study (bench/results/
    store_scope_preregistered.md): per case, the retrained encoder, the plain export and the
    export `run --verdicts` makes, each scored on the held-out concepts no answer touched;
    contradictions against random on the plain export, paired by seed."""
    from umlsgraph.train.second_opinion import DEFAULT_RULE

    contra_name, random_name = f"contradictions+{DEFAULT_RULE}", f"random+{DEFAULT_RULE}"
    by_case: dict[tuple[str, str, str], dict[str, dict[int, dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(dict))
    for r in rows:
        c = r["case"]
        if c["strategy"] == "none" or c["budget_pct"] == budget:
            by_case[(c["split"], c["noise"], c["subtree"])][c["strategy"]][r["seed"]] = r
    if not any(contra_name in v for v in by_case.values()):
        return []
    title = (f"## Issue 30's done-when, strong annotator asked anywhere (`--scope store`): "
             f"recipe {recipe}")
    title += (" (TF-IDF PROXY: mechanics only, decides nothing)" if recipe == "tfidf" else
              " on CPU (INDICATIVE: fewer seeds than 3, decides nothing)" if indicative else "")
    out = [title, "",
           f"As `run --reask-with` asks: {budget}% of the sample chosen by contradictions "
           "anywhere in the store (random: second opinions on the sample), trained with "
           f"`--second-opinion {DEFAULT_RULE}`; every score leaves out the held-out concepts "
           "the strong annotator answered (left out: how many, mean). Pre-registered in "
           "bench/results/store_scope_preregistered.md. Per case, means over seeds, F1 "
           "(precision). Checks read on run's export (`run --verdicts`) and the retrained "
           "encoder.", "",
           "| split | noise | subtree | seeds | weak F1 | first enc / exp | retrained enc | "
           "export F1 (P) | run --verdicts F1 (P) | asked (+ round) | left out | random enc / "
           "exp | Δ export (contra − random) | exp ≥ 0.85 | enc ≥ weak + 0.10 | P ≥ 0.80 |",
           "|" + "---|" * 16]
    pooled: dict[str, list[float]] = defaultdict(list)
    for (split, noise, subtree), strategies in sorted(by_case.items()):
        contra, rand, first = (strategies.get(k, {}) for k in (contra_name, random_name,
                                                               "none"))
        if not contra:
            continue
        members = list(contra.values())
        deltas = [contra[s]["export"]["f1"] - rand[s]["export"]["f1"]
                  for s in sorted(set(contra) & set(rand))]
        pooled[noise] += deltas
        weak, enc = (_mean([r[k]["f1"] for r in members]) for k in ("annotator", "encoder"))
        judged = [run_export(r) or r["export_verdicts"] for r in members]
        f1, precision = (_mean([j[k] for j in judged]) for k in ("f1", "precision"))
        asked = _mean([r["asked"] for r in members])
        more = _mean([r.get("export_verdict_round", {}).get("asked_more", 0) for r in members])
        left_out = _mean([len_left_out(r) for r in members])
        out.append("| " + " | ".join([
            split, noise, subtree, str(len(members)), _fmt(weak), _pair(first), _fmt(enc),
            _f1_p([r["export"] for r in members]), _f1_p(judged), f"{asked:.0f} (+{more:.0f})",
            f"{left_out:.0f}", _pair(rand) if rand else "—", _delta(deltas),
            _check(f1 >= 0.85), _check(enc >= weak + 0.10), _check(precision >= 0.80)]) + " |")
    out += ["", "Contradictions against random, pooled over the cases above (paired by case "
            "and seed, plain export):", ""]
    for noise, deltas in sorted(pooled.items()):
        out.append(f"- {noise}: {_delta(deltas)} over {len(deltas)} pairs: " + _verdict(deltas))
    return [*out, ""]


def len_left_out(row: dict[str, Any]) -> int:
    """Held-out concepts left out of run's export score: those any answer touched."""
    round_ = row.get("export_verdict_round") or {}
    if "held_out_n" in round_:
        return int(row["case"]["held_out"]) - int(round_["held_out_n"])
    return int(row.get("held_out_answered", 0))


def done_when(rows: list[dict[str, Any]], budget: int, rule: str = "") -> list[str]:
    """Issue 30's done-when, case by case (subtree and noise; means over seeds): export F1
    >= 0.85 and encoder F1 >= the weak annotator's + 0.10 after re-asking `budget`% chosen by
    contradictions, export precision >= 0.80, and contradictions against random re-asks of
    the same budget, paired by seed (mean difference and its standard error)."""
    by_case: dict[tuple[str, str, str], dict[str, dict[int, dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(dict))
    for r in rows:
        c = r["case"]
        if c["strategy"] == "none" or c["budget_pct"] == budget:
            by_case[(c["split"], c["noise"], c["subtree"])][c["strategy"]][r["seed"]] = r
    trained = (f"trained with `--second-opinion {rule[1:]}`" if rule else
               "the strong answer wins on its items only")
    out = [f"## Issue 30's done-when: recipe new (the shipped encoder), {budget}% re-asked, "
           f"{trained}", "",
           "Per case, means over seeds. weak: the weak annotator's held-out F1; first: the "
           "model trained on weak labels only; contra / random: after re-asking the budget "
           "chosen by contradictions / at random. Δ export: contradictions minus random, "
           "paired by seed, ± one standard error. Checks: export F1 ≥ 0.85, encoder F1 ≥ "
           "weak + 0.10, export precision ≥ 0.80 (contradictions).", "",
           "| split | noise | subtree | seeds | weak F1 | first enc / exp | contra enc / exp "
           "(P) | random enc / exp | Δ export (contra − random) | exp ≥ 0.85 | enc ≥ weak + "
           "0.10 | P ≥ 0.80 |", "|" + "---|" * 12]
    pooled: dict[str, list[float]] = defaultdict(list)
    for (split, noise, subtree), strategies in sorted(by_case.items()):
        contra, rand, first = (strategies.get(k, {}) for k in (
            f"contradictions{rule}", f"random{rule}", "none"))
        if not contra:
            continue
        seeds = sorted(set(contra) & set(rand))
        deltas = [contra[s]["export"]["f1"] - rand[s]["export"]["f1"] for s in seeds]
        pooled[noise] += deltas
        weak = _mean([r["annotator"]["f1"] for r in contra.values()])
        enc, exp = (_mean([r[k]["f1"] for r in contra.values()]) for k in ("encoder", "export"))
        precision = _mean([r["export"]["precision"] for r in contra.values()])
        out.append("| " + " | ".join([
            split, noise, subtree, str(len(contra)), _fmt(weak), _pair(first), _pair(contra)
            + f" ({_fmt(precision)})", _pair(rand), _delta(deltas),
            _check(exp >= 0.85), _check(enc >= weak + 0.10), _check(precision >= 0.80)])
            + " |")
    out += ["", "Contradictions against random, pooled over the cases above (paired by case "
            "and seed):", ""]
    for noise, deltas in sorted(pooled.items()):
        out.append(f"- {noise}: {_delta(deltas)} over {len(deltas)} pairs: "
                   + _verdict(deltas))
    return out


def second_opinion_verdict(rows: list[dict[str, Any]], budget: int) -> list[str]:
    """The rule pre-registered in bench/results/second_opinion_preregistered.md, applied: per
    --second-opinion rule, the mean export F1 over the test-subtree cases after re-asking
    `budget`% by contradictions, and its worst case against `off` (plain contradictions)."""
    cells: dict[str, dict[tuple[str, str], list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        c = r["case"]
        strategy, _, rule = c["strategy"].partition("+")
        if c["split"] == "test" and strategy == "contradictions" and c["budget_pct"] == budget:
            cells[rule or "off"][(c["subtree"], c["noise"])].append(r["export"]["f1"])
    if "off" not in cells:
        return []
    off = {case: _mean(v) for case, v in cells["off"].items()}
    out = ["## Which --second-opinion rule train uses by default", "",
           "The rule fixed before the run (bench/results/second_opinion_preregistered.md): "
           "`closure` if its mean export F1 over the test-subtree cases is at least `off`'s and "
           "no case loses more than 0.02 against `off`; else `drop` under the same test; else "
           "`off`.", "", "| rule | mean export F1 (test cases) | worst case against off | "
           "passes |", "|---|---|---|---|"]
    passing = []
    for rule in ("closure", "drop", "flip", "off"):
        if rule not in cells:
            continue
        means = {case: _mean(v) for case, v in cells[rule].items() if case in off}
        mean = _mean(list(means.values()))
        worst = min(means[c] - off[c] for c in means) if means else float("nan")
        ok = rule != "off" and mean >= _mean([off[c] for c in means]) and worst >= -0.02
        passing += [rule] if ok else []
        out.append(f"| {rule} | {_fmt(mean)} ({len(means)} cases) | {worst:+.3f} | "
                   f"{'yes' if ok else '—' if rule == 'off' else 'no'} |")
    chosen = next((r for r in ("closure", "drop") if r in passing), "off")
    return out + ["", f"Verdict: `{chosen}`."]


def run_export(row: dict[str, Any]) -> dict[str, Any] | None:
    """The export `run --reask-with --verdicts` makes of a row's retrained model: with the
    verdict round where the first re-ask left budget (`export_verdict_round`), else with the
    first re-ask's verdicts; None for a row recorded before the verdict round existed."""
    if row.get("export_verdict_round"):
        return dict(row["export_verdict_round"])
    if row.get("export_verdicts") and row.get("asked", 0) >= row.get("budget", 0):
        return dict(row["export_verdicts"])
    return None


def _verdict_cells(rows: list[dict[str, Any]], budget: int
                   ) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """Rows of the retrained model (contradictions, `budget`%, the default rule) whose
    export with verdicts, as run makes it, was measured; by split, noise and subtree."""
    from umlsgraph.train.second_opinion import DEFAULT_RULE

    cells: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        c = r["case"]
        if (c["strategy"] == f"contradictions+{DEFAULT_RULE}" and c["budget_pct"] == budget
                and run_export(r)):
            cells[(c["split"], c["noise"], c["subtree"])].append(r)
    return cells


def _fp_tops(rows: list[dict[str, Any]]) -> str:
    """Mean held-out false positives of run's export hanging only from island tops in the
    scored half (which the study never asks), of all of them."""
    tops = [r["fp_tops"] for r in rows if r.get("fp_tops")]
    if not tops:
        return "—"
    return (f"{_mean([t['scored_half'] for t in tops]):.0f} of "
            f"{_mean([t['false_positives'] for t in tops]):.0f}")


def _f1_p(exports: list[dict[str, Any]]) -> str:
    return (f"{_fmt(_mean([e['f1'] for e in exports]))} "
            f"({_fmt(_mean([e['precision'] for e in exports]))})")


def verdicts_verdict(rows: list[dict[str, Any]], budget: int, recipe: str) -> list[str]:
    """The rule pre-registered in bench/results/verdicts_preregistered.md (and its amendment:
    read on the export run makes, verdict round included), applied: per case, the export of
    the model retrained after re-asking `budget`% by contradictions (trained with the default
    --second-opinion closure) without and with verdicts, and whether run exports with
    verdicts by default (decided on the encoder's rows only)."""
    from umlsgraph.train.second_opinion import DEFAULT_RULE

    cells = _verdict_cells(rows, budget)
    if not cells:
        return []
    proxy = recipe == "tfidf"
    out = [f"## Export with the stronger annotator's verdicts: recipe {recipe}"
           + (" (TF-IDF PROXY: mechanics only, decides nothing)" if proxy else ""), "",
           "The same retrained model (contradictions, "
           f"{budget}% re-asked, `--second-opinion {DEFAULT_RULE}`), exported as it is, with "
           "the first re-ask's answers as verdicts (`--verdicts STRONG`), and as `run "
           "--verdicts` exports it: the budget the first re-ask left spent on the retrained "
           "model's contradictions first (the verdict round; asked: how many more); means over "
           "seeds, F1 (precision). FPs left: held-out false positives of run's export whose "
           "island tops lie only in the scored half, which the study never asks (a user "
           "would), of all its held-out false positives. The rule fixed before the run "
           "(bench/results/verdicts_preregistered.md, read on run's export): run exports with "
           "verdicts by default if their mean export F1 over the test cases is at least the "
           "plain export's and no test case loses more than 0.02.", "",
           "| split | noise | subtree | seeds | export F1 (P) | with verdicts F1 (P) | "
           "run --verdicts F1 (P) | asked more | Δ F1 (run − plain) | cut by verdicts | "
           "FPs left under scored-half tops |", "|" + "---|" * 11]
    test_deltas: list[float] = []
    for (split, noise, subtree), members in sorted(cells.items()):
        plain = [r["export"] for r in members]
        first_round = [r["export_verdicts"] for r in members]
        judged = [e for r in members if (e := run_export(r))]
        delta = _mean([b["f1"] - a["f1"] for a, b in zip(plain, judged, strict=True)])
        test_deltas += [delta] if split == "test" else []
        more = _mean([r.get("export_verdict_round", {}).get("asked_more", 0) for r in members])
        out.append(f"| {split} | {noise} | {subtree} | {len(members)} | {_f1_p(plain)} | "
                   f"{_f1_p(first_round)} | {_f1_p(judged)} | {more:.1f} | {delta:+.3f} | "
                   f"{_fmt(_mean([p.get('cut', float('nan')) for p in judged]))} | "
                   f"{_fp_tops(members)} |")
    if proxy or not test_deltas:
        return [*out, ""]
    adopted = _mean(test_deltas) >= 0 and min(test_deltas) >= -0.02
    return [*out, "", f"Mean Δ over the test cases {_mean(test_deltas):+.3f}, worst "
            f"{min(test_deltas):+.3f}: verdict: run exports "
            + ("**with** `--verdicts` by default." if adopted else
               "**without** verdicts by default (the option stays)."), ""]


def indicative_verdicts(rows: list[dict[str, Any]], budget: int) -> list[str]:
    """The shipped encoder's rows from INDICATIVE (CPU, fewer seeds than the pre-registered
    three): issue 30's done-when checks read on the export `run --verdicts` makes, beside
    the plain export of the same model. Shown, never applied: the rule needs 3 seeds."""
    from umlsgraph.train.second_opinion import DEFAULT_RULE

    strategy = f"contradictions+{DEFAULT_RULE}"
    first = {(r["case"]["subtree"], r["case"]["noise"], r["seed"]): r for r in rows
             if r["case"]["strategy"] == "none"}
    cells = _verdict_cells(rows, budget)
    if not cells:
        return []
    out = [f"## Indicative, not the study: the shipped encoder on CPU, {budget}% re-asked by "
           f"contradictions, `--second-opinion {DEFAULT_RULE}`, export as `run --verdicts` "
           "makes it", "",
           f"Rows in `{INDICATIVE.name}` (`python bench/reask.py --results "
           f"bench/results/{INDICATIVE.name} --quick --seeds 1 --budgets {budget} "
           f"--strategies {strategy} --subtrees S --noise N`), run on 2 CPU cores while no GPU "
           "was lent: fewer seeds than the 3 the pre-registered rule needs, so they decide "
           "nothing; the GPU call in bench/GPU.md measures the same rows over 3 seeds. "
           "Checks as in the done-when tables, read on run's export with verdicts (the "
           "verdict round included).", "",
           "| split | noise | subtree | seeds | weak F1 | first enc / exp | retrained enc | "
           "export F1 (P) | run --verdicts F1 (P) | asked more | FPs left under scored-half "
           "tops | exp ≥ 0.85 | enc ≥ weak + 0.10 | P ≥ 0.80 |", "|" + "---|" * 14]
    for (split, noise, subtree), members in sorted(cells.items()):
        firsts = {r["seed"]: first[k] for r in members
                  if (k := (subtree, noise, r["seed"])) in first}
        weak, enc = (_mean([r[k]["f1"] for r in members]) for k in ("annotator", "encoder"))
        judged = [e for r in members if (e := run_export(r))]
        f1, precision = (_mean([j[k] for j in judged]) for k in ("f1", "precision"))
        more = _mean([r.get("export_verdict_round", {}).get("asked_more", 0) for r in members])
        out.append("| " + " | ".join([
            split, noise, subtree, str(len(members)), _fmt(weak), _pair(firsts), _fmt(enc),
            _f1_p([r["export"] for r in members]), f"{_fmt(f1)} ({_fmt(precision)})",
            f"{more:.1f}", _fp_tops(members), _check(f1 >= 0.85), _check(enc >= weak + 0.10),
            _check(precision >= 0.80)]) + " |")
    return [*out, ""]


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def _fmt(value: float) -> str:
    return "—" if value != value else f"{value:.3f}"


def _pair(runs: dict[int, dict[str, Any]]) -> str:
    return (f"{_fmt(_mean([r['encoder']['f1'] for r in runs.values()]))} / "
            f"{_fmt(_mean([r['export']['f1'] for r in runs.values()]))}")


def _se(values: list[float]) -> float:
    return statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")


def _delta(deltas: list[float]) -> str:
    return "—" if not deltas else f"{_mean(deltas):+.3f} ± {_fmt(_se(deltas))}"


def _verdict(deltas: list[float]) -> str:
    if len(deltas) < 2:
        return "too few pairs to tell"
    mean, se = _mean(deltas), _se(deltas)
    if mean > 2 * se:
        return "contradictions beat random beyond 2 standard errors"
    if mean < -2 * se:
        return "random beats contradictions beyond 2 standard errors"
    return "contradictions do not beat random beyond 2 standard errors"


def _check(passed: bool) -> str:
    """yes / **no**; a comparison with a missing mean (NaN) is False, shown as no."""
    return "yes" if passed else "**no**"


def q_load(path: Path) -> list[dict[str, Any]]:
    """The latest row of each key and seed."""
    import json

    if not path.is_file():
        return []
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            latest[(row["key"], row["seed"])] = row
    return list(latest.values())


def _table(rows: list[dict[str, Any]]) -> list[str]:
    first = {(r["case"]["subtree"], r["seed"]): r for r in rows if r["case"]["strategy"] == "none"}
    cells: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        cells[(r["case"]["strategy"], r["case"]["budget_pct"])].append(r)
    budgets = sorted({b for s, b in cells if s != "none"})
    header = ["strategy", *[f"{b}% of the sample" for b in budgets]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    none = cells.get(("none", 0), [])
    if none:
        lines.append("| first model (weak labels) | " + " | ".join(
            [_cell(none, first, gain=False)] + [""] * (len(budgets) - 1)) + " |")
    for strategy in sorted({s for s, _ in cells if s != "none"},
                           key=lambda n: (STRATEGIES.index(split_strategy(n)[0]), n)):
        if any((strategy, b) in cells for b in budgets):
            lines.append(f"| {strategy} | " + " | ".join(
                _cell(cells.get((strategy, b), []), first) for b in budgets) + " |")
    return lines


def _cell(rows: list[dict[str, Any]], first: dict[tuple[str, int], dict[str, Any]],
          gain: bool = True) -> str:
    if not rows:
        return "—"
    parts = []
    for part in ("export", "encoder"):
        values = [r[part]["f1"] for r in rows if r.get(part)]
        if not values:
            continue
        text = f"{part} {statistics.fmean(values):.3f}"
        if gain:
            deltas = [r[part]["f1"] - first[(r["case"]["subtree"], r["seed"])][part]["f1"]
                      for r in rows if (r["case"]["subtree"], r["seed"]) in first]
            if deltas:
                text += f" ({statistics.fmean(deltas):+.3f})"
        parts.append(text)
    fixed = [r["fixed"] for r in rows if "fixed" in r]
    asked = [r["asked"] for r in rows if "asked" in r]
    extra = (f"; asked {statistics.fmean(asked):.0f}, of them weak labels fixed "
             f"{statistics.fmean(fixed):.0f}" if fixed and asked else "")
    return ", ".join(parts) + f"{extra}; n={len(rows)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subtrees", default=",".join(list(q.DEV) + ["skeletal", "eye"]))
    parser.add_argument("--noise", default="branches10,misses10")
    parser.add_argument("--sample", type=int, default=2000, help="Weak labels (the sample).")
    parser.add_argument("--budgets", default="2,5,10", help="Strong answers, %% of the sample.")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--recipe", default="new", choices=RECIPES,
                        help="new (the shipped encoder) or tfidf (a proxy: seconds per run).")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--scope", default="half", choices=("half", "store"),
                        help="What the strong annotator may be asked about: the sample's half "
                        "of the concepts (the first study) or any concept, as run asks (its "
                        "answers are then left out of scoring).")
    parser.add_argument("--held-out", type=int, default=0,
                        help="Score this many held-out concepts (0: the whole half).")
    parser.add_argument("--quick", action="store_true", help="Same as --held-out 2000.")
    parser.add_argument("--base-model", default=None, help="Default: the shipped MiniLM.")
    parser.add_argument("--again", action="store_true", help="Run rows already recorded again.")
    parser.add_argument("--render", action="store_true", help="Only render reask.md.")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--work", type=Path, default=q.CACHE / "reask-runs")
    args = parser.parse_args()
    args.held_out_n = 2000 if args.quick and not args.held_out else args.held_out
    q.measure_and_render(args, measure, render)


if __name__ == "__main__":
    main()
