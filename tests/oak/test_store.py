"""The store behind the OAK adapter: its indexes answer exactly what the raw tables answer,
and the CURIE rule round-trips (no oaklib needed)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from umlsgraph.curies import to_cui, to_curie
from umlsgraph.oak.store import OntologyStore


def test_curie_rule() -> None:
    assert to_curie("C0036572") == "UMLS:C0036572" and to_cui("UMLS:C0036572") == "C0036572"
    assert to_curie("HP:0001250") == "HP:0001250" == to_cui("HP:0001250")
    assert to_cui("UMLS:HP:1") == "UMLS:HP:1"  # not a CUI behind the prefix: left alone


def test_indexes_answer_like_the_raw_tables(loaded_db: Path) -> None:
    indexed = OntologyStore.open(loaded_db)
    try:
        assert indexed.relation_indexed and indexed.names_indexed
        raw = replace(indexed, relation_indexed=False, names_indexed=False)
        some = ["C0000005", "C0000021", "C0000100", "C0000299"]
        for store in (indexed, raw):
            assert store.closure(["C0000021"], up=True) == {"C0000005", "C0000001", "C0000000"}
        assert indexed.closure(["C0000001"], up=False) == raw.closure(["C0000001"], up=False)
        assert sorted(indexed.neighbours(some, up=True)) == sorted(raw.neighbours(some, up=True))
        assert list(indexed.relations(some, None, None)) == list(raw.relations(some, None, None))
        assert list(indexed.edges()) == list(raw.edges())
        name = indexed.names(["C0000005"])["C0000005"]
        for mode, text in (("exact", name.upper()), ("prefix", name[:6]), ("partial", name[2:9])):
            for fields in ({"label"}, {"alias"}):
                assert indexed.search(text, mode, fields) == raw.search(text, mode, fields)
        assert "C0000005" in indexed.search(name, "exact", {"label"})
    finally:
        indexed.close()
