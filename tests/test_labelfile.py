"""The one id,label reader: labels files (lenient) and gold files (strict) agree on every row."""

from __future__ import annotations

from pathlib import Path

import pytest

from umlsgraph.errors import InputFileError
from umlsgraph.evaluate.evaluation import read_gold
from umlsgraph.labelfile import read_label_file, to_category
from umlsgraph.query import load_query

QUERY = load_query("nervous_system")


@pytest.mark.parametrize(("raw", "category"), [
    ("yes", "yes"), ("Yes.", "yes"), ("YES", "yes"), ("y", "yes"), ("1", "yes"), ("true", "yes"),
    ("no", "no"), ("N", "no"), ("0", "no"), ("**No**", "no"),
    ("maybe", None), ("", None), ("2", None),
])
def test_one_normaliser(raw: str, category: str | None) -> None:
    assert to_category(raw, QUERY) == category


@pytest.mark.parametrize(("name", "content"), [
    ("a.csv", "id,label\nC1,yes\nC2,0\nC3,No\n"),
    ("b.tsv", "cui\tanswer\nC1\tY\nC2\tno\nC3\tfalse\n"),
    ("c.jsonl", '\ufeff{"id": "C1", "label": "yes"}\n{"cui": "C2", "label": 0}\n'
                '{"item": "C3", "gold": "No"}\n'),
    ("d.csv", "\ufeffconcept;category\nC1;1\nC2;no\nC3;no\nC3;no\n"),
])
def test_labels_and_gold_read_the_same_file_the_same_way(tmp_path: Path, name: str,
                                                         content: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    lenient = {i: c for i, (c, _) in read_label_file(path, QUERY).labels.items()}
    assert lenient == {"C1": "yes", "C2": "no", "C3": "no"}
    assert read_gold(path, QUERY) == lenient


def test_lenient_counts_bad_rows_and_drops_conflicting_ids(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("id,label\nC1,yes\nC2,maybe\nC3,yes\nC3,no\n,yes\nC4,no\n")
    rows = read_label_file(path, QUERY)
    assert {i: c for i, (c, _) in rows.labels.items()} == {"C1": "yes", "C4": "no"}
    assert rows.bad == 3
    assert any("C3" in e and "two different labels" in e for e in rows.bad_examples)


@pytest.mark.parametrize(("data", "message"), [
    ("id,label\nC1,caf\xe9\n".encode("latin-1"), "line 2: not UTF-8"),
    (b"id,label\n", "no usable labels"),
    (b"", "no usable labels|no id column"),
    (b"name,value\nC1,yes\n", "no id column"),
])
def test_bad_files_are_one_line_errors(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_bytes(data)
    for strict in (False, True):
        with pytest.raises(InputFileError, match=message) as info:
            read_label_file(path, QUERY, strict=strict)
        assert "\n" not in str(info.value) and str(path) in str(info.value)
