"""How good the labels are: the encoder's predictions or the LLM's annotations against gold.

Gold comes from a file (CSV with a header, or JSON Lines; columns `id` and `label`) or from
SQL selecting (id, label), e.g. the `gold` column of a corpus (`gold_column`). Gold labels may
be spelled as the query's categories or as any of its answer words ("Yes", "y", "true"...).

`evaluate_rows` is the pure part: (gold, predicted) pairs in, metrics out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb

from umlsgraph.db import annotation_store, connect, prediction_store
from umlsgraph.db.items import CORPUS_TABLE, ConceptSource, CorpusSource, ItemSource
from umlsgraph.db.sql import identifier, literal
from umlsgraph.errors import InputFileError
from umlsgraph.labelfile import label_lookup, read_label_file, to_category
from umlsgraph.query import Query
from umlsgraph.selection import SelectionOptions, resolve

#: What `eval` scores: the encoder's predictions, the selection `export` makes from them
#: (predictions closed under the hierarchy by its `--closure`), or the LLM's annotations.
WHATS = ("predictions", "selection", "annotations")


def evaluate_rows(pairs: Iterable[tuple[str, str]], categories: Sequence[str],
                  positive: str) -> dict[str, Any]:
    """Metrics of (gold, predicted) label pairs: accuracy, positive-class P/R/F1, macro F1."""
    confusion: Counter[tuple[str, str]] = Counter()
    for gold, predicted in pairs:
        confusion[(gold, predicted)] += 1
    return metrics_from_confusion(confusion, categories, positive)


def metrics_from_confusion(confusion: Counter[tuple[str, str]] | dict[tuple[str, str], int],
                           categories: Sequence[str], positive: str) -> dict[str, Any]:
    """The metrics of a confusion given as {(gold, predicted): count}."""
    n = sum(confusion.values())
    correct = sum(c for (g, p), c in confusion.items() if g == p)
    seen = {g for g, _ in confusion} | {p for _, p in confusion}
    present = [c for c in categories if c in seen] + sorted(seen - set(categories))
    per_class = {c: _prf(confusion, c) for c in present}
    precision, recall, f1 = per_class.get(positive, (0.0, 0.0, 0.0))
    matrix = {g: {p: int(confusion.get((g, p), 0)) for p in present} for g in present}
    return {
        "accuracy": correct / n if n else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "f1_macro": sum(v[2] for v in per_class.values()) / len(per_class) if per_class else 0.0,
        "n": n,
        "positive": positive,
        "confusion": matrix,
    }


def _prf(confusion: Any, category: str) -> tuple[float, float, float]:
    tp = sum(c for (g, p), c in confusion.items() if g == category and p == category)
    fp = sum(c for (g, p), c in confusion.items() if g != category and p == category)
    fn = sum(c for (g, p), c in confusion.items() if g == category and p != category)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def read_gold(path: str | Path, query: Query) -> dict[str, str]:
    """Read a gold file (CSV with header or JSONL; id,label) into {id: category}: the
    project's one id,label reader, strict (the first unusable row is an error)."""
    rows = read_label_file(path, query, strict=True)
    return {item_id: category for item_id, (category, _) in rows.labels.items()}


def gold_column_sql(source: ItemSource, column: str) -> str:
    """SQL of (id, label) from a column of a corpus (e.g. `gold`), for corpora with answers."""
    if not isinstance(source, CorpusSource):
        raise InputFileError("--gold-column needs --corpus NAME; for concepts give --gold FILE")
    if not column.replace("_", "").isalnum():
        raise InputFileError(f"--gold-column '{column}': not a column name")
    col = identifier(column)
    return (f"SELECT id, {col} AS label FROM {CORPUS_TABLE} "
            f"WHERE corpus = {literal(source.corpus)} AND {col} IS NOT NULL")


def predictions_sql(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
                    model: str | None) -> tuple[str, str]:
    """SQL of (id, label) of one model's predictions, and that model's id (see
    `prediction_store.resolve_model`: the given one, else the most recent)."""
    key = prediction_store.resolve_model(con, query.name, source.key, model)
    assert key is not None
    labels = prediction_store.labels_sql(query.name, source.key, key)
    return f"SELECT id, label FROM ({labels})", key


def selection_sql(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
                  model: str | None, closure: str, verdicts: str | None = None
                  ) -> tuple[str, str]:
    """SQL of (id, label) of what `export --closure CLOSURE [--verdicts A]` selects from one
    model's predictions (the predicted positives and the descendants the closure adds): the
    positive category for a selected item, its predicted category otherwise (a verdict's
    "no" included); and the model's id."""
    from umlsgraph.selection import select

    if not isinstance(source, ConceptSource):
        raise InputFileError("--source selection scores a selection of concepts (predictions "
                             "closed under the hierarchy); for a corpus score predictions")
    selection = select(con, query, SelectionOptions(model=model, closure=closure,
                                                    verdicts=verdicts))
    positive = literal(query.positive)
    other = literal(next(c for c in query.categories if c != query.positive))
    return (f"SELECT id, CASE WHEN id IN ({selection.selected_sql}) THEN {positive} "
            f"WHEN predicted = {positive} THEN {other} ELSE predicted END AS label "
            f"FROM ({selection.scores_sql}) WHERE predicted IS NOT NULL"), \
        str(selection.summary["model"])


def evaluate(db: str | Path, query: Query, source: ItemSource, gold: Path | str | None = None,
             what: str = "predictions", model: str | Path | None = None,
             annotator: str | None = None, gold_column: str | None = None,
             gold_sql: str | None = None, closure: str | None = None,
             verdicts: str | None = None) -> dict[str, Any]:
    """Score predictions (or annotations) against gold; gold ids without a label are counted
    as `n_missing` and left out of the metrics. `closure` is the selection's (`export
    --closure`; its default when None), `verdicts` its `--verdicts`."""
    if what not in WHATS:
        raise InputFileError(f"--source {what}: choose {', '.join(WHATS)}")
    for given, flag in ((closure, "--closure"), (verdicts, "--verdicts")):
        if given is not None and what != "selection":
            raise InputFileError(f"{flag} chooses what --source selection scores; drop it or "
                                 f"use --source selection (not {what})")
    if gold is None and gold_column is None and gold_sql is None:
        raise InputFileError("give the gold labels: --gold FILE (or --gold-column for a corpus)")
    if gold is None and gold_sql is None:
        gold_sql = gold_column_sql(source, gold_column or "")
    gold_map = read_gold(gold, query) if gold is not None else None
    con = connect(db, read_only=True)
    try:
        if what == "predictions":
            labels, used = predictions_sql(con, query, source, str(model) if model else None)
        elif what == "selection":
            labels, used = selection_sql(con, query, source, str(model) if model else None,
                                         resolve(closure), verdicts)
        else:
            labels, used = _annotations_sql(con, query, source, annotator)
        if gold_map is None:
            gold_map = _gold_from_sql(con, gold_sql or "", query)
        confusion = _confusion(con, gold_map, labels)
    finally:
        con.close()
    result = metrics_from_confusion(confusion, query.categories, query.positive)
    if result["n"] == 0:
        where = gold if gold is not None else (f"--gold-column {gold_column}" if gold_column
                                               else "the gold labels")
        raise InputFileError(f"{where}: none of its {len(gold_map):,} ids has a label among "
                             f"the {what} of query '{query.name}' on {source.key} ({used}); "
                             "check the ids, --corpus/--split and --model; nothing to score")
    if what == "selection":
        result["closure"] = resolve(closure)
        result |= {"verdicts": verdicts} if verdicts else {}
    result.update(n_gold=len(gold_map), n_missing=len(gold_map) - result["n"], what=what,
                  query=query.name, source=source.key,
                  **({"annotator": used} if what == "annotations" else {"model": used}))
    return result


def _confusion(con: duckdb.DuckDBPyConnection, gold: dict[str, str],
               labels_sql: str) -> dict[tuple[str, str], int]:
    """{(gold, predicted): count}, joined inside DuckDB so only the counts reach Python."""
    import pyarrow as pa

    table = pa.table({"id": list(gold), "label": list(gold.values())})
    con.register("_gold_items", table)
    try:
        rows = con.execute(f"SELECT g.label, p.label, count(*) FROM _gold_items g "
                           f"JOIN ({labels_sql}) p ON p.id = g.id GROUP BY ALL").fetchall()
    finally:
        con.unregister("_gold_items")
    return {(g, p): int(n) for g, p, n in rows}


def _annotations_sql(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
                     annotator: str | None) -> tuple[str, str]:
    chosen = annotation_store.choose_annotators(con, query.name, source.key, annotator)
    return annotation_store.labels_sql(query.name, source.key, chosen), ",".join(chosen)


def _gold_from_sql(con: duckdb.DuckDBPyConnection, sql: str, query: Query) -> dict[str, str]:
    lookup = label_lookup(query)
    gold: dict[str, str] = {}
    try:
        rows = con.execute(sql).fetchall()
    except duckdb.Error as exc:
        raise InputFileError(f"cannot read gold labels ({str(exc).splitlines()[0]})") from None
    for item_id, raw in rows:
        category = to_category(raw, query, lookup)
        if category is None:
            raise InputFileError(f"gold label '{raw}' of item '{item_id}' is not one of "
                                 f"{query.categories} (or their answer words)")
        gold[str(item_id)] = category
    if not gold:
        raise InputFileError("no gold labels found (the gold column is empty)")
    return gold
