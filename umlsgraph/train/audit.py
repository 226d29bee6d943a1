"""Find the annotations most likely wrong: k-fold out-of-sample probabilities + confident learning.

The annotated sample is split into `folds` stratified folds; for each fold an encoder is
fine-tuned on the other folds with the project's trainer and predicts the held-out fold, so
every label gets a probability from a model that never saw it. Confident learning
(Northcutt et al. 2021, through `cleanlab.filter.find_label_issues`) then flags the labels
that the out-of-sample probabilities contradict more than the estimated noise rates allow.
Where the annotator stored its own P(positive) (hf constrained, openai/vLLM logprobs), it is
mixed into the probabilities with weight `annotator_weight`, so a label the annotator itself
was unsure of needs less evidence to be flagged.

Everything is stored in DuckDB (`umlsgraph.db.audit_store`) as it is made: the fold plan first,
then each fold's probabilities as the fold finishes, then the flags. Re-running the same
audit resumes at the first fold without probabilities (and inside a fold, the trainer resumes
from its checkpoint).

Library use::

    from umlsgraph.train.audit import audit
    result = audit("hpo.duckdb", "hpo_nervous", train_config=TrainConfig(base_model=MINILM))
    result.suspects          # [Suspect(id, label, predicted, p_positive, quality, ...)]
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from umlsgraph.db import annotation_store, connect
from umlsgraph.db import audit_store as store
from umlsgraph.db.items import ConceptSource, ItemSource, fetch_texts
from umlsgraph.errors import AuditError, missing_extra
from umlsgraph.query import Query, load_query
from umlsgraph.settings import FOLD_EPOCHS, AuditConfig, TrainConfig
from umlsgraph.train.data import Example, data_hash, load_examples, training_text
from umlsgraph.train.trainer import train


def fold_config(config: TrainConfig | None = None, epochs: int = FOLD_EPOCHS
               ) -> TrainConfig:
    """The training settings of a fold model: `config`'s, with no validation split (each fold
    trains on all its labels and keeps its last epoch) and no step minimum, so `epochs` is
    what runs. Early epochs give better out-of-sample probabilities for noisy labels: later
    ones memorise the wrong labels too."""
    base = config or TrainConfig()
    return replace(base, epochs=epochs, min_steps=0, val_fraction=0.0)


@dataclass(frozen=True)
class Suspect:
    """An annotation the audit flags: the annotator's label and what the evidence says."""

    id: str
    label: str
    predicted: str
    p_positive: float
    quality: float
    annotator_score: float | None
    text: str


@dataclass
class AuditResult:
    """What an audit found (`suspects`, least supported first) and what it cost."""

    query: str
    source: str
    annotator: str
    n: int
    folds: int
    folds_trained: int
    resumed: bool
    used_annotator_scores: bool
    suspects: list[Suspect] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["n_suspects"] = len(self.suspects)
        return data


def audit(db: str | Path, query: Query | str, source: ItemSource | None = None,
          annotator: str | None = None, train_config: TrainConfig | None = None,
          config: AuditConfig | None = None, progress: bool = True,
          on_fold: Callable[[int, int], None] | None = None) -> AuditResult:
    """Audit one annotator's labels of `query` (the only annotator when none is named).

    `train_config` is used as is for the fold models (pass `fold_config(...)` for the cheap
    default); `on_fold(fold, folds)` is called after each fold's probabilities are stored.
    """
    started = time.monotonic()
    query = load_query(query) if isinstance(query, str) else query
    source = _source(source)
    config = config or AuditConfig()
    train_config = train_config or fold_config()
    name, scores = _annotator(db, query, source, annotator)
    examples = load_examples(db, training_text(query, train_config), source, annotator=name)
    _check_examples(examples, query, config.folds)
    folds = assign_folds([e.id for e in examples], [e.label for e in examples], config.folds,
                         config.seed)
    key = _audit_key(examples, query, config, train_config)
    con = connect(db)
    try:
        rows = [(e.id, query.categories[e.label], folds[e.id], scores.get(e.id)) for e in examples]
        resumed = store.start(con, query.name, source.key, name, key, rows)
        todo = [f for f in range(config.folds)
                if f not in store.done_folds(con, query.name, source.key, name)]
    finally:
        con.close()
    texts = {e.id: e.text for e in examples}
    work = _work_dir(db, query, config)
    for fold in todo:
        _run_fold(db, query, source, name, fold, train_config, work, texts, progress)
        if on_fold:
            on_fold(fold + 1, config.folds)
    if not config.keep_models:
        _remove_fold_models(work, config)
    used = _flag(db, query, source, name, config)
    found = _suspects(db, query, source, name, texts)
    return AuditResult(query.name, source.key, name, len(examples), config.folds, len(todo),
                       resumed, used, found, time.monotonic() - started)


def _source(source: ItemSource | None) -> ItemSource:
    return source if source is not None else ConceptSource()


def _annotator(db: str | Path, query: Query, source: ItemSource,
               annotator: str | None) -> tuple[str, dict[str, float]]:
    """The annotator to audit (the one rule of `annotation_store.choose_annotators`) and its
    stored scores when they are probabilities (a margin, as `embed` stores, is not used)."""
    con = connect(db, read_only=True)
    try:
        source.check(con)
        name = _one_annotator(con, query, source, annotator)
        scores = annotation_store.scores(con, query.name, source.key, name)
    finally:
        con.close()
    if not scores or not all(0.0 <= s <= 1.0 for s in scores.values()):
        return name, {}
    return name, scores


def _one_annotator(con: Any, query: Query, source: ItemSource, annotator: str | None) -> str:
    """`annotation_store.choose_annotators`, held to one annotator: an audit judges one
    annotator's labels (its flags are that annotator's)."""
    chosen = annotation_store.choose_annotators(con, query.name, source.key, annotator)
    if len(chosen) != 1:
        raise AuditError(f"--annotator {annotator}: an audit checks one annotator's labels; "
                         f"name one of {', '.join(chosen)}")
    return chosen[0]


def _check_examples(examples: list[Example], query: Query, folds: int) -> None:
    counts = {c: sum(e.label == i for e in examples) for i, c in enumerate(query.categories)}
    present = {c: k for c, k in counts.items() if k}
    if len(present) < 2 or min(present.values()) < folds:
        raise AuditError(f"an audit with {folds} folds needs at least {folds} labels of each of "
                         f"two categories (have {present or 'none'}); annotate more items or "
                         "lower --folds")


def assign_folds(ids: list[str], labels: list[int], folds: int, seed: int) -> dict[str, int]:
    """Stratified, reproducible folds: within each label, ids in md5(seed:id) order, dealt
    round-robin, so every fold holds each class in proportion."""
    out: dict[str, int] = {}
    for label in sorted(set(labels)):
        group = sorted((i for i, lab in zip(ids, labels, strict=True) if lab == label),
                       key=lambda i: hashlib.md5(f"{seed}:{i}".encode()).hexdigest())
        out.update({i: k % folds for k, i in enumerate(group)})
    return out


def _audit_key(examples: list[Example], query: Query, config: AuditConfig,
               train_config: TrainConfig) -> str:
    payload = {"data": data_hash(examples, query), "folds": config.folds, "seed": config.seed,
               "train": train_config.fingerprint()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _work_dir(db: str | Path, query: Query, config: AuditConfig) -> Path:
    """Where fold models are trained: `work_dir`, else a hidden folder beside the database."""
    if config.work_dir is not None:
        return Path(config.work_dir)
    path = Path(db)
    return path.parent / f".{path.name}.audit" / query.name


def _remove_fold_models(work: Path, config: AuditConfig) -> None:
    """Delete the fold models, and the hidden folder beside the database that held them
    when nothing else is left in it (a `work_dir` the user chose is theirs to keep)."""
    shutil.rmtree(work, ignore_errors=True)
    if config.work_dir is None:
        try:
            work.parent.rmdir()
        except OSError:  # another query's fold models are still there, or it is gone
            pass


def _run_fold(db: str | Path, query: Query, source: ItemSource, annotator: str, fold: int,
              train_config: TrainConfig, work: Path, texts: dict[str, str],
              progress: bool) -> None:
    """Train on the other folds, predict this one, store its probabilities."""
    from umlsgraph.inference.model import EncoderModel

    out = work / f"fold-{fold}"
    labels_sql = store.training_labels_sql(query.name, source.key, annotator, fold)
    train(db, query, source, train_config, out, labels_sql=labels_sql,
          annotator=f"{annotator} (audit fold {fold})", progress=progress)
    con = connect(db, read_only=True)
    try:
        ids = store.fold_ids(con, query.name, source.key, annotator, fold)
    finally:
        con.close()
    model = EncoderModel(out, device=train_config.device)
    probs = model.predict_proba([texts[i] for i in ids])
    con = connect(db)
    try:
        store.write_probabilities(con, query.name, source.key, annotator, ids, probs,
                                  query.categories.index(query.positive))
    finally:
        con.close()


def _flag(db: str | Path, query: Query, source: ItemSource, annotator: str,
          config: AuditConfig) -> bool:
    """Confident learning over the stored probabilities; stores quality and suspect flags.
    Returns whether the annotator's own scores were mixed in."""
    con = connect(db)
    try:
        rows = store.flags(con, query.name, source.key, annotator)
        labels = [query.categories.index(r.label) for r in rows]
        probs = [list(r.probabilities or ()) for r in rows]
        scores = [r.annotator_score for r in rows]
        mixed, used = combine(probs, scores, query.categories.index(query.positive),
                              config.annotator_weight)
        quality, suspect = confident_learning(labels, mixed, config.filter_by)
        store.write_flags(con, query.name, source.key, annotator, [r.id for r in rows],
                          quality, suspect)
    finally:
        con.close()
    return used


def combine(probs: list[list[float]], scores: list[float | None], positive: int,
            weight: float) -> tuple[list[list[float]], bool]:
    """Mix the annotator's P(positive) into the encoder's probabilities (binary queries only,
    items with a score only): (1 - weight) * encoder + weight * annotator."""
    if weight <= 0 or not any(s is not None for s in scores) or len(probs[0]) != 2:
        return probs, False
    out = []
    for p, s in zip(probs, scores, strict=True):
        if s is None:
            out.append(p)
            continue
        ann = [1.0 - s, 1.0 - s]
        ann[positive] = s
        out.append([(1 - weight) * a + weight * b for a, b in zip(p, ann, strict=True)])
    return out, True


def confident_learning(labels: list[int], probs: list[list[float]],
                       filter_by: str = "prune_by_noise_rate") -> tuple[list[float], list[bool]]:
    """(label quality, is a label issue) per item, by cleanlab's confident learning."""
    try:
        import numpy as np
        from cleanlab.filter import find_label_issues  # type: ignore[import-untyped]
        from cleanlab.rank import get_label_quality_scores  # type: ignore[import-untyped]
    except ImportError:
        raise missing_extra("cleanlab", "ml") from None
    y = np.asarray(labels, dtype=int)
    p = np.asarray(probs, dtype=float)
    p = p / p.sum(axis=1, keepdims=True)
    issues = find_label_issues(y, p, filter_by=filter_by)
    quality = get_label_quality_scores(y, p)
    return [float(q) for q in quality], [bool(i) for i in issues]


def _suspects(db: str | Path, query: Query, source: ItemSource, annotator: str,
              texts: dict[str, str] | None = None) -> list[Suspect]:
    con = connect(db, read_only=True)
    try:
        flagged = [f for f in store.flags(con, query.name, source.key, annotator) if f.suspect]
        if texts is None:
            texts = fetch_texts(con, query, source, [f.id for f in flagged]) if flagged else {}
    finally:
        con.close()
    positive = query.categories.index(query.positive)
    out = []
    for f in flagged:
        probs = list(f.probabilities or ())
        best = max(range(len(probs)), key=probs.__getitem__) if probs else positive
        out.append(Suspect(f.id, f.label, query.categories[best], float(probs[positive]),
                           float(f.quality or 0.0), f.annotator_score, texts.get(f.id, "")))
    return out


def suspects(db: str | Path, query: Query | str, source: ItemSource | None = None,
             annotator: str | None = None) -> list[Suspect]:
    """The stored flags of a finished audit, least supported first (no training)."""
    query = load_query(query) if isinstance(query, str) else query
    source = _source(source)
    con = connect(db, read_only=True)
    try:
        name = _one_annotator(con, query, source, annotator)
        store.suspects_sql(con, query.name, source.key, name)  # no finished audit: one line
    finally:
        con.close()
    return _suspects(db, query, source, name)


def labels_without_suspects(db: str | Path, query: Query, source: ItemSource,
                            annotator: str | None = None) -> tuple[str, str]:
    """(labels SQL, annotator) for training on one annotator's labels minus its audit's
    suspects; a StoreError when that annotator has no finished audit."""
    con = connect(db, read_only=True)
    try:
        name = _one_annotator(con, query, source, annotator)
        flagged = store.suspects_sql(con, query.name, source.key, name)
    finally:
        con.close()
    labels = annotation_store.labels_sql(query.name, source.key, [name])
    return f"SELECT * FROM ({labels}) WHERE id NOT IN ({flagged})", name
