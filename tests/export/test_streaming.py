"""The streaming writers agree with the networkx/rdflib exporters they replaced, and stay valid
whatever the strings: read back by networkx and rdflib, compared value by value.

The oracle (tests/export/oracle.py) is the former in-memory implementation: a networkx graph
or an rdflib graph built from the same subontology. Hostile strings go through every format:
XML-invalid control characters (replaced by U+FFFD in GraphML/GEXF and counted), line
separators that used to tear N-Triples apart, `]]>`, quotes, bidi marks, a 100k-char name.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import networkx as nx
import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import SKOS

from tests.export import oracle
from tests.subontology_data import (
    KNOWN_CHILD,
    KNOWN_PARENT,
    QUERY,
    hpo_positives,
    synthetic_positives,
    write_predictions,
)
from umlsgraph.export.formats import get
from umlsgraph.export.formats.rdf import DEFAULT_BASE_IRI, concept_iri
from umlsgraph.export.subontology import build
from umlsgraph.query import load_query

GRAPH_FORMATS = ["graphml", "gexf"]
RDF_FORMATS = {"ttl": "turtle", "nt": "nt", "jsonld": "json-ld"}
HPO_QUERY, HPO_ROOT = "hpo_nervous", "HP:0001250"
#: Strings no export may choke on: (where it goes, the string).
HOSTILE = {
    "C0000001": "ctl \x01\x02\x08 tab\tvt\x0b ff\x0c esc\x1b us\x1f del\x7f nel\x85 end",
    "C0000005": "ls\u2028ps\u2029 ]]> <![CDATA[x]]> <!-- --> &amp; \"q\" 'a' \\ \\n",
    "C0000006": "bidi \u202eevil\u202c \u200f\u200e \ufeff bom \ufffe\uffff nonchars \U0001f9e0",
    "C0000007": "cr\r\nlf\nonly\rcr " + "x" * 100_000,
}
SYNONYM = "syn \x00? no: \x03 and \u2028 and ]]>"
DEFINITION = "def \x0b\x0c line\nbreak \x85 \u2029 \"quoted\" \\ end"
XML_INVALID = set(map(chr, [*range(0, 9), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF]))


def xml_clean(value: str) -> str:
    return "".join("\ufffd" if c in XML_INVALID else c for c in value)


@pytest.fixture(scope="module")
def synthetic(_loaded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("streaming") / "umls.duckdb"
    db.write_bytes(_loaded_template.read_bytes())
    write_predictions(db, synthetic_positives())
    return db


@pytest.fixture(scope="module")
def hostile(_loaded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic store with hostile names, one hostile synonym and one definition."""
    db = tmp_path_factory.mktemp("hostile") / "umls.duckdb"
    db.write_bytes(_loaded_template.read_bytes())
    con = duckdb.connect(str(db))
    for cui, name in HOSTILE.items():
        con.execute("UPDATE concepts SET name = ? WHERE cui = ?", [name, cui])
    syn = SYNONYM.replace("\x00", "")  # DuckDB strings hold no NUL
    con.execute("UPDATE names SET str = ? WHERE cui = 'C0000005' AND ts <> 'P' AND lat = 'ENG' "
                "AND coalesce(suppress, '') NOT IN ('O', 'E', 'Y')", [syn])
    con.execute("DELETE FROM definitions WHERE cui = 'C0000001'")
    con.execute("INSERT INTO definitions SELECT * REPLACE ('C0000001' AS cui, ? AS def, "
                "'N' AS suppress) FROM definitions LIMIT 1", [DEFINITION])
    con.close()
    write_predictions(db, synthetic_positives())
    return db


@pytest.fixture(scope="module")
def hpo(_hpo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("hpo_streaming") / "hpo.duckdb"
    db.write_bytes(_hpo_template.read_bytes())
    write_predictions(db, hpo_positives(db, HPO_ROOT), query=HPO_QUERY)
    return db


def _dump(db: Path, query: str, fmt: str, out: Path) -> tuple[dict, object]:
    """Dump with the streaming writer; return its report and the oracle's graph."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        sub = build(con, load_query(query))
        report = get(fmt).dump(sub, out)
        if fmt == "graphml":
            ref = oracle.flat_graph(sub)
        elif fmt == "gexf":
            ref = oracle.gexf_graph(sub)
        else:
            ref = oracle.rdf_graph(sub)
    finally:
        con.close()
    return report, ref


def _read_graph(fmt: str, out: Path) -> nx.DiGraph:
    return nx.read_graphml(out) if fmt == "graphml" else nx.read_gexf(out)


def _assert_same_graph(got: nx.DiGraph, ref: nx.DiGraph, clean=lambda v: v) -> None:
    """Same nodes in the same order, same attributes, same edges with the same attributes."""
    def tidy(data: dict) -> dict:
        return {k: clean(v) if isinstance(v, str) else v for k, v in data.items() if k != "id"}
    assert list(got.nodes) == [clean(n) for n in ref.nodes]
    for node, data in ref.nodes(data=True):
        assert got.nodes[clean(node)] == tidy(data), node
    assert {(u, v): tidy(d) for u, v, d in got.edges(data=True)} == \
        {(u, v): tidy(d) for u, v, d in ref.edges(data=True)}


@pytest.mark.parametrize("fmt", GRAPH_FORMATS)
@pytest.mark.parametrize("data", ["synthetic", "hpo"])
def test_graph_formats_read_back_as_networkx_wrote_them(fmt, data, request, tmp_path):
    db = request.getfixturevalue(data)
    out = tmp_path / f"sub.{fmt}"
    report, ref = _dump(db, QUERY if data == "synthetic" else HPO_QUERY, fmt, out)
    assert report["replaced_values"] == 0
    got = _read_graph(fmt, out)
    assert got.number_of_nodes() > 80 and got.number_of_edges() > 50
    _assert_same_graph(got, ref)


@pytest.mark.parametrize("fmt", list(RDF_FORMATS))
@pytest.mark.parametrize("data", ["synthetic", "hpo"])
def test_rdf_formats_hold_the_triples_rdflib_wrote(fmt, data, request, tmp_path):
    db = request.getfixturevalue(data)
    out = tmp_path / f"sub.{fmt}"
    report, ref = _dump(db, QUERY if data == "synthetic" else HPO_QUERY, fmt, out)
    got = Graph()
    got.parse(out, format=RDF_FORMATS[fmt])
    assert len(ref) > 400
    assert set(got) == set(ref)
    assert report["triples"] == len(ref)


@pytest.mark.parametrize("fmt", GRAPH_FORMATS)
def test_hostile_strings_in_graph_formats_are_replaced_and_counted(fmt, hostile, tmp_path):
    out = tmp_path / f"sub.{fmt}"
    report, ref = _dump(hostile, QUERY, fmt, out)
    got = _read_graph(fmt, out)  # a raw control character would make this raise
    _assert_same_graph(got, ref, clean=xml_clean)
    for cui, name in HOSTILE.items():
        assert got.nodes[cui]["name"] == xml_clean(name)
    assert "\r" in got.nodes["C0000007"]["name"]  # CR kept (as &#13;), not folded into LF
    changed = [v for _, d in ref.nodes(data=True) for k, v in d.items()
               if isinstance(v, str) and xml_clean(v) != v and (fmt, k) != ("gexf", "label")]
    # synonyms are one joined value in the oracle but counted element by element
    assert report["replaced_values"] >= len(changed) > 0


@pytest.mark.parametrize("fmt", list(RDF_FORMATS))
def test_hostile_strings_survive_every_rdf_format_exactly(fmt, hostile, tmp_path):
    out = tmp_path / f"sub.{fmt}"
    _report, ref = _dump(hostile, QUERY, fmt, out)
    got = Graph()
    got.parse(out, format=RDF_FORMATS[fmt])
    assert set(got) == set(ref)
    for cui, name in HOSTILE.items():
        iri = URIRef(concept_iri(DEFAULT_BASE_IRI, cui))
        assert got.value(iri, SKOS.prefLabel) == Literal(name, lang="en")
    assert Literal(DEFINITION) in set(got.objects(None, SKOS.definition))


def test_ntriples_lines_never_split(hostile, tmp_path):
    out = tmp_path / "sub.nt"
    report, ref = _dump(hostile, QUERY, "nt", out)
    mark, raw = out.read_bytes().split(b"\n", 1)  # the first line: umlsgraph's comment
    assert mark == b"# written by umlsgraph"
    lines = raw.split(b"\n")
    assert lines[-1] == b"" and len(lines) - 1 == len(ref) == report["triples"]
    for line in lines[:-1]:
        assert line.endswith(b" .")
        for bad in ("\x0b", "\x0c", "\r", "\x85", "\u2028", "\u2029", "\x1c", "\x1d", "\x1e"):
            assert bad.encode() not in line
    # Python's str.splitlines() (what tools that sort lines use) sees one line per triple too
    assert len(raw.decode().splitlines()) == len(ref)


def test_exports_are_byte_identical_on_rerun(synthetic, tmp_path):
    for fmt in [*GRAPH_FORMATS, *RDF_FORMATS]:
        first, second = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
        _dump(synthetic, QUERY, fmt, first)
        _dump(synthetic, QUERY, fmt, second)
        assert first.read_bytes() == second.read_bytes(), fmt


def test_known_edge_direction_in_turtle(synthetic, tmp_path):
    out = tmp_path / "sub.ttl"
    _dump(synthetic, QUERY, "ttl", out)
    child, parent = (URIRef(concept_iri(DEFAULT_BASE_IRI, c)) for c in (KNOWN_CHILD, KNOWN_PARENT))
    got = Graph()
    got.parse(out, format="turtle")
    assert (child, SKOS.broader, parent) in got and (parent, SKOS.broader, child) not in got


@pytest.mark.parametrize("fmt", ["graphml", "ttl", "csv"])
def test_export_all_holds_every_concept_with_its_labels(fmt, synthetic, tmp_path):
    from umlsgraph.export.formats import export

    out = tmp_path / ("all" if fmt == "csv" else f"all.{fmt}")
    summary = export(synthetic, None, fmt, out)
    con = duckdb.connect(str(synthetic), read_only=True)
    cuis = {r[0] for r in con.execute("SELECT cui FROM concepts").fetchall()}
    labels = dict(con.execute("SELECT id, label FROM predictions").fetchall())
    con.close()
    assert summary["nodes"] == len(cuis) and summary["queries"] == [QUERY]
    if fmt == "graphml":
        graph = nx.read_graphml(out)
        assert set(graph.nodes) == cuis
        assert {n: d[f"{QUERY}_label"] for n, d in graph.nodes(data=True)} == labels
        assert graph.nodes[KNOWN_CHILD][f"{QUERY}_probability"] == pytest.approx(0.9)
    elif fmt == "ttl":
        graph = Graph()
        graph.parse(out, format="turtle")
        predicate = URIRef(f"urn:umlsgraph:attribute:{QUERY}_label")
        got = {str(s).rsplit("/", 1)[1]: str(o) for s, o in graph.subject_objects(predicate)}
        assert got == labels
    else:
        rows = duckdb.execute(f"SELECT cui, {QUERY}_label FROM read_csv("
                              f"'{out}/nodes.csv', all_varchar=true)").fetchall()
        assert dict(rows) == labels


def test_cli_export_needs_a_query_or_all(synthetic):
    from typer.testing import CliRunner
    from umlsgraph_cli.main import app

    for args in (["export", "--db", str(synthetic)],
                 ["export", QUERY, "--all", "--db", str(synthetic)]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1 and "--all" in result.output
