"""Ids as exports and `runoak` print them (``UMLS:C0000005``) are read back everywhere an id
is read: `concept`, label and gold files, gold roots. `curies.to_cui` is the one rule."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph.curies import to_cui, to_curie
from umlsgraph.evaluate.evaluation import read_gold
from umlsgraph.evaluate.gold import subtree_gold
from umlsgraph.labelfile import read_label_file
from umlsgraph.query import load_query

QUERY = load_query("nervous_system")


@pytest.mark.parametrize(("given", "stored"), [
    ("UMLS:C0001250", "C0001250"), ("umls:C0001250", "C0001250"),
    (" Umls:C0001250 ", "C0001250"), ("C0001250", "C0001250"), ("HP:0000707", "HP:0000707"),
    ("UMLS:", "UMLS:"), ("UMLS:A:B", "UMLS:A:B"),
])
def test_to_cui_reads_the_curie_and_keeps_native_ids(given: str, stored: str) -> None:
    assert to_cui(given) == stored


def test_to_curie_round_trips() -> None:
    assert to_cui(to_curie("C0001250")) == "C0001250"
    assert to_curie(to_cui("HP:0000707")) == "HP:0000707"


def test_concept_accepts_the_curie(loaded_db: Path) -> None:
    result = CliRunner().invoke(app, ["concept", "UMLS:C0000005", "--db", str(loaded_db)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("C0000005  ")
    lower = CliRunner().invoke(app, ["concept", "umls:C0000005", "--db", str(loaded_db),
                                     "--json"])
    assert lower.exit_code == 0 and '"C0000005"' in lower.output, lower.output


def test_label_and_gold_files_accept_the_curie(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\nUMLS:C0000005,yes\numls:C0000006,no\nHP:0000707,yes\n")
    rows = read_label_file(labels, QUERY)
    assert set(rows.labels) == {"C0000005", "C0000006", "HP:0000707"}
    jsonl = tmp_path / "gold.jsonl"
    jsonl.write_text('{"id": "UMLS:C0000005", "label": "yes"}\n')
    assert set(read_label_file(jsonl, QUERY, strict=True).labels) == {"C0000005"}
    assert "C0000005" in read_gold(labels, QUERY)


def test_gold_root_accepts_the_curie(loaded_db: Path) -> None:
    con = duckdb.connect(str(loaded_db), read_only=True)
    try:
        assert subtree_gold(con, "UMLS:C0000005") == subtree_gold(con, "C0000005")
    finally:
        con.close()
