"""What the encoder learns from: one annotator's labels joined with the item text, split and
weighted.

`load_examples` joins the labels (whose labels count: `annotation_store.choose_annotators`)
with the same text the LLM saw, rendered in DuckDB with the query's text options (the
training defaults add the hierarchy: parents' and grandparents' names). `split` holds out a
stratified validation share; `data_hash` names exactly what is learnt, so a resumed run
never continues on other data.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from umlsgraph.db import annotation_store, connect
from umlsgraph.db.items import ConceptSource, ItemSource
from umlsgraph.errors import AnnotationError, TrainingError
from umlsgraph.query import Query
from umlsgraph.settings import TrainConfig
from umlsgraph.train.second_opinion import DEFAULT_RULE, second_opinion_labels_sql


@dataclass
class Example:
    id: str
    label: int
    text: str


def training_text(query: Query, config: TrainConfig) -> Query:
    """The query with the config's extra text parts switched on (what the encoder reads)."""
    if not config.text:
        return query
    return replace(query, text=replace(query.text, **{part: True for part in config.text}))


def load_examples(db: str | Path, query: Query, source: ItemSource,
                  labels_sql: str | None = None, annotator: str | None = None,
                  second_opinion: str = DEFAULT_RULE) -> list[Example]:
    """The labelled items joined with their text, ordered by id. Unknown labels are an error.
    With several annotators the first is a second opinion over the others, read on concepts
    under `second_opinion` (umlsgraph.train.second_opinion)."""
    con = connect(db, read_only=True)
    try:
        source.check(con)
        if labels_sql is None:
            labels_sql = _annotation_labels(con, query, source, annotator, second_opinion)
        ids_sql = f"SELECT id FROM ({labels_sql})"
        rows = con.execute(
            f"SELECT l.id, l.label, t.text FROM ({labels_sql}) l "
            f"JOIN ({source.texts_sql(query, ids_sql)}) t ON t.id = l.id ORDER BY l.id"
        ).fetchall()
    finally:
        con.close()
    index = {c: i for i, c in enumerate(query.categories)}
    unknown = sorted({str(label) for _, label, _ in rows if label not in index})
    if unknown:
        raise AnnotationError(f"labels {unknown[:5]} are not categories of query '{query.name}' "
                              f"({query.categories})")
    return [Example(str(i), index[label], text or "") for i, label, text in rows]


def _annotation_labels(con: Any, query: Query, source: ItemSource, annotator: str | None,
                       second_opinion: str = DEFAULT_RULE) -> str:
    chosen = annotation_store.choose_annotators(con, query.name, source.key, annotator)
    if len(chosen) > 1 and source.key == ConceptSource.key:  # a branch needs the hierarchy
        return second_opinion_labels_sql(query.name, source.key, chosen, second_opinion,
                                         query.positive)
    return annotation_store.labels_sql(query.name, source.key, chosen)


def data_hash(examples: list[Example], query: Query) -> str:
    """A hash of exactly what is learnt: ids, labels, texts and the label map."""
    digest = hashlib.sha256(json.dumps([query.categories, query.positive]).encode())
    for ex in examples:
        digest.update(f"{ex.id}\t{ex.label}\t{ex.text}\n".encode())
    return digest.hexdigest()[:16]


def split(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example],
                                                                      list[Example]]:
    """A stratified (train, validation) split: `fraction` of each class, at least one each."""
    rng = random.Random(seed)
    train: list[Example] = []
    val: list[Example] = []
    for label in sorted({ex.label for ex in examples}):
        group = [ex for ex in examples if ex.label == label]
        rng.shuffle(group)
        k = round(len(group) * fraction)
        if fraction > 0 and len(group) >= 2:
            k = min(max(k, 1), len(group) - 1)
        val.extend(group[:k])
        train.extend(group[k:])
    return train, val


def check_examples(train: list[Example], categories: list[str]) -> None:
    """Refuse label sets that cannot train a classifier (too few, or a single class)."""
    present = {ex.label for ex in train}
    if len(train) < 4 or len(present) < 2:
        counts = {categories[c]: sum(ex.label == c for ex in train) for c in present}
        raise TrainingError(f"need labelled items of at least two categories to train "
                            f"(training split has {counts or 'none'}); annotate more items")


def class_weights(train: list[Example], n_classes: int, mode: str) -> list[float]:
    """'balanced': n / (classes * count) per class, as scikit-learn; 'sqrt': its square root
    (tempered); 'none': all ones."""
    counts = [sum(ex.label == c for ex in train) for c in range(n_classes)]
    if mode == "none":
        return [1.0] * n_classes
    present = sum(1 for c in counts if c)
    power = 0.5 if mode == "sqrt" else 1.0
    return [(len(train) / (present * c)) ** power if c else 1.0 for c in counts]
