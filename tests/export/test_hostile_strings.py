"""Every output is valid for its format whatever the strings inside, and round-trips.

The release below is hostile in every string column (names, source codes, sources,
definitions, semantic type names, relation labels, source names): control characters (NUL,
TAB, C0, DEL, NEL, U+2028; not CR or LF, which no RRF field holds), bidi marks, non-BMP
characters, quotes, braces, `!`, brackets, `]]>`, `|` (RRF's `&#x7C;`), spaces at either end
and backslashes, trailing ones included. It goes through `umlsgraph load` (RRF), `umlsgraph
export` in every text format, the strict readers (fastobo, pronto, rdflib, owlready2,
networkx, scispaCy) and `umlsgraph load` again (OBO, RRF). What each format cannot hold is
cleaned in one documented place and nowhere else:

- OBO (export/formats/obo.py): a def or synonym ending in a backslash ends in U+FF3C instead;
- RRF (load/obo_release.clean, export/formats/rrf.field_sql): CR and LF become spaces, so an
  OBO file, which goes through an RRF release when loaded, loses them too;
- XML 1.0 (export/formats/text.py): C0 controls but TAB/LF/CR, U+FFFE, U+FFFF become U+FFFD.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.missing import missing
from umlsgraph.export.formats import obo
from umlsgraph.export.formats.obo import TRAILING_BACKSLASH, install_obo_macros
from umlsgraph.export.formats.rdf import DEFAULT_BASE_IRI, concept_iri
from umlsgraph.load.obo import OboReader, continues
from umlsgraph.load.rrf import LAYOUTS

runner = CliRunner()

#: What the strings are made of: each string column gets several of these, rotating.
PIECES = ["\t", "\x00", "\x01\x1b\x1f\x7f", "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
          "\u202e\u202c\u200f\u200e\u2066", "\U0001f9e0\U00010348", ' "q" ', "{x}", "!c",
          "[y]", "]]><![CDATA[", "&amp; < >", "\\", "\\n", "&#x7C;", "\ufeff\ufffe\uffff"]
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: A hierarchy with two parents for C4 and C5: the second is_a of a stanza must survive.
PARENTS = {"C0000002": ["C0000001"], "C0000003": ["C0000001"],
           "C0000004": ["C0000002", "C0000003"], "C0000005": ["C0000001", "C0000004"]}
CUIS = ["C0000001", "C0000002", "C0000003", "C0000004", "C0000005"]
SAB = "S\u202eRC\\"  # a hostile source abbreviation (TAB or | would not be a SAB anyone uses)
RELA = "part\u202e of\\"


def hostile(n: int, word: str) -> str:
    """The n-th hostile string: padded, two pieces inside, a trailing backslash."""
    a, b = PIECES[n % len(PIECES)], PIECES[(3 * n + 5) % len(PIECES)]
    return f"  {word}{n}{a}{word}{b}{word} \\"


def _row(name: str, **values: str) -> str:
    return "|".join(values.get(c, "") for c in LAYOUTS[name]) + "|\n"


def write_release(meta: Path) -> None:
    """The hostile release: 5 concepts of 3 atoms each (PT, SY, RT), two sources."""
    meta.mkdir(parents=True)
    files: dict[str, list[str]] = {n: [] for n in ("MRCONSO", "MRREL", "MRSTY", "MRDEF")}
    n = 0
    for i, cui in enumerate(CUIS):
        for j, tty in enumerate(("PT", "SY", "RT")):
            n += 1
            files["MRCONSO"].append(_row(
                "MRCONSO", CUI=cui, LAT="ENG", TS="P" if j == 0 else "S", LUI=f"L{n:07d}",
                STT="PF" if j == 0 else "VO", SUI=f"S{n:07d}", ISPREF="Y" if j == 0 else "N",
                AUI=f"A{n:07d}", SAB=SAB if j == 1 else "MSH", TTY=tty,
                CODE=hostile(n + 40, "code"), STR=hostile(n, f"name{j}"), SUPPRESS="N"))
        files["MRSTY"].append(_row("MRSTY", CUI=cui, TUI=f"T04{i}", STN="B2",
                                   STY=hostile(i + 20, "type")))
        files["MRDEF"].append(_row("MRDEF", CUI=cui, AUI=f"A{n:07d}", SAB=SAB if i % 2 else "MSH",
                                   DEF=hostile(i + 30, "def"), SUPPRESS="N"))
    r = 0
    for child, parents in PARENTS.items():
        for parent in parents:
            for cui1, rel, cui2, rela in ((child, "PAR", parent, "inverse_isa"),
                                          (parent, "CHD", child, "isa"),
                                          (parent, "RO", child, RELA)):
                r += 1
                files["MRREL"].append(_row("MRREL", CUI1=cui1, REL=rel, CUI2=cui2, RELA=rela,
                                           RUI=f"R{r:07d}", SAB="MSH", SUPPRESS="N"))
    for name, rows in files.items():
        (meta / f"{name}.RRF").write_bytes("".join(rows).encode())
    sab = _row("MRSAB", VSAB="MSH2025", RSAB="MSH", SON=hostile(50, "son"), SF="MSH",
               LAT="ENG", CURVER="Y", SABIN="Y")
    sab += _row("MRSAB", VSAB=SAB + "1", RSAB=SAB, SON=hostile(51, "son"), SF=SAB, LAT="ENG",
                CURVER="Y", SABIN="Y")
    (meta / "MRSAB.RRF").write_bytes(sab.encode())


def invoke(*args: str) -> None:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile_release")
    write_release(root / "META")
    invoke("load", root, "--db", root / "h.duckdb")
    return root / "h.duckdb"


def exported(store: Path, fmt: str, out: Path, *extra: str) -> Path:
    invoke("export", "--all", "--db", store, "-f", fmt, "--out", out, *extra)
    return out


# --- what a store holds, and what each format may change --------------------------------------

def strings(db: Path) -> dict[str, Any]:
    """Per concept (without any `UMLS:` prefix): name, other names, definitions; is_a edges."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = dict(con.execute("SELECT cui, name FROM concepts").fetchall())
        others: dict[str, set[str]] = {}
        for cui, text in con.execute("SELECT cui, str FROM names WHERE lat = 'ENG'").fetchall():
            if text != names[cui]:
                others.setdefault(cui, set()).add(text)
        defs: dict[str, set[str]] = {}
        for cui, text in con.execute("SELECT cui, def FROM definitions").fetchall():
            defs.setdefault(cui, set()).add(piped(text))  # exports read `&#x7C;` back as `|`
        edges = set(con.execute("SELECT cui1, cui2 FROM relations WHERE rel = 'PAR'").fetchall())
    finally:
        con.close()

    def bare(cui: str) -> str:
        return cui.removeprefix("UMLS:")
    return {"names": {bare(c): n for c, n in names.items()},
            "others": {bare(c): s for c, s in others.items()},
            "defs": {bare(c): s for c, s in defs.items()},
            "is_a": {(bare(c), bare(p)) for c, p in edges}}


def rrf_field(value: str) -> str:
    """What an RRF field holds of a string: CR and LF as spaces."""
    return value.replace("\r", " ").replace("\n", " ")


def obo_quoted(value: str) -> str:
    """What an OBO quoted string (def, synonym) holds: a trailing backslash as U+FF3C."""
    return value[:-1] + TRAILING_BACKSLASH if value.endswith("\\") else value


def xml_clean(value: str) -> str:
    return XML_INVALID.sub("\ufffd", value)


def piped(value: str) -> str:
    """A store's string as exports show it: UMLS's `&#x7C;` as `|`."""
    return value.replace("&#x7C;", "|")


def test_the_release_is_hostile_in_every_string_column(store):
    held = strings(store)
    values = [*held["names"].values(), *(s for v in held["others"].values() for s in v),
              *(s for v in held["defs"].values() for s in v)]
    assert len(held["names"]) == 5 and len(held["is_a"]) == 6
    text = "".join(values)
    for piece in PIECES:
        assert piece in text, repr(piece)  # loaded exactly, CR, NUL and padding included
    assert all(v.startswith("  ") and v.endswith(" \\") for v in values)


# --- OBO ---------------------------------------------------------------------------------------

def need(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        missing(f"{module} is not installed: pip install {module}")


def fastobo_terms(path: Path) -> dict[str, dict[str, Any]]:
    fastobo = need("fastobo")
    terms: dict[str, dict[str, Any]] = {}
    for frame in fastobo.load(str(path)):
        if not isinstance(frame, fastobo.term.TermFrame):
            continue
        term: dict[str, Any] = {"synonyms": set(), "is_a": set(), "xrefs": set(),
                                "relationships": set()}
        for clause in frame:
            kind = type(clause).__name__
            if kind == "NameClause":
                term["name"] = clause.name
            elif kind == "DefClause":
                term["def"] = clause.definition
                term["def_xrefs"] = [str(x.id) for x in clause.xrefs]
            elif kind == "SynonymClause":
                term["synonyms"].add(clause.synonym.desc)
            elif kind == "IsAClause":
                term["is_a"].add(str(clause.term).removeprefix("UMLS:"))
            elif kind == "RelationshipClause":
                term["relationships"].add((str(clause.typedef), str(clause.term)))
            elif kind == "XrefClause":
                term["xrefs"].add(str(clause.xref.id))
        terms[str(frame.id).removeprefix("UMLS:")] = term
    return terms


def test_obo_reads_back_in_fastobo_and_pronto(store, tmp_path):
    out = exported(store, "obo", tmp_path / "h.obo", "--rel", "RO")
    held = strings(store)
    terms = fastobo_terms(out)
    assert set(terms) == set(held["names"])
    assert {(c, p) for c, t in terms.items() for p in t["is_a"]} == held["is_a"]
    for cui, name in held["names"].items():
        term = terms[cui]
        assert term["name"] == piped(name)  # unquoted: padding, tab, backslash all kept
        assert term["synonyms"] == {obo_quoted(piped(s)) for s in held["others"][cui]}
        assert {term["def"]} <= {obo_quoted(d) for d in held["defs"][cui]}
        assert term["def_xrefs"] and all(term["def_xrefs"])  # the source, never `[]`
    assert {r for t in terms.values() for r, _x in t["relationships"]} == {RELA}
    pronto = need("pronto")
    onto = pronto.Ontology(str(out))
    assert {t.id.removeprefix("UMLS:"): t.name for t in onto.terms()} == {
        c: piped(n) for c, n in held["names"].items()}
    assert {(t.id.removeprefix("UMLS:"), p.id.removeprefix("UMLS:")) for t in onto.terms()
            for p in t.superclasses(distance=1, with_self=False)} == held["is_a"]


def test_obo_round_trips_through_umlsgraph_load(store, tmp_path):
    out = exported(store, "obo", tmp_path / "h.obo")
    invoke("load", out, "--db", tmp_path / "again.duckdb")
    held, back = strings(store), strings(tmp_path / "again.duckdb")
    assert back["names"] == {c: rrf_field(n) for c, n in held["names"].items()}
    assert back["others"] == {c: {rrf_field(obo_quoted(s)) for s in v}
                              for c, v in held["others"].items()}
    chosen = {c: t["def"] for c, t in fastobo_terms(out).items()}
    assert back["defs"] == {c: {rrf_field(d)} for c, d in chosen.items()}
    assert back["is_a"] == held["is_a"]  # every is_a, the second of a stanza included
    # the writer never ends a line with a backslash a reader could take for a continuation
    assert not [line for line in lines(out.read_text(encoding="utf-8")) if continues(line)]
    obonet = need("obonet")  # reads line by line, values raw (it splits a relationship
    graph = obonet.read_obo(out)  # at every space, escaped or not: no --rel here)
    assert {(u.removeprefix("UMLS:"), v.removeprefix("UMLS:"))
            for u, v, k in graph.edges(keys=True) if k == "is_a"} == held["is_a"]


@pytest.mark.parametrize("piece", PIECES + ["\r\n", " ", "  ", "\\\\", " \\ "])
def test_obo_escapes_are_one_rule_in_sql_and_python(piece):
    values = [piece, f"a{piece}b", f"{piece}x{piece}"]
    con = duckdb.connect()
    install_obo_macros(con)
    for name, twin in (("obo_text", obo.obo_text), ("obo_name", obo.obo_name),
                       ("obo_quoted", obo.obo_quoted), ("obo_id", obo.obo_id)):
        for value in values:
            assert con.execute(f"SELECT {name}(?)", [value]).fetchone()[0] == twin(value)
    for value in values:  # an unquoted name reads back exactly in umlsgraph's reader
        [term] = OboReader(lines(f"[Term]\nid: X:1\nname: {obo.obo_name(value)}\n"))
        assert term.name == value


def lines(text: str) -> list[str]:
    """The lines of an OBO text as a file gives them: split at LF only (str.splitlines would
    also split at NEL, U+2028 and the other separators, which are characters of a value)."""
    return [line + "\n" for line in text.split("\n")]


def test_reader_keeps_the_line_after_a_comment_ending_in_a_backslash():
    text = ("format-version: 1.4\n\n[Term]\nid: X:3\nname: three\n"
            "is_a: X:1 ! one\\\nis_a: X:2 ! two \\\\\\\nrelationship: part_of X:1 ! one\\\n"
            "xref: Y:1\n\n[Term]\nid: X:4\nname: \\ four\\ \\\\\nis_a: X:3\n")
    terms = list(OboReader(lines(text)))
    assert [t.is_a for t in terms] == [["X:1", "X:2"], ["X:3"]]
    assert terms[0].relationships == [("part_of", "X:1")] and terms[0].xrefs == ["Y:1"]
    assert terms[1].name == " four \\"


def test_reader_takes_every_escape_and_only_obo_spacing_as_padding():
    name = "\x1c\x85 a\\tb\\rc\\nd\\Wx\\!\\{\\}\\\"\\\\ e\u2028\u3000"
    text = (f"format-version: 1.4\n\n[Term]\nid: X:1\nname: {name}\n"
            "def: \"\\\\ d\\\"ef \\\\\" [A:1, B:2] ! c\\\n"
            "synonym: \" s\\t\\r \" EXACT [] ! x\\\nxref: SCTID:a\\ b\\,c\\]d\n"
            "def: \"line \\\ncontinued\" []\n")
    [term] = OboReader(lines(text))
    assert term.name == "\x1c\x85 a\tb\rc\nd x!{}\"\\ e\u2028\u3000"
    assert term.definition == "\\ d\"ef \\" and term.def_refs == ("A:1", "B:2")
    assert [s.text for s in term.synonyms] == [" s\t\r "]
    assert term.xrefs == ["SCTID:a b,c]d"]


def test_fastobo_cannot_close_a_quoted_string_ending_in_a_backslash():
    """Why TRAILING_BACKSLASH exists: when this fails, fastobo reads `"a\\\\"` and obo.py can
    write a trailing backslash as it is."""
    fastobo = need("fastobo")
    head = 'format-version: 1.4\n\n[Term]\nid: X:1\n'
    with pytest.raises(SyntaxError, match="QuotedString"):
        fastobo.loads(head + 'synonym: "a\\\\" EXACT []\n')
    assert [c.synonym.desc for c in fastobo.loads(head + 'synonym: "a\\\\b" EXACT []\n')[0]] \
        == ["a\\b"]


def test_obo_defs_carry_their_source(store, tmp_path):
    """README: `def` with its source. A UMLS store gives the atom's code; an OBO store (whose
    def xrefs are not kept) the definition's source abbreviation."""
    first = exported(store, "obo", tmp_path / "h.obo")
    invoke("load", first, "--db", tmp_path / "again.duckdb")
    again = exported(tmp_path / "again.duckdb", "obo", tmp_path / "again.obo")
    for out in (first, again):
        xrefs = [t["def_xrefs"] for t in fastobo_terms(out).values()]
        assert len(xrefs) == 5 and all(x and all(x) for x in xrefs), xrefs
    assert {x for t in fastobo_terms(again).values() for x in t["def_xrefs"]} == {
        "UMLS_SAB:ALL"}  # the OBO store's source: its ontology (`ontology: all`)


# --- OWL and the other XML formats -------------------------------------------------------------

def iri(cui: str) -> str:
    return concept_iri(DEFAULT_BASE_IRI, cui)


def test_owl_is_well_formed_and_loads_in_rdflib_and_owlready2(store, tmp_path):
    rdflib = need("rdflib")
    out = exported(store, "owl", tmp_path / "h.owl", "--rel", "RO")
    graph = rdflib.Graph().parse(str(out), format="xml")
    held = strings(store)
    oio = "http://www.geneontology.org/formats/oboInOwl#"
    synonyms = [rdflib.URIRef(f"{oio}has{s}Synonym") for s in ("Exact", "Related")]
    definition = rdflib.URIRef("http://purl.obolibrary.org/obo/IAO_0000115")
    for cui, name in held["names"].items():
        node = rdflib.URIRef(iri(cui))
        assert str(graph.value(node, rdflib.RDFS.label)) == xml_clean(piped(name))
        assert {str(o) for p in synonyms for o in graph.objects(node, p)} == {
            xml_clean(piped(s)) for s in held["others"][cui]}
        assert {str(o) for o in graph.objects(node, definition)} <= {
            xml_clean(d) for d in held["defs"][cui]}
    assert {(str(c), str(p)) for c, p in graph.subject_objects(rdflib.RDFS.subClassOf)
            if isinstance(p, rdflib.URIRef)} == {(iri(c), iri(p)) for c, p in held["is_a"]}
    codes = {str(o) for o in graph.objects(None, rdflib.URIRef(oio + "hasDbXref"))}
    assert codes and all("\ufffd" in c or not XML_INVALID.search(c) for c in codes)
    owlready2 = need("owlready2")
    onto = owlready2.World().get_ontology(out.as_uri()).load()
    assert {c.iri for c in onto.classes()} == {iri(c) for c in held["names"]}
    horned = need("pyhornedowl")
    assert set(horned.open_ontology(str(out), "owl").get_classes()) == {
        iri(c) for c in held["names"]}


def test_owl_is_well_formed_when_only_a_source_code_holds_a_control_character(tmp_path):
    """The nodes' columns clean: only an xref (a source code) holds \\x01."""
    meta = tmp_path / "META"
    meta.mkdir()
    rows = [_row("MRCONSO", CUI=f"C000000{i}", LAT="ENG", TS="P", STT="PF", ISPREF="Y",
                 AUI=f"A{i}", SAB="MSH", TTY="PT", CODE=f"D{i}\x01", STR=f"name {i}",
                 SUPPRESS="N") for i in (1, 2)]
    (meta / "MRCONSO.RRF").write_text("".join(rows), encoding="utf-8")
    invoke("load", tmp_path, "--db", tmp_path / "c.duckdb")
    out = exported(tmp_path / "c.duckdb", "owl", tmp_path / "c.owl")
    rdflib = need("rdflib")
    graph = rdflib.Graph().parse(str(out), format="xml")
    xref = rdflib.URIRef("http://www.geneontology.org/formats/oboInOwl#hasDbXref")
    assert {str(o) for o in graph.objects(None, xref)} == {"MESH:D1\ufffd", "MESH:D2\ufffd"}
    owlready2 = need("owlready2")
    assert len(list(owlready2.World().get_ontology(out.as_uri()).load().classes())) == 2


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_graphml_and_gexf_read_back_in_networkx(fmt, store, tmp_path):
    import networkx as nx

    out = exported(store, fmt, tmp_path / f"h.{fmt}", "--rel", "RO")
    graph = (nx.read_graphml if fmt == "graphml" else nx.read_gexf)(out)
    held = strings(store)
    assert set(graph.nodes) == set(held["names"])
    key = "name" if fmt == "graphml" else "label"
    for cui, name in held["names"].items():
        assert graph.nodes[cui][key] == xml_clean(piped(name))
    values = [str(v) for _u, _v, d in graph.edges(data=True) for v in d.values()]
    assert any(xml_clean(RELA) in v for v in values)  # the relation label, escaped


@pytest.mark.parametrize("fmt, parser", [("ttl", "turtle"), ("nt", "nt"),
                                         ("jsonld", "json-ld")])
def test_rdf_formats_read_back_in_rdflib(fmt, parser, store, tmp_path):
    rdflib = need("rdflib")
    out = exported(store, fmt, tmp_path / f"h.{fmt}", "--rel", "RO")
    if fmt == "jsonld":
        json.loads(out.read_text(encoding="utf-8"))
    graph = rdflib.Graph().parse(str(out), format=parser)
    held = strings(store)
    pref = rdflib.URIRef("http://www.w3.org/2004/02/skos/core#prefLabel")
    for cui, name in held["names"].items():
        assert str(graph.value(rdflib.URIRef(iri(cui)), pref)) == piped(name)  # exactly
    definitions = {str(o) for o in graph.objects(
        None, rdflib.URIRef("http://www.w3.org/2004/02/skos/core#definition"))}
    assert definitions <= {d for v in held["defs"].values() for d in v} and definitions


# --- RRF ---------------------------------------------------------------------------------------

def test_rrf_round_trips_through_umlsgraph_load_and_scispacy(store, tmp_path):
    out = exported(store, "rrf", tmp_path / "rrf")
    invoke("load", out, "--db", tmp_path / "again.duckdb")
    held, back = strings(store), strings(tmp_path / "again.duckdb")
    assert back == {"names": {c: rrf_field(n) for c, n in held["names"].items()},
                    "others": {c: {rrf_field(s) for s in v} for c, v in held["others"].items()},
                    "defs": {c: {rrf_field(d) for d in v} for c, v in held["defs"].items()},
                    "is_a": held["is_a"]}
    for line in (out / "META" / "MRCONSO.RRF").read_bytes().split(b"\n")[:-1]:
        assert line.count(b"|") == len(LAYOUTS["MRCONSO"])  # no field broke its line
    umls_utils = need("scispacy.umls_utils")  # scispaCy reads the same names
    concepts: dict[str, dict] = {}
    umls_utils.read_umls_concepts(str(out / "META"), concepts)
    assert {c: v["canonical_name"] for c, v in concepts.items()} == back["names"]


def test_rrf_writes_a_bar_and_line_breaks_as_a_field_can_hold_them(store, tmp_path):
    """A store can hold `|` and line breaks (an edited store; an OBO file holds `\\n`): RRF
    writes `|` as `&#x7C;` (read back as `|` by every writer) and CR, LF as spaces."""
    db = tmp_path / "edited.duckdb"
    db.write_bytes(store.read_bytes())
    con = duckdb.connect(str(db))
    con.execute("UPDATE concepts SET name = 'a|b\nc\r\nd' WHERE cui = 'C0000001'")
    con.execute("UPDATE names SET str = 'a|b\nc\r\nd' WHERE aui = 'A0000001'")
    con.close()
    out = exported(db, "rrf", tmp_path / "rrf")
    invoke("load", out, "--db", tmp_path / "again.duckdb")
    assert strings(tmp_path / "again.duckdb")["names"]["C0000001"] == "a&#x7C;b c  d"
    obo_out = exported(tmp_path / "again.duckdb", "obo", tmp_path / "again.obo")
    assert fastobo_terms(obo_out)["C0000001"]["name"] == "a|b c  d"
