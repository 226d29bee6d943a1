"""A generator of synthetic UMLS releases in the exact RRF layout, for tests and benchmarks.

Real UMLS is licensed, so the tests and `bench/load.py` need releases with the real shape:
several names per concept (mixed case, so lower-casing de-duplicates), non-English and
suppressed atoms, a PAR/CHD hierarchy with isa/inverse_isa from two sources, other relations,
semantic types and definitions. Everything is generated set-based inside DuckDB, so a release
of UMLS size (millions of rows) takes seconds per million rows, and it is deterministic.

`realistic=True` gives UMLS-like line lengths (names of 2-7 words, atom-level MRREL rows with
AUIs, longer definitions); with `max_names=10, other_relations=13` a release of 3.3M
concepts has about 18M MRCONSO and 56M MRREL rows, the size of a full UMLS release. Big files
are written part by part (a range of concepts each), never materialized whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from umlsgraph.db.sql import literal
from umlsgraph.load.rrf import LAYOUTS
from umlsgraph.outputs import claim_folder

WORDS = [
    "heart", "lung", "nerve", "brain", "spinal", "cord", "liver", "kidney", "bone", "muscle",
    "skin", "eye", "retina", "cortex", "artery", "vein", "ganglion", "neuron", "axon", "tumor",
    "carcinoma", "syndrome", "disease", "disorder", "abnormality", "inflammation", "pain",
    "fracture", "infection", "atrophy", "lesion", "cyst", "valve", "ventricle", "atrium",
    "cerebellum", "thalamus", "plexus", "root", "sheath", "tissue", "cell", "gland", "duct",
    "acute", "chronic", "congenital", "malignant", "benign", "left", "right", "upper", "lower",
]
SABS = ["MSH", "SNOMEDCT_US", "NCI", "MDR", "HPO"]
SEMANTIC_TYPES = [
    ("T023", "A1.2.3.1", "Body Part, Organ, or Organ Component"),
    ("T029", "A2.1.5.2", "Body Location or Region"),
    ("T047", "B2.2.1.2.1", "Disease or Syndrome"),
    ("T033", "A2.2", "Finding"),
    ("T191", "B2.2.1.2.1.2", "Neoplastic Process"),
    ("T121", "A1.4.1.1.1", "Pharmacologic Substance"),
    ("T061", "B1.3.1.3", "Therapeutic or Preventive Procedure"),
    ("T025", "A1.2.3.3", "Cell"),
]
OTHER_RELS = [("RO", "location_of"), ("RB", ""), ("RN", ""), ("SY", ""), ("RQ", "")]


@dataclass(frozen=True)
class SynthSpec:
    """How big and how shaped a synthetic release is."""

    concepts: int = 1000
    max_names: int = 6
    other_relations: int = 2
    seed: int = 0
    gzip: bool = False
    split: int = 1
    realistic: bool = False


def generate(out: str | Path, spec: SynthSpec | None = None) -> Path:
    """Write MRCONSO, MRREL, MRSTY, MRDEF and MRSAB into `out`/META; return the META path."""
    spec = spec or SynthSpec()
    meta = claim_folder(Path(out) / "META", "synthetic release")
    for old in meta.glob("MR*.RRF*"):  # only what an earlier `synth` here wrote
        old.unlink()
    con = duckdb.connect()
    con.execute(f"SET threads = {2}")
    con.execute("SET memory_limit = '2GB'")
    con.execute("SET preserve_insertion_order = true")
    _macros(con, spec)
    _write(con, meta, "MRCONSO", lambda lo, hi: _mrconso_sql(spec, lo, hi), spec)
    _write(con, meta, "MRREL", lambda lo, hi: _mrrel_sql(spec, lo, hi), spec)
    _write(con, meta, "MRSTY", lambda lo, hi: _mrsty_sql(spec), spec)
    _write(con, meta, "MRDEF", lambda lo, hi: _mrdef_sql(spec), spec)
    _write(con, meta, "MRSAB", lambda lo, hi: _mrsab_sql(), spec)
    con.close()
    return meta


def _macros(con: duckdb.DuckDBPyConnection, spec: SynthSpec) -> None:
    words = "[" + ", ".join(f"'{w}'" for w in WORDS) + "]"
    sabs = "[" + ", ".join(f"'{s}'" for s in SABS) + "]"
    con.execute(f"CREATE MACRO h(a, b) AS hash(a, b, {spec.seed}) ")
    con.execute(f"CREATE MACRO word(a, b) AS {words}[1 + (h(a, b) % {len(WORDS)})::INT]")
    con.execute(f"CREATE MACRO sab_of(a, b) AS {sabs}[1 + (h(a, b) % {len(SABS)})::INT]")
    con.execute("CREATE MACRO cui(i) AS 'C' || lpad(i::VARCHAR, 7, '0')")


def _base_name(spec: SynthSpec) -> str:
    """SQL of a concept's base name: two words, or 2-7 words when realistic."""
    if not spec.realistic:
        return "word(i, 10) || ' ' || word(i, 11)"
    extra = " || ".join(f"CASE WHEN h(i, 13) % 6 >= {n} THEN ' ' || word(i, {14 + n}) ELSE '' END"
                        for n in range(1, 6))
    return f"word(i, 10) || ' ' || word(i, 11) || {extra}"


def _mrconso_sql(spec: SynthSpec, lo: int, hi: int) -> str:
    """Atom j of concept i: j=0 is the preferred English name; the last may be French;
    about one atom in twelve after the first is suppressed (O or E)."""
    return f"""
    WITH atoms AS (
        SELECT i, unnest(range(1 + (h(i, 1) % {spec.max_names})::INT)) AS j,
               1 + (h(i, 1) % {spec.max_names})::INT AS k
        FROM range({lo}, {hi}) t(i)),
    shaped AS (
        SELECT i, j,
            CASE WHEN j > 0 AND j = k - 1 AND h(i, 2) % 5 = 0 THEN 'FRE' ELSE 'ENG' END AS lat,
            CASE WHEN j > 0 AND h(i * 16 + j, 3) % 12 = 0
                 THEN (CASE WHEN h(i, 4) % 2 = 0 THEN 'O' ELSE 'E' END) ELSE 'N' END AS suppress,
            {_base_name(spec)} AS base
        FROM atoms)
    SELECT cui(i) AS CUI, lat AS LAT, CASE WHEN j = 0 THEN 'P' ELSE 'S' END AS TS,
        'L' || lpad((i * 16 + j)::VARCHAR, 8, '0') AS LUI,
        CASE WHEN j = 0 THEN 'PF' ELSE 'VO' END AS STT,
        'S' || lpad((i * 16 + j)::VARCHAR, 8, '0') AS SUI,
        CASE WHEN j = 0 THEN 'Y' ELSE 'N' END AS ISPREF,
        'A' || lpad((i * 16 + j)::VARCHAR, 9, '0') AS AUI,
        {"'' AS SAUI" if not spec.realistic else "lpad((i * 16 + j)::VARCHAR, 9, '0') AS SAUI"},
        'S' || i AS SCUI,
        {"''" if not spec.realistic else "'D' || lpad(i::VARCHAR, 9, '0')"} AS SDUI,
        CASE WHEN j = 0 THEN sab_of(i, 5) ELSE sab_of(i * 16 + j, 6) END AS SAB,
        CASE WHEN j = 0 THEN 'PT' ELSE 'SY' END AS TTY, 'D' || i AS CODE,
        CASE WHEN lat = 'FRE' THEN 'le ' || base
             WHEN j = 0 THEN upper(base[1]) || base[2:]
             WHEN j % 4 = 1 THEN upper(base)
             WHEN j % 4 = 2 THEN base || ', NOS'
             WHEN j % 4 = 3 THEN word(i, 11) || ' of ' || word(i, 10)
             ELSE base || ' ' || word(i * 16 + j, 12) END AS STR,
        '0' AS SRL, suppress AS SUPPRESS, '' AS CVF
    FROM shaped ORDER BY i, j"""


def _mrrel_sql(spec: SynthSpec, lo: int, hi: int) -> str:
    """Concept i > 0 has parent (i-1)//4, stated by two sources as PAR and CHD rows; rows
    whose CUI1 is in [lo, hi)."""
    others = "[" + ", ".join(f"'{r}'" for r, _ in OTHER_RELS) + "]"
    relas = "[" + ", ".join(f"'{a}'" for _, a in OTHER_RELS) + "]"
    n = spec.concepts
    aui = ("'A' || lpad((c1 * 16)::VARCHAR, 9, '0')", "'A' || lpad((c2 * 16)::VARCHAR, 9, '0')",
           "'AUI'") if spec.realistic else ("''", "''", "'CUI'")
    return f"""
    WITH sabs(sab) AS (VALUES ('MSH'), ('SNOMEDCT_US')),
    hier AS (
        SELECT i AS c1, (i - 1) // 4 AS c2, 'PAR' AS rel, 'inverse_isa' AS rela, s.sab, 0 AS o
        FROM range(greatest({lo}, 1), {hi}) t(i), sabs s
        UNION ALL
        SELECT p, c, 'CHD', 'isa', s.sab, 1 FROM (
            SELECT p, unnest(range(4 * p + 1, least(4 * p + 5, {n}))) AS c
            FROM range({lo}, {hi}) t(p)) k, sabs s),
    other AS (
        SELECT i AS c1, (h(i, 20 + r) % {n})::BIGINT AS c2,
               {others}[1 + (h(i, 30 + r) % {len(OTHER_RELS)})::INT] AS rel, '' AS rela,
               sab_of(i, 40 + r) AS sab, 2 + r AS o
        FROM range({lo}, {hi}) t(i), range({spec.other_relations}) q(r)),
    allrel AS (SELECT * FROM hier UNION ALL SELECT * FROM other)
    -- sorted before the text columns are made: the sort holds keys, not whole lines
    SELECT cui(c1) AS CUI1, {aui[0]} AS AUI1, {aui[2]} AS STYPE1, rel AS REL, cui(c2) AS CUI2,
        {aui[1]} AS AUI2, {aui[2]} AS STYPE2,
        CASE WHEN rel = 'RO' THEN {relas}[1] ELSE rela END AS RELA,
        'R' || lpad((hash(c1, c2, o, sab) % 1000000000)::VARCHAR, 9, '0') AS RUI,
        '' AS SRUI, sab AS SAB, sab AS SL, {"'0'" if spec.realistic else "''"} AS RG,
        {"'Y'" if spec.realistic else "''"} AS DIR,
        CASE WHEN h(c1 * 64 + o, 50) % 40 = 0 THEN 'O' ELSE 'N' END AS SUPPRESS, '' AS CVF
    FROM (SELECT * FROM allrel ORDER BY c1, o, sab, c2)"""


def _mrsty_sql(spec: SynthSpec) -> str:
    values = ", ".join(f"('{t}', '{n}', '{s}', {k})" for k, (t, n, s) in enumerate(SEMANTIC_TYPES))
    return f"""
    WITH sty(tui, stn, sty, k) AS (VALUES {values}),
    pick AS (
        SELECT i, (h(i, 60) % {len(SEMANTIC_TYPES)})::INT AS k FROM range({spec.concepts}) t(i)
        UNION
        SELECT i, (h(i, 61) % {len(SEMANTIC_TYPES)})::INT FROM range({spec.concepts}) t(i)
        WHERE h(i, 62) % 4 = 0)
    SELECT cui(i) AS CUI, tui AS TUI, stn AS STN, sty AS STY,
        'AT' || lpad((i * 8 + pick.k)::VARCHAR, 9, '0') AS ATUI, '' AS CVF
    FROM pick JOIN sty USING (k) ORDER BY i, tui"""


def _mrdef_sql(spec: SynthSpec) -> str:
    return f"""
    SELECT cui(i) AS CUI, 'A' || lpad((i * 16)::VARCHAR, 9, '0') AS AUI,
        'AT' || lpad((i * 8 + 7)::VARCHAR, 9, '0') AS ATUI, '' AS SATUI,
        sab_of(i, 5) AS SAB,
        'A ' || word(i, 11) || ' of the ' || word(i, 10) || ' (' || word(i, 70) || ').'
        {_long_definition(spec)} AS DEF,
        CASE WHEN h(i, 71) % 25 = 0 THEN 'E' ELSE 'N' END AS SUPPRESS, '' AS CVF
    FROM range({spec.concepts}) t(i) WHERE h(i, 72) % 3 = 0 ORDER BY i"""


def _long_definition(spec: SynthSpec) -> str:
    """Realistic definitions run to a few sentences."""
    if not spec.realistic:
        return ""
    words = " || ' ' || ".join(f"word(i, {80 + n})" for n in range(12))
    return f" || ' It affects the ' || {words} || '.'"


def _mrsab_sql() -> str:
    rows = ", ".join(f"('{s}', '{s} (synthetic)', '{s}2024')" for s in SABS)
    width = len(LAYOUTS["MRSAB"])
    cells = {"RSAB": "rsab", "VSAB": "vsab", "SON": "son", "CURVER": "'Y'", "LAT": "'ENG'"}
    cols = ", ".join(f"{cells.get(c, chr(39) * 2)} AS {c}" for c in LAYOUTS["MRSAB"][:width])
    return f"SELECT {cols} FROM (VALUES {rows}) v(rsab, son, vsab)"


def _write(con: duckdb.DuckDBPyConnection, meta: Path, name: str,
           sql: Callable[[int, int], str], spec: SynthSpec) -> None:
    """Write rows as RRF lines (fields joined by `|`, trailing `|`), optionally gzip'd/split.

    Part p of a split file holds the rows of concepts [p*N/parts, (p+1)*N/parts): each part is
    generated and written straight to its file, so no file is ever held in memory whole.
    """
    columns = LAYOUTS[name]
    line = " || '|' || ".join(f"coalesce({c}::VARCHAR, '')" for c in columns) + " || '|'"
    parts = max(1, spec.split) if name in ("MRCONSO", "MRREL") else 1
    options = "FORMAT csv, HEADER false, DELIMITER '\\t', QUOTE '', ESCAPE ''"
    if spec.gzip:
        options += ", COMPRESSION gzip"
    for p in range(parts):
        suffix = "" if parts == 1 else "." + "a" + "abcdefghijklmnopqrstuvwxyz"[p]
        path = meta / f"{name}.RRF{suffix}{'.gz' if spec.gzip else ''}"
        lo, hi = p * spec.concepts // parts, (p + 1) * spec.concepts // parts
        con.execute(f"COPY (SELECT {line} AS line FROM ({sql(lo, hi)})) TO {literal(path)} "
                    f"({options})")
