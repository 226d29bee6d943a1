"""How good the labels are: the encoder's predictions or the LLM's annotations against gold.

Gold comes from a file (CSV with a header, or JSON Lines; columns `id` and `label`) or from
SQL selecting (id, label), e.g. the `gold` column of a corpus (`gold_column`). Gold labels may
be spelled as the query's categories or as any of its answer words ("Yes", "y", "true"...).

`evaluate_rows` is the pure part: (gold, predicted) pairs in, metrics out.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb

from umlsgraph.db import annotations, connect
from umlsgraph.db.items import CORPUS_TABLE, CorpusSource, ItemSource
from umlsgraph.errors import InputFileError, StoreError
from umlsgraph.query import Query

PREDICTIONS = "predictions"
ID_COLUMNS = ("id", "cui", "concept")
LABEL_COLUMNS = ("label", "gold")


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


def label_normaliser(query: Query) -> dict[str, str]:
    """Spelling -> category: category names and answer words, lower-cased (1/0 for binary)."""
    lookup: dict[str, str] = {}
    for category, words in query.labels.items():
        for word in words:
            lookup.setdefault(word.lower(), category)
    if len(query.categories) == 2:
        negative = next(c for c in query.categories if c != query.positive)
        lookup.setdefault("1", query.positive)
        lookup.setdefault("0", negative)
    for category in query.categories:
        lookup[category.lower()] = category
    return lookup


def read_gold(path: str | Path, query: Query) -> dict[str, str]:
    """Read a gold file (CSV with header or JSONL; id,label) into {id: category}."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such gold file; give a CSV or JSONL file with "
                             "columns id,label")
    lookup = label_normaliser(query)
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson", ".json")
    rows = _jsonl_rows(path) if jsonl else _csv_rows(path)
    gold: dict[str, str] = {}
    for line, item_id, raw in rows:
        category = lookup.get(str(raw).strip().lower())
        if category is None:
            raise InputFileError(f"{path} line {line}: label '{raw}' is not one of "
                                 f"{query.categories} (or their answer words)")
        if gold.get(item_id, category) != category:
            raise InputFileError(f"{path} line {line}: id '{item_id}' has two different labels")
        gold[item_id] = category
    if not gold:
        raise InputFileError(f"{path}: no gold rows; expected columns id,label")
    return gold


def _pick(columns: Sequence[str], wanted: Sequence[str], path: Path) -> str:
    for name in wanted:
        for column in columns:
            if column.strip().lower() == name:
                return column
    raise InputFileError(f"{path}: needs columns id and label (found: "
                         f"{', '.join(columns) or 'none'})")


def _csv_rows(path: Path) -> Iterable[tuple[int, str, str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            header = f.readline()
            f.seek(0)
            delimiter = next((d for d in ",\t;|" if d in header), ",")
            reader = csv.DictReader(f, delimiter=delimiter)
            id_col = _pick(reader.fieldnames or [], ID_COLUMNS, path)
            label_col = _pick(reader.fieldnames or [], LABEL_COLUMNS, path)
            for line, row in enumerate(reader, start=2):
                if row.get(id_col) in (None, "") or row.get(label_col) in (None, ""):
                    raise InputFileError(f"{path} line {line}: empty id or label")
                yield line, row[id_col].strip(), row[label_col]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputFileError(f"{path}: not a readable CSV file ({exc})") from None


def _jsonl_rows(path: Path) -> Iterable[tuple[int, str, str]]:
    with path.open(encoding="utf-8") as f:
        for line, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError:
                raise InputFileError(f"{path} line {line}: not valid JSON") from None
            if not isinstance(row, dict):
                raise InputFileError(f"{path} line {line}: expected an object with id and label")
            id_col = _pick(list(row), ID_COLUMNS, path)
            label_col = _pick(list(row), LABEL_COLUMNS, path)
            yield line, str(row[id_col]).strip(), str(row[label_col])


def gold_column_sql(source: ItemSource, column: str) -> str:
    """SQL of (id, label) from a column of a corpus (e.g. `gold`), for corpora with answers."""
    if not isinstance(source, CorpusSource):
        raise InputFileError("--gold-column needs --corpus NAME; for concepts give --gold FILE")
    if not column.replace("_", "").isalnum():
        raise InputFileError(f"--gold-column '{column}': not a column name")
    name = source.corpus.replace("'", "''")
    return (f'SELECT id, "{column}" AS label FROM {CORPUS_TABLE} '
            f"WHERE corpus = '{name}' AND \"{column}\" IS NOT NULL")


def predictions_sql(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
                    model: str | None) -> tuple[str, str]:
    """SQL of (id, label) of one model's predictions, and that model's id.

    With no model given, the model that labelled most recently is used.
    """
    from umlsgraph.train.encoder import model_key

    if not _has_table(con, PREDICTIONS):
        raise StoreError("no predictions in the database; run `umlsgraph label` first")
    key = model_key(model) if model else _latest_model(con, query, source)
    if model:
        _check_model_has_predictions(con, query, source, model, key)
    sql = (f"SELECT id, label FROM {PREDICTIONS} WHERE query = {_q(query.name)} "
           f"AND source = {_q(source.key)} AND model = {_q(key)}")
    return sql, key


def _latest_model(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource) -> str:
    rows = con.execute(f"SELECT model FROM {PREDICTIONS} WHERE query = ? AND source = ? "
                       "GROUP BY model ORDER BY max(created_at) DESC LIMIT 1",
                       [query.name, source.key]).fetchall()
    if not rows:
        raise StoreError(f"no predictions for query '{query.name}' on {source.key}; run "
                         f"`umlsgraph label {query.name} --model DIR` first")
    return str(rows[0][0])


def _check_model_has_predictions(con: duckdb.DuckDBPyConnection, query: Query,
                                 source: ItemSource, model: str, key: str) -> None:
    """A --model with no predictions for this query is an error naming the models that have."""
    known = [str(r[0]) for r in con.execute(
        f"SELECT DISTINCT model FROM {PREDICTIONS} WHERE query = ? AND source = ? ORDER BY 1",
        [query.name, source.key]).fetchall()]
    if key not in known:
        raise StoreError(f"--model {model}: no predictions by it for query '{query.name}' on "
                         f"{source.key}; models with predictions: {', '.join(known) or 'none'} "
                         f"(run `umlsgraph label {query.name} --model DIR` first)")


def _has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?",
                            [table]).fetchall()[0][0])


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def evaluate(db: str | Path, query: Query, source: ItemSource, gold: Path | str | None = None,
             what: str = "predictions", model: str | Path | None = None,
             annotator: str | None = None, gold_column: str | None = None,
             gold_sql: str | None = None) -> dict[str, Any]:
    """Score predictions (or annotations) against gold; gold ids without a label are counted
    as `n_missing` and left out of the metrics."""
    if what not in ("predictions", "annotations"):
        raise InputFileError(f"--source {what}: choose predictions or annotations")
    if gold is None and gold_column is None and gold_sql is None:
        raise InputFileError("give the gold labels: --gold FILE (or --gold-column for a corpus)")
    if gold is None and gold_sql is None:
        gold_sql = gold_column_sql(source, gold_column or "")
    gold_map = read_gold(gold, query) if gold is not None else None
    con = connect(db, read_only=True)
    try:
        if what == "predictions":
            labels, used = predictions_sql(con, query, source, str(model) if model else None)
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
    result.update(n_gold=len(gold_map), n_missing=len(gold_map) - result["n"], what=what,
                  query=query.name, source=source.key,
                  **({"model": used} if what == "predictions" else {"annotator": used}))
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
    if not annotations.has_table(con) or not annotations.annotators(con, query.name, source.key):
        raise StoreError(f"no annotations for query '{query.name}' on {source.key}; run "
                         "`umlsgraph annotate` first")
    if annotator and annotator not in annotations.annotators(con, query.name, source.key):
        known = ", ".join(annotations.annotators(con, query.name, source.key))
        raise StoreError(f"--annotator '{annotator}': no annotations by it; known: {known}")
    return annotations.labels_sql(query.name, source.key, annotator), annotator or "all"


def _gold_from_sql(con: duckdb.DuckDBPyConnection, sql: str, query: Query) -> dict[str, str]:
    lookup = label_normaliser(query)
    gold: dict[str, str] = {}
    try:
        rows = con.execute(sql).fetchall()
    except duckdb.Error as exc:
        raise InputFileError(f"cannot read gold labels ({str(exc).splitlines()[0]})") from None
    for item_id, raw in rows:
        category = lookup.get(str(raw).strip().lower())
        if category is None:
            raise InputFileError(f"gold label '{raw}' of item '{item_id}' is not one of "
                                 f"{query.categories} (or their answer words)")
        gold[str(item_id)] = category
    if not gold:
        raise InputFileError("no gold labels found (the gold column is empty)")
    return gold
