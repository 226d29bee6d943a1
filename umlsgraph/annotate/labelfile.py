"""Label files made elsewhere (gold sets, human labels, another tool's output): CSV or JSONL.

A CSV (or TSV) needs a header with an id column (``id``, ``cui`` or ``item``) and a label
column (``label``, ``category``, ``gold`` or ``answer``); a JSONL file has one object per line
with the same keys. A label may be a category name or any of the query's answer words,
in any case ("Yes", "y", "no"). Rows that cannot be used are counted with examples, not
silently dropped.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from umlsgraph.annotate.parsing import normalise, parse_answer
from umlsgraph.errors import InputFileError
from umlsgraph.query import Query

ID_COLUMNS = ("id", "cui", "item", "item_id")
LABEL_COLUMNS = ("label", "category", "gold", "answer")
JSON_SUFFIXES = {".jsonl", ".ndjson", ".json"}
MAX_EXAMPLES = 5


@dataclass
class LabelRows:
    """The usable labels (id -> (category, raw label)) and the rows that were not usable."""

    labels: dict[str, tuple[str, str]] = field(default_factory=dict)
    bad: int = 0
    bad_examples: list[str] = field(default_factory=list)

    def reject(self, where: str, why: str) -> None:
        self.bad += 1
        if len(self.bad_examples) < MAX_EXAMPLES:
            self.bad_examples.append(f"{where}: {why}")


def read_labels(path: str | Path, query: Query) -> LabelRows:
    """Read and validate a labels file against `query`'s categories (a later row for the
    same id replaces an earlier one)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such labels file")
    rows = LabelRows()
    reader = _json_rows if path.suffix.lower() in JSON_SUFFIXES else _csv_rows
    for where, item_id, raw in reader(path):
        category = to_category(raw, query)
        if item_id is None:
            rows.reject(where, raw)
        elif not item_id:
            rows.reject(where, "no id")
        elif category is None:
            rows.reject(where, f"label {raw!r} is not one of {query.categories}")
        else:
            rows.labels[item_id] = (category, raw)
    if not rows.labels:
        raise InputFileError(f"{path}: no usable labels ({rows.bad} bad rows; first: "
                             f"{rows.bad_examples[0] if rows.bad_examples else 'file is empty'})")
    return rows


def to_category(raw: str, query: Query) -> str | None:
    """A label's category: a category name (any case) or an answer word, else None."""
    by_name = {normalise(c): c for c in query.categories}
    return by_name.get(normalise(raw)) or parse_answer(raw, query.labels) if raw else None


def _pick(columns: list[str], wanted: tuple[str, ...], path: Path, what: str) -> str:
    lower = {c.strip().lower(): c for c in columns}
    for name in wanted:
        if name in lower:
            return lower[name]
    raise InputFileError(f"{path}: no {what} column; expected one of {', '.join(wanted)} "
                         f"(found: {', '.join(columns) or 'none'})")


def _csv_rows(path: Path) -> Iterator[tuple[str, str | None, str]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        sample = f.read(4096)
        f.seek(0)
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, ",\t;|")
        except csv.Error:
            dialect = csv.excel
        reader = csv.DictReader(f, dialect=dialect)
        id_col = _pick(list(reader.fieldnames or []), ID_COLUMNS, path, "id")
        label_col = _pick(list(reader.fieldnames or []), LABEL_COLUMNS, path, "label")
        for line, row in enumerate(reader, start=2):
            yield (f"line {line}", (row.get(id_col) or "").strip(),
                   (row.get(label_col) or "").strip())


def _json_rows(path: Path) -> Iterator[tuple[str, str | None, str]]:
    """(where, id, label) per line; id None marks an unreadable line (label says why)."""
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                obj = None
            if not isinstance(obj, dict):
                yield f"line {line_no}", None, "not a JSON object"
                continue
            item_id = next((obj[k] for k in ID_COLUMNS if obj.get(k) is not None), "")
            label = next((obj[k] for k in LABEL_COLUMNS if obj.get(k) is not None), "")
            yield f"line {line_no}", str(item_id).strip(), str(label).strip()
