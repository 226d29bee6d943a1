"""Label files made elsewhere (gold sets, human labels, another tool's output): CSV or JSONL.

The one reader and the one label normaliser for every id,label file: `annotate
--labels-file` (lenient: unusable rows are counted with examples and left out), `eval --gold`
(strict: the first unusable row is an error naming its line), and `--llm labels:FILE`.

A CSV (or TSV, `;`/`|`-separated) needs a header with an id column (``id``, ``cui``,
``item``, ``item_id`` or ``concept``) and a label column (``label``, ``category``, ``gold`` or
``answer``); a JSONL file has one object per line with the same keys. Files are UTF-8 (a BOM
is fine). A label may be a category name or any of the query's answer words in any case
("Yes", "y", "no"), or 1/0 for a two-category query (`to_category`). An id given twice with
the same label counts once; with two different labels it is unusable.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from umlsgraph.curies import to_cui
from umlsgraph.errors import InputFileError
from umlsgraph.query import Query

ID_COLUMNS = ("id", "cui", "item", "item_id", "concept")
LABEL_COLUMNS = ("label", "category", "gold", "answer")
JSON_SUFFIXES = {".jsonl", ".ndjson", ".json"}
MAX_EXAMPLES = 5

_NON_WORD = re.compile(r"[^\w\s'-]+", re.UNICODE)
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Lower-case, strip markdown and punctuation, collapse whitespace: "**Yes.**" -> "yes"."""
    text = _NON_WORD.sub(" ", text.lower()).replace("_", " ")
    words = [w.strip("'-") for w in _SPACES.split(text)]
    return " ".join(w for w in words if w)


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


def label_lookup(query: Query) -> dict[str, str]:
    """Normalised spelling -> category: category names, answer words, 1/0 when binary."""
    lookup: dict[str, str] = {}
    if len(query.categories) == 2:
        negative = next(c for c in query.categories if c != query.positive)
        lookup.update({"1": query.positive, "0": negative})
    for category, words in query.labels.items():
        for word in words:
            lookup.setdefault(normalise(word), category)
    for category in query.categories:
        lookup[normalise(category)] = category
    return lookup


def to_category(raw: object, query: Query, lookup: dict[str, str] | None = None) -> str | None:
    """THE label normaliser: a label's category, or None when it names none."""
    if raw is None:
        return None
    return (lookup or label_lookup(query)).get(normalise(str(raw)))


def read_label_file(path: str | Path, query: Query, strict: bool = False) -> LabelRows:
    """Read and validate an id,label file against `query`'s categories.

    `strict` (gold files) raises on the first unusable row; otherwise unusable rows are
    counted with examples. A file with no usable row is always an error.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such labels file; give a CSV or JSONL file with "
                             "columns id,label")
    rows, lookup = LabelRows(), label_lookup(query)
    first_line: dict[str, str] = {}
    conflicting: set[str] = set()
    reader = _json_rows if path.suffix.lower() in JSON_SUFFIXES else _csv_rows
    for where, item_id, raw in reader(path):
        item_id = None if item_id is None else to_cui(item_id)  # UMLS:C… as exports write it
        why = _check_row(item_id, raw, to_category(raw, query, lookup), query)
        if why is None and item_id in rows.labels and rows.labels[item_id][0] != to_category(
                raw, query, lookup):
            why = (f"id '{item_id}' has two different labels ({first_line[item_id]}: "
                   f"{rows.labels[item_id][1]!r}, here: {raw!r})")
            conflicting.add(item_id)
        if why is not None:
            if strict:
                raise InputFileError(f"{path} {where}: {why}")
            rows.reject(where, why)
            continue
        assert item_id is not None
        rows.labels.setdefault(item_id, (to_category(raw, query, lookup) or "", raw))
        first_line.setdefault(item_id, where)
    for item_id in conflicting:
        rows.labels.pop(item_id, None)
    if not rows.labels:
        raise InputFileError(f"{path}: no usable labels ({rows.bad} bad rows; first: "
                             f"{rows.bad_examples[0] if rows.bad_examples else 'file is empty'})")
    return rows


def _check_row(item_id: str | None, raw: str, category: str | None, query: Query) -> str | None:
    """Why a row is unusable, or None."""
    if item_id is None:
        return raw
    if not item_id:
        return "no id"
    if category is None:
        return f"label {raw!r} is not one of {query.categories} (or their answer words)"
    return None


def _pick(columns: list[str], wanted: tuple[str, ...], path: Path, what: str) -> str:
    lower = {c.strip().lower(): c for c in columns}
    for name in wanted:
        if name in lower:
            return lower[name]
    raise InputFileError(f"{path}: no {what} column; expected one of {', '.join(wanted)} "
                         f"(found: {', '.join(columns) or 'none'})")


def _lines(path: Path) -> Iterator[str]:
    """The file's lines as UTF-8 (BOM dropped); a non-UTF-8 byte is a one-line error."""
    with path.open("rb") as f:
        for number, data in enumerate(f, start=1):
            try:
                text = data.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise InputFileError(
                    f"{path} line {number}: not UTF-8 (byte {data[exc.start]:#04x}); save the "
                    "file as UTF-8") from None
            yield text


def _csv_rows(path: Path) -> Iterator[tuple[str, str | None, str]]:
    lines = list(_lines(path))
    sample = "".join(lines[:50])
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, ",\t;|")
    except csv.Error:
        dialect = csv.excel
    try:
        reader = csv.DictReader(lines, dialect=dialect)
        id_col = _pick(list(reader.fieldnames or []), ID_COLUMNS, path, "id")
        label_col = _pick(list(reader.fieldnames or []), LABEL_COLUMNS, path, "label")
        for row in reader:
            yield (f"line {reader.line_num}", (row.get(id_col) or "").strip(),
                   (row.get(label_col) or "").strip())
    except csv.Error as exc:
        raise InputFileError(f"{path}: not a readable CSV file ({exc})") from None


def _json_rows(path: Path) -> Iterator[tuple[str, str | None, str]]:
    """(where, id, label) per line; id None marks an unreadable line (label says why)."""
    for line_no, line in enumerate(_lines(path), start=1):
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
        if isinstance(item_id, dict | list) or isinstance(label, dict | list):
            yield f"line {line_no}", None, "id and label must be strings or numbers"
            continue
        yield f"line {line_no}", str(item_id).strip(), str(label).strip()
