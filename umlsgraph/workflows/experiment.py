"""The seed's experiment table on a corpus with gold labels: baseline, LlamBERT, combined.

For each seed the same encoder is fine-tuned three ways and scored on the gold test split:

- **baseline**: on the gold labels of the train texts;
- **LlamBERT**: on an LLM's labels of the same train texts;
- **combined**: on the LLM's labels, then further on the gold labels (`init_model`).

Everything goes through the normal pipeline: gold train labels are imported as annotations
of annotator ``gold:<corpus>``, models come from `training.train`, test predictions from
`labeling.label`, scores from `evaluation.evaluate` against the corpus's gold column. With
more than one seed each figure is a mean with a 95% confidence interval (t-distribution).
Finished trainings are found again in `out`, so a re-run only does what is missing.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from umlsgraph.db import annotation_store, connect
from umlsgraph.db.annotation_store import Annotation
from umlsgraph.db.items import CORPUS_TABLE, CorpusSource
from umlsgraph.db.items import SubsetSource as SampledSource
from umlsgraph.db.sql import literal
from umlsgraph.errors import AnnotationError, ExperimentError, InputFileError
from umlsgraph.query import Query
from umlsgraph.settings import ExperimentConfig

GOLD_HASH = "gold"
# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom (then 1.96).
T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
       2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
       2.060, 2.056, 2.052, 2.048, 2.045, 2.042)

Step = Callable[[str], None]


@dataclass
class ExperimentResult:
    """Per-seed metrics of each condition, their summary, and the settings that made them."""

    query: str
    corpus: str
    settings: dict[str, Any]
    runs: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)


# --- samples and labels, as SQL -----------------------------------------------------------



def sample_sql(corpus: str, split: str, size: int | None, seed: int,
               gold_only: bool = True) -> str:
    """SQL of the ids of a reproducible random sample of a split's texts (with gold labels,
    unless `gold_only` is False). With the same seed and filter a smaller sample is part of a
    larger one."""
    limit = f" LIMIT {int(size)}" if size else ""
    gold = " AND gold IS NOT NULL" if gold_only else ""
    return (f"SELECT id FROM {CORPUS_TABLE} WHERE corpus = {literal(corpus)} "
            f"AND split = {literal(split)}{gold} ORDER BY md5(id || ':{int(seed)}'){limit}")


def gold_sql(corpus: str, ids_sql: str) -> str:
    """SQL of (id, label): the gold labels of the selected texts."""
    return (f"SELECT id, gold AS label FROM {CORPUS_TABLE} WHERE corpus = {literal(corpus)} "
            f"AND id IN ({ids_sql})")


def restrict(labels_sql: str, ids_sql: str) -> str:
    """Labels (id, label) of the selected ids only."""
    return f"SELECT id, label FROM ({labels_sql}) WHERE id IN ({ids_sql})"


def import_gold(db: str | Path, query: Query, corpus: str, split: str) -> int:
    """Store the gold labels of a split as annotations of annotator `gold:<corpus>`.

    Labels are normalised to the query's categories (answer words like "pos" count); a label
    that is none of them is a one-line error. Returns the number of labels stored.
    """
    from umlsgraph.labelfile import label_lookup, to_category

    lookup = label_lookup(query)
    con = connect(db)
    try:
        rows = con.execute(f"SELECT id, gold FROM {CORPUS_TABLE} WHERE corpus = ? AND split = ? "
                           "AND gold IS NOT NULL ORDER BY id", [corpus, split]).fetchall()
        batch = []
        for item_id, raw in rows:
            category = to_category(raw, query, lookup)
            if category is None:
                raise InputFileError(f"corpus '{corpus}': gold label '{raw}' of '{item_id}' is "
                                     f"not one of {query.categories}; reload it with --label-map")
            batch.append(Annotation(item_id, category, str(raw)))
        source = CorpusSource(corpus).key
        return annotation_store.write(con, query.name, source, f"gold:{corpus}", GOLD_HASH, batch)
    finally:
        con.close()


# --- the run ------------------------------------------------------------------------------

def run_experiment(db: str | Path, query: Query, corpus: str, config: ExperimentConfig,
                   on_step: Step | None = None) -> ExperimentResult:
    """Run the three conditions for every seed and summarise them (see the module doc)."""
    step = on_step or (lambda _text: None)
    train_ids = sample_sql(corpus, config.train_split, config.train_size, config.sample_seed)
    test_ids = sample_sql(corpus, config.test_split, config.test_size, config.sample_seed)
    sizes = _check_corpus(db, query, corpus, config, train_ids, test_ids)
    step(f"importing gold labels of split '{config.train_split}' as gold:{corpus}")
    import_gold(db, query, corpus, config.train_split)
    gold_labels = restrict(annotation_store.labels_sql(query.name, CorpusSource(corpus).key,
                                                  [f"gold:{corpus}"]), train_ids)
    llm_ids = train_ids if config.llm_size is None else sample_sql(
        corpus, config.train_split, config.llm_size, config.sample_seed, gold_only=False)
    annotator, llm_labels = _llm_labels(db, query, corpus, config, llm_ids, test_ids, step)
    sizes["llm_labels"] = _count(db, llm_labels)
    result = ExperimentResult(query.name, corpus,
                              _settings(config, query.name, corpus, annotator, sizes))
    for seed in config.seeds:
        result.runs.extend(_run_seed(db, query, corpus, config, seed, gold_labels, llm_labels,
                                     test_ids, step))
    llm_row = _score_annotator(db, query, corpus, annotator, test_ids)
    if llm_row:
        result.runs.append(llm_row)
    result.summary = summarise(result.runs)
    return result


def _llm_labels(db: str | Path, query: Query, corpus: str, config: ExperimentConfig,
                llm_ids: str, test_ids: str, step: Step) -> tuple[str, str]:
    """(annotator, SQL of its labels of the LLM sample), annotating first with --annotate-with."""
    annotator = config.llm_annotator or ""
    if config.annotate_with:
        annotator = _annotate(db, query, corpus, config.train_split, llm_ids,
                              config.annotate_with, step)
        if config.score_llm:
            _annotate(db, query, corpus, config.test_split, test_ids, config.annotate_with, step)
    source_key = CorpusSource(corpus).key
    labels = restrict(annotation_store.labels_sql(query.name, source_key, [annotator]), llm_ids)
    if not _count(db, labels):
        raise AnnotationError(f"annotator '{annotator}' has no labels for the sampled texts of "
                              f"split '{config.train_split}'; annotate them first "
                              f"(`umlsgraph annotate {query.name} --corpus {corpus} …`)")
    return annotator, labels


def _check_corpus(db: str | Path, query: Query, corpus: str, config: ExperimentConfig,
                  train_ids: str, test_ids: str) -> dict[str, int]:
    """Sizes of the train and test samples; an error when a split has no gold labels."""
    con = connect(db, read_only=True)
    try:
        CorpusSource(corpus).check(con)
        sizes = {"train": _count_con(con, train_ids), "test": _count_con(con, test_ids)}
    finally:
        con.close()
    for key, split in (("train", config.train_split), ("test", config.test_split)):
        if sizes[key] == 0:
            raise ExperimentError(f"corpus '{corpus}' has no texts with gold labels in split "
                                  f"'{split}'; load it with --label-column and --split-column "
                                  "(or --holdout)")
    return sizes


def _count_con(con: Any, sql: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0])


def _count(db: str | Path, sql: str) -> int:
    con = connect(db, read_only=True)
    try:
        return _count_con(con, sql)
    finally:
        con.close()


def _settings(config: ExperimentConfig, query: str, corpus: str, annotator: str,
              sizes: dict[str, int]) -> dict[str, Any]:
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
    settings.update(llm_annotator=annotator, n_train=sizes["train"], n_test=sizes["test"],
                    n_llm_labels=sizes["llm_labels"], seeds=list(config.seeds),
                    runs_dir=str(config.runs_dir(query, corpus)))
    settings.pop("annotate_with", None)
    return settings


def _annotate(db: str | Path, query: Query, corpus: str, split: str, ids_sql: str,
              spec: str, step: Step) -> str:
    """Run the `--annotate-with` annotator on a sample of a split; returns its name.

    Goes through `annotating.annotate` on the sample as an item source, so texts already
    answered by this annotator are not asked again.
    """
    from umlsgraph.annotate.driver import annotate

    step(f"annotating split '{split}' with {spec}")
    source = SampledSource(CorpusSource(corpus, split), ids_sql)
    n = _count(db, ids_sql)
    return annotate(db, query, source, annotator=spec, n=n, progress=False).annotator


def _run_seed(db: str | Path, query: Query, corpus: str, config: ExperimentConfig, seed: int,
              gold_labels: str, llm_labels: str, test_ids: str, step: Step) -> list[dict]:
    """Train baseline, LlamBERT and combined with one seed; score each on the test sample."""
    folder = config.runs_dir(query.name, corpus) / f"seed{seed}"
    plan = [("baseline", gold_labels, None), ("LlamBERT", llm_labels, None),
            ("combined", gold_labels, folder / "LlamBERT")]
    rows = []
    for name, labels, init in plan:
        step(f"seed {seed}: training {name} ({config.epochs} epochs) into {folder / name}")
        model_dir = _train(db, query, corpus, config, seed, labels, folder / name, init)
        step(f"seed {seed}: scoring {name} on split '{config.test_split}'")
        metrics = _score_model(db, query, corpus, config, model_dir, test_ids)
        rows.append({"condition": name, "seed": seed, "model": str(model_dir), **metrics})
    return rows


def _train(db: str | Path, query: Query, corpus: str, config: ExperimentConfig, seed: int,
           labels_sql: str, out: Path, init: Path | None) -> Path:
    from umlsgraph.settings import TrainConfig
    from umlsgraph.train.trainer import train

    train_config = TrainConfig(base_model=config.base_model, epochs=config.epochs,
                               max_length=config.max_length, batch_size=config.batch_size,
                               lr=config.lr, seed=seed, min_steps=config.min_steps,
                               device=config.device)
    source = CorpusSource(corpus, config.train_split)
    train(db, query, source, train_config, out, labels_sql=labels_sql, init_model=init,
          progress=False)
    return out


def _score_model(db: str | Path, query: Query, corpus: str, config: ExperimentConfig,
                 model_dir: Path, test_ids: str) -> dict[str, Any]:
    from umlsgraph.evaluate.evaluation import evaluate
    from umlsgraph.label.labeller import label

    source = SampledSource(CorpusSource(corpus, config.test_split), test_ids)
    label(db, query, source, model_dir, progress=False)
    metrics = evaluate(db, query, source, gold_sql=gold_sql(corpus, test_ids), model=model_dir)
    return _pick(metrics)


def _score_annotator(db: str | Path, query: Query, corpus: str, annotator: str,
                     test_ids: str) -> dict[str, Any] | None:
    """The LLM's own labels against gold on the test sample, when it labelled test texts."""
    from umlsgraph.evaluate.evaluation import evaluate

    source = CorpusSource(corpus)
    labels = restrict(annotation_store.labels_sql(query.name, source.key, [annotator]), test_ids)
    if not _count(db, labels):
        return None
    metrics = evaluate(db, query, source, gold_sql=gold_sql(corpus, test_ids),
                       what="annotations", annotator=annotator)
    return {"condition": f"LLM ({annotator})", "seed": None, "model": annotator,
            **_pick(metrics)}


def _pick(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: metrics[k] for k in ("accuracy", "f1", "f1_macro", "n")}


# --- summary and rendering ----------------------------------------------------------------

def mean_ci(values: list[float]) -> tuple[float, float | None]:
    """Mean and the half-width of its 95% t confidence interval (None for one value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    df = len(values) - 1
    t = T95[df - 1] if df <= len(T95) else 1.96
    return mean, t * statistics.stdev(values) / math.sqrt(len(values))


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{condition: {metric: (mean, half-width), n_seeds}} in the order the runs came."""
    summary: dict[str, dict[str, Any]] = {}
    for condition in dict.fromkeys(r["condition"] for r in runs):
        rows = [r for r in runs if r["condition"] == condition]
        entry: dict[str, Any] = {"seeds": len(rows), "n_test": rows[0]["n"]}
        for metric in ("accuracy", "f1", "f1_macro"):
            mean, half = mean_ci([r[metric] for r in rows])
            entry[metric] = {"mean": mean, "ci95": half}
        summary[condition] = entry
    return summary


def format_cell(cell: dict[str, Any]) -> str:
    """'0.812 ± 0.013' with several seeds, '0.812' with one."""
    if cell["ci95"] is None:
        return f"{cell['mean']:.3f}"
    return f"{cell['mean']:.3f} ± {cell['ci95']:.3f}"


def describe_settings(result: ExperimentResult) -> str:
    """One line with what was run: sizes, encoder, annotator, training settings, seeds."""
    s = result.settings
    return (f"query {result.query}, corpus {result.corpus}; train {s['n_train']} texts "
            f"(split {s['train_split']}, {s['n_llm_labels']} with LLM labels), test "
            f"{s['n_test']} (split {s['test_split']}); encoder {s['base_model']}; LLM "
            f"labels: {s['llm_annotator']}; {s['epochs']} epochs, lr {s['lr']}, batch "
            f"{s['batch_size']}, max length {s['max_length']}; seeds "
            f"{', '.join(map(str, s['seeds']))}")


def to_markdown(result: ExperimentResult) -> str:
    """The table as Markdown, settings underneath (the README's format)."""
    lines = ["| model | accuracy | F1 (positive) | macro F1 | seeds |",
             "|---|---|---|---|---|"]
    for condition, entry in result.summary.items():
        lines.append(f"| {condition} | {format_cell(entry['accuracy'])} | "
                     f"{format_cell(entry['f1'])} | {format_cell(entry['f1_macro'])} | "
                     f"{entry['seeds']} |")
    several = any(e["accuracy"]["ci95"] is not None for e in result.summary.values())
    note = " Mean ± 95% CI half-width (t-distribution) over seeds." if several else ""
    return "\n".join(lines) + f"\n\n{describe_settings(result)}.{note}\n"
