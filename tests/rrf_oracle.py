"""An independent, pure-Python reading of a small RRF release: the expected counts for tests.

Deliberately written without DuckDB or umlsgraph's loader, so the tests compare two
implementations of the same rules (filters, preferred name, REL direction).
"""

from __future__ import annotations

import gzip
from collections import defaultdict
from pathlib import Path

from umlsgraph.load.rrf import LAYOUTS

SUPPRESSIBLE = {"O", "E", "Y"}


def read_rows(meta: Path, name: str) -> list[dict[str, str]]:
    """All rows of NAME.RRF (plain, .gz or split parts) as dicts keyed by column name."""
    parts = sorted(p for p in meta.iterdir() if p.name.startswith(name + ".RRF"))
    rows = []
    for part in parts:
        opener = gzip.open if part.name.endswith(".gz") else open
        with opener(part, "rt", encoding="utf-8") as handle:
            for line in handle:
                fields = line.rstrip("\n").split("|")
                assert fields[-1] == "", f"{part}: line without trailing |"
                rows.append(dict(zip(LAYOUTS[name], fields[:-1], strict=True)))
    return rows


def expected_counts(meta: Path, languages=("ENG",), keep_suppressed=False) -> dict:
    """What a default load must hold, computed row by row."""
    def kept(row: dict[str, str]) -> bool:
        return keep_suppressed or row["SUPPRESS"] not in SUPPRESSIBLE

    names = [r for r in read_rows(meta, "MRCONSO")
             if (not languages or r["LAT"] in languages) and kept(r)]
    cuis = {r["CUI"] for r in names}
    relations = [r for r in read_rows(meta, "MRREL")
                 if kept(r) and r["CUI1"] in cuis and r["CUI2"] in cuis]
    sty = [r for r in read_rows(meta, "MRSTY") if r["CUI"] in cuis]
    defs = [r for r in read_rows(meta, "MRDEF") if r["CUI"] in cuis and kept(r)]
    by_rel: dict[str, int] = defaultdict(int)
    for r in relations:
        by_rel[r["REL"]] += 1
    return {
        "concepts": len(cuis), "names": len(names), "relations": len(relations),
        "relations_by_rel": dict(by_rel), "semantic_types": len({r["TUI"] for r in sty}),
        "semantic_type_assignments": len(sty), "definitions": len(defs),
        "sources": len({r["SAB"] for r in names}),
    }


def preferred_names(meta: Path) -> dict[str, str]:
    """The UMLS rule: LAT=ENG, then TS=P, STT=PF, ISPREF=Y, ties by AUI."""
    best: dict[str, tuple] = {}
    for r in read_rows(meta, "MRCONSO"):
        if r["LAT"] != "ENG" or r["SUPPRESS"] in SUPPRESSIBLE:
            continue
        key = (r["TS"] != "P", r["STT"] != "PF", r["ISPREF"] != "Y", r["AUI"])
        if r["CUI"] not in best or key < best[r["CUI"]][0]:
            best[r["CUI"]] = (key, r["STR"])
    return {cui: value[1] for cui, value in best.items()}
