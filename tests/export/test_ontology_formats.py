"""OBO, OWL and RRF exports read back by the tools ontologists and concept extractors use.

OBO: fastobo's strict parser, pronto and obonet. OWL: owlready2 and py-horned-owl. RRF:
`umlsgraph load`, QuickUMLS's installer and scispaCy's UMLS readers. Each on the synthetic
release and on the real HPO (an OBO-loaded store, which keeps its own ids), and with the
hostile strings of test_streaming.py: the same concepts, the same is_a edges, the strings
intact (exactly where the format can hold them; replaced as documented where it cannot).
"""

from __future__ import annotations

import importlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.export.test_streaming import DEFINITION, HOSTILE, SYNONYM, xml_clean
from tests.missing import missing
from tests.subontology_data import (
    KNOWN_CHILD,
    KNOWN_PARENT,
    QUERY,
    hpo_positives,
    synthetic_positives,
    write_predictions,
)
from umlsgraph.export.formats import export, get
from umlsgraph.export.formats.obo import obo_text
from umlsgraph.export.formats.ontology import OBO_PURL, RELATION_ID, synonyms_sql
from umlsgraph.export.formats.owl import relation_iri
from umlsgraph.export.formats.rdf import DEFAULT_BASE_IRI, concept_iri
from umlsgraph.export.subontology import EDGES, NODES, SelectionOptions, SubontologyOptions, build
from umlsgraph.load.dispatch import load
from umlsgraph.query import load_query

HPO_QUERY, HPO_ROOT = "hpo_nervous", "HP:0001250"
#: A source code no identifier syntax expects (the xref of an atom of C0000001).
HOSTILE_CODE = 'a b,c]{d}!"e\\f\tg:h'
DATA = {"synthetic": QUERY, "hpo": HPO_QUERY}


def need(module: str, install: str) -> ModuleType:
    """Import a consumer library; its absence skips locally and fails under CI=true."""
    try:
        return importlib.import_module(module)
    except ImportError:
        missing(f"{module} is not installed: pip install {install}")


@dataclass
class Want:
    """The subontology as DuckDB built it: what every reader must find."""

    names: dict[str, str]
    broader: set[tuple[str, str]]
    definitions: dict[str, str]
    synonyms: dict[str, dict[str, str]] = field(default_factory=dict)  # cui -> text -> scope
    relations: set[tuple[str, str, str]] = field(default_factory=set)  # (cui, rel, target)
    tuis: dict[str, set[str]] = field(default_factory=dict)


def _dump(db: Path, query: str, fmt: str, out: Path, selection: SelectionOptions | None = None,
          **options: Any) -> tuple[dict, Want]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        sub = build(con, load_query(query), options=selection)
        report = get(fmt).dump(sub, out, **options)
        names = dict(con.execute(f"SELECT cui, name FROM {NODES}").fetchall())
        broader = set(con.execute(f"SELECT from_cui, to_cui FROM {EDGES} "
                                  "WHERE type = 'BROADER'").fetchall())
        defs = dict(con.execute(f"SELECT cui, definition FROM {NODES} "
                                "WHERE coalesce(definition, '') <> ''").fetchall())
        synonyms = {cui: {s["text"]: s["scope"] for s in syns}
                    for cui, syns in con.execute(synonyms_sql()).fetchall()}
        flat = dict(con.execute(f"SELECT cui, synonyms FROM {NODES}").fetchall())
        tuis = {c: set(t) for c, t in con.execute(f"SELECT cui, tuis FROM {NODES}").fetchall()}
        relations = set(con.execute(f"SELECT to_cui, {RELATION_ID}, from_cui FROM {EDGES} e "
                                    "WHERE type <> 'BROADER'").fetchall())
    finally:
        con.close()
    # the scoped synonyms are exactly the subontology's synonyms
    assert {c: sorted(s) for c, s in synonyms.items()} == \
        {c: sorted(s) for c, s in flat.items() if s}
    return report, Want(names, broader, defs, synonyms, relations, tuis)


def curie(cui: str) -> str:
    return cui if cui.startswith("HP:") else f"UMLS:{cui}"


def iri(cui: str) -> str:
    if cui.startswith("HP:"):
        return OBO_PURL + cui.replace(":", "_")
    return concept_iri(DEFAULT_BASE_IRI, cui)


@pytest.fixture(scope="module")
def synthetic(_loaded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("ontology") / "umls.duckdb"
    db.write_bytes(_loaded_template.read_bytes())
    write_predictions(db, synthetic_positives())
    return db


@pytest.fixture(scope="module")
def hpo(_hpo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("hpo_ontology") / "hpo.duckdb"
    db.write_bytes(_hpo_template.read_bytes())
    write_predictions(db, hpo_positives(db, HPO_ROOT), query=HPO_QUERY)
    return db


@pytest.fixture(scope="module")
def hostile(_loaded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Hostile preferred names (concept and atom), one hostile synonym, one definition, and
    a synonym the source states as RELATED (TTY RT)."""
    db = tmp_path_factory.mktemp("ontology_hostile") / "umls.duckdb"
    db.write_bytes(_loaded_template.read_bytes())
    con = duckdb.connect(str(db))
    for cui, name in HOSTILE.items():
        con.execute("UPDATE concepts SET name = ? WHERE cui = ?", [name, cui])
        con.execute("UPDATE names SET str = ? WHERE cui = ? AND aui = (SELECT min(aui) FROM "
                    "names WHERE cui = ? AND ts = 'P' AND stt = 'PF' AND ispref = 'Y' AND "
                    "lat = 'ENG')", [name, cui, cui])
    con.execute("UPDATE names SET str = ?, tty = 'RT' WHERE aui = (SELECT min(aui) FROM names "
                "WHERE cui = 'C0000007' AND ts <> 'P' AND lat = 'ENG' AND "
                "coalesce(suppress, '') NOT IN ('O', 'E', 'Y'))", [SYNONYM.replace("\x00", "")])
    con.execute("DELETE FROM definitions WHERE cui = 'C0000001'")
    con.execute("INSERT INTO definitions SELECT * REPLACE ('C0000001' AS cui, ? AS def, "
                "'N' AS suppress) FROM definitions LIMIT 1", [DEFINITION])
    con.execute("UPDATE names SET code = ?, sab = 'SNOMEDCT_US' WHERE aui = (SELECT max(aui) "
                "FROM names WHERE cui = 'C0000001')", [HOSTILE_CODE])
    con.close()
    write_predictions(db, synthetic_positives())
    return db


# --- OBO -------------------------------------------------------------------------------------

def read_fastobo(out: Path) -> dict[str, dict[str, Any]]:
    """Every term as fastobo's strict parser reads it: name, def, synonyms, is_a, xrefs."""
    fastobo = need("fastobo", "fastobo")
    doc = fastobo.load(str(out))
    terms: dict[str, dict[str, Any]] = {}
    for frame in doc:
        if isinstance(frame, fastobo.typedef.TypedefFrame):
            continue
        assert isinstance(frame, fastobo.term.TermFrame)
        term: dict[str, Any] = {"is_a": set(), "synonyms": {}, "xrefs": set()}
        for clause in frame:
            kind = type(clause).__name__
            if kind == "NameClause":
                term["name"] = str(clause.name)
            elif kind == "DefClause":
                term["def"] = str(clause.definition)
                term["def_xrefs"] = [str(x.id) for x in clause.xrefs]
            elif kind == "SynonymClause":
                term["synonyms"][str(clause.synonym.desc)] = str(clause.synonym.scope)
            elif kind == "IsAClause":
                term["is_a"].add(str(clause.term))
            elif kind == "RelationshipClause":
                term.setdefault("relationships", set()).add((str(clause.typedef),
                                                             str(clause.term)))
            elif kind == "XrefClause":
                term["xrefs"].add(f"{clause.xref.id.prefix}:{clause.xref.id.local}")
        terms[str(frame.id)] = term
    return terms


@pytest.mark.parametrize("data", list(DATA))
def test_obo_passes_fastobo_pronto_and_obonet(data, request, tmp_path):
    pronto, obonet = need("pronto", "pronto"), need("obonet", "obonet")
    out = tmp_path / "sub.obo"
    report, want = _dump(request.getfixturevalue(data), DATA[data], "obo", out)
    edges = {(curie(c), curie(p)) for c, p in want.broader}
    assert len(want.names) > 80 and len(edges) > 50
    terms = read_fastobo(out)
    assert set(terms) == {curie(c) for c in want.names} and report["terms"] == len(terms)
    assert {(t, p) for t, term in terms.items() for p in term["is_a"]} == edges
    for cui, name in want.names.items():
        term = terms[curie(cui)]
        assert term["name"] == name and term.get("def") == want.definitions.get(cui)
        assert term["synonyms"] == want.synonyms.get(cui, {})
    with _no_warnings():
        onto = pronto.Ontology(str(out))
    assert {t.id for t in onto.terms()} == set(terms)
    assert {t.id: set(t.subsets) for t in onto.terms()} == {
        curie(c): t for c, t in want.tuis.items()}  # semantic types as subsets
    assert {(t.id, p.id) for t in onto.terms()
            for p in t.superclasses(distance=1, with_self=False)} == edges
    graph = obonet.read_obo(out)
    assert set(graph.nodes) == set(terms)
    assert {(u, v) for u, v, k in graph.edges(keys=True) if k == "is_a"} == edges


class _no_warnings:
    """Fail on any warning pronto raises (an unknown clause, a dangling reference)."""

    def __enter__(self) -> None:
        import warnings

        self._catch = warnings.catch_warnings(record=True)
        self._seen = self._catch.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc: object) -> None:
        self._catch.__exit__(*exc)
        assert not [str(w.message) for w in self._seen]


def test_obo_header_names_query_and_release_and_ids(synthetic, hpo, tmp_path):
    fastobo = need("fastobo", "fastobo")
    export(synthetic, QUERY, "obo", tmp_path / "a.obo")
    header = {str(c).split(":", 1)[0]: str(c) for c in fastobo.load(str(tmp_path / "a.obo")).header}
    assert header["format-version"] == "format-version: 1.4"
    assert header["ontology"] == "ontology: nervous_system"
    assert header["idspace"].startswith(f"idspace: UMLS {DEFAULT_BASE_IRI}")
    text = (tmp_path / "a.obo").read_text()
    assert f"remark: umlsgraph query {QUERY}" in text and "remark: release " in text
    assert f"is_a: UMLS:{KNOWN_PARENT} ! " in text.split(f"id: UMLS:{KNOWN_CHILD}\n")[1]
    assert re.search(r"^xref: MESH:\S+$", text, re.M)  # MSH codes under the OBO prefix
    export(hpo, HPO_QUERY, "obo", tmp_path / "h.obo")
    text = (tmp_path / "h.obo").read_text()
    assert "id: HP:0001250\n" in text and "UMLS:" not in text and "idspace" not in text
    assert re.search(r"^data-version: \S*\d{4}-\d\d-\d\d", text, re.M)  # hp.obo's own


def test_obo_keeps_hostile_strings_exactly(hostile, tmp_path):
    pronto, obonet = need("pronto", "pronto"), need("obonet", "obonet")
    out = tmp_path / "sub.obo"
    _report, want = _dump(hostile, QUERY, "obo", out)
    terms = read_fastobo(out)
    for cui, name in HOSTILE.items():
        assert terms[curie(cui)]["name"] == name
    assert terms["UMLS:C0000001"]["def"] == DEFINITION
    assert "SCTID:" + HOSTILE_CODE in terms["UMLS:C0000001"]["xrefs"]
    syn = SYNONYM.replace("\x00", "")
    assert terms["UMLS:C0000007"]["synonyms"][syn] == "RELATED"  # TTY RT
    assert want.synonyms["C0000007"][syn] == "RELATED"
    onto = pronto.Ontology(str(out))
    for cui, name in HOSTILE.items():
        assert onto[curie(cui)].name == name
    assert onto["UMLS:C0000001"].definition == DEFINITION
    assert {(s.description, s.scope) for s in onto["UMLS:C0000007"].synonyms} >= {(syn, "RELATED")}
    graph = obonet.read_obo(out)  # obonet keeps values raw: one line each, escapes intact
    assert set(graph.nodes) == set(terms)
    for cui, name in HOSTILE.items():
        assert graph.nodes[curie(cui)]["name"] == obo_text(name)


def test_other_relations_are_obo_relationships_and_owl_restrictions(synthetic, tmp_path):
    pronto, owlready2 = need("pronto", "pronto"), need("owlready2", "owlready2")
    selection = SubontologyOptions(rels=("RO",))
    report, want = _dump(synthetic, QUERY, "obo", tmp_path / "s.obo", selection)
    expect = {(curie(c), r, curie(t)) for c, r, t in want.relations}
    assert len(expect) > 3 and report["relations"] == sorted({r for _c, r, _t in expect})
    terms = read_fastobo(tmp_path / "s.obo")
    assert {(t, r, x) for t, term in terms.items()
            for r, x in term.get("relationships", ())} == expect
    onto = pronto.Ontology(str(tmp_path / "s.obo"))
    assert {(t.id, r.id, x.id) for t in onto.terms() for r, xs in t.relationships.items()
            for x in xs} == expect
    _dump(synthetic, QUERY, "owl", tmp_path / "s.owl", selection)
    world = owlready2.World()
    owl = world.get_ontology((tmp_path / "s.owl").as_uri()).load()
    found = {(c.iri, r.property.iri, r.value.iri) for c in owl.classes() for r in c.is_a
             if isinstance(r, owlready2.Restriction) and r.type == owlready2.SOME}
    assert found == {(iri(c), relation_iri(r), iri(t)) for c, r, t in want.relations}


# --- OWL -------------------------------------------------------------------------------------

@pytest.mark.parametrize("data", list(DATA))
def test_owl_loads_in_owlready2_and_horned_owl(data, request, tmp_path):
    owlready2 = need("owlready2", "owlready2")
    out = tmp_path / "sub.owl"
    report, want = _dump(request.getfixturevalue(data), DATA[data], "owl", out)
    world = owlready2.World()
    onto = world.get_ontology(out.as_uri()).load()
    classes = {c.iri: c for c in onto.classes()}
    assert set(classes) == {iri(c) for c in want.names} and report["classes"] == len(classes)
    parents = {(c.iri, p.iri) for c in classes.values() for p in c.is_a
               if isinstance(p, owlready2.ThingClass) and p is not owlready2.Thing}
    assert parents == {(iri(c), iri(p)) for c, p in want.broader}
    iao = world["http://purl.obolibrary.org/obo/IAO_0000115"]
    exact = world["http://www.geneontology.org/formats/oboInOwl#hasExactSynonym"]
    subsets = world["http://www.geneontology.org/formats/oboInOwl#inSubset"]
    for cui, name in want.names.items():
        cls = classes[iri(cui)]
        assert [str(x) for x in cls.label] == [name]
        assert [str(x) for x in iao[cls]] == ([want.definitions[cui]]
                                              if cui in want.definitions else [])
        assert sorted(map(str, exact[cls])) == sorted(
            t for t, s in want.synonyms.get(cui, {}).items() if s == "EXACT")
        assert {x.iri.rsplit("/", 1)[1] for x in subsets[cls]} == want.tuis[cui]
    horned = need("pyhornedowl", "py-horned-owl")
    ontology = horned.open_ontology(str(out), "owl")
    assert set(ontology.get_classes()) == set(classes)
    subclass = {(str(a.sub), str(a.sup)) for a in (c.component for c in ontology.get_axioms())
                if type(a).__name__ == "SubClassOf"}
    assert subclass == {(iri(c), iri(p)) for c, p in want.broader}


def test_owl_hostile_strings_survive_or_are_replaced_and_counted(hostile, tmp_path):
    owlready2 = need("owlready2", "owlready2")
    out = tmp_path / "sub.owl"
    report, _want = _dump(hostile, QUERY, "owl", out)
    world = owlready2.World()
    world.get_ontology(out.as_uri()).load()
    for cui, name in HOSTILE.items():
        assert [str(x) for x in world[iri(cui)].label] == [xml_clean(name)]
    iao = world["http://purl.obolibrary.org/obo/IAO_0000115"]
    assert [str(x) for x in iao[world[iri("C0000001")]]] == [xml_clean(DEFINITION)]
    related = world["http://www.geneontology.org/formats/oboInOwl#hasRelatedSynonym"]
    assert [str(x) for x in related[world[iri("C0000007")]]] == \
        [xml_clean(SYNONYM.replace("\x00", ""))]
    assert report["replaced_values"] >= 3


# --- RRF -------------------------------------------------------------------------------------

NAME_COLUMNS = "cui, aui, lat, ts, lui, stt, sui, ispref, sab, tty, code, str, suppress, scui, sdui"
TABLES = {"names": NAME_COLUMNS,
          "relations": "cui1, aui1, stype1, rel, cui2, aui2, stype2, rela, rui, sab, rg, dir, "
                       "suppress",
          "semantic_types": "cui, tui, stn, sty", "definitions": "cui, aui, sab, def, suppress"}


def _rows(db: Path, table: str, cuis: set[str] | None = None) -> set[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(f"SELECT {TABLES[table]} FROM {table}").fetchall()
    finally:
        con.close()
    if cuis is None:
        return set(rows)
    keep = (lambda r: r[0] in cuis and r[4] in cuis) if table == "relations" else \
        (lambda r: r[0] in cuis)
    return {r for r in rows if keep(r)}


@pytest.mark.parametrize("data", list(DATA))
def test_rrf_reloads_exactly_the_selection(data, request, tmp_path):
    db = request.getfixturevalue(data)
    out = tmp_path / "rrf"
    report, want = _dump(db, DATA[data], "rrf", out)
    assert report["left_empty"]["MRCONSO"] == ["SAUI", "SRL", "CVF"]
    reloaded = tmp_path / "again.duckdb"
    load(out, reloaded)
    con = duckdb.connect(str(reloaded), read_only=True)
    names = dict(con.execute("SELECT cui, name FROM concepts").fetchall())
    sources = con.execute("SELECT sab, name, version FROM sources").fetchall()
    con.close()
    assert names == want.names
    for table in TABLES:
        assert _rows(reloaded, table) == _rows(db, table, set(want.names)), table
    con = duckdb.connect(str(db), read_only=True)
    assert set(sources) <= set(con.execute("SELECT sab, name, version FROM sources").fetchall())
    con.close()
    if data == "hpo":  # the reloaded ontology keeps its own ids in OBO and OWL
        export(reloaded, None, "obo", tmp_path / "again.obo")
        assert f"id: {HPO_ROOT}\n" in (tmp_path / "again.obo").read_text()
        export(reloaded, None, "owl", tmp_path / "again.owl")
        assert f'rdf:about="{iri(HPO_ROOT)}"' in (tmp_path / "again.owl").read_text()


def test_rrf_writes_what_a_field_can_hold(hostile, tmp_path):
    out = tmp_path / "rrf"
    report, want = _dump(hostile, QUERY, "rrf", out)
    reloaded = tmp_path / "again.duckdb"
    load(out, reloaded)
    con = duckdb.connect(str(reloaded), read_only=True)
    names = dict(con.execute("SELECT cui, name FROM concepts").fetchall())
    definition = con.execute("SELECT def FROM definitions WHERE cui = 'C0000001'").fetchall()
    con.close()
    assert set(names) == set(want.names)
    for cui, name in HOSTILE.items():
        assert names[cui] == re.sub("[\r\n]", " ", name)  # an RRF line cannot break
    assert definition == [(re.sub("[\r\n]", " ", DEFINITION),)]
    assert report["changed_values"] == 2


def test_quickumls_installer_builds_its_index_from_the_rrf(synthetic, tmp_path, monkeypatch):
    install = need("quickumls.install", "quickumls")
    from quickumls.toolbox import CuiSemTypesDB, SimstringDBReader

    out = tmp_path / "rrf"
    _report, want = _dump(synthetic, QUERY, "rrf", out)
    target = tmp_path / "quickumls"
    target.mkdir()
    # the installer's first step checks for (and downloads) a spaCy tokenizer model; it has
    # nothing to do with the UMLS files, and this machine has no network
    monkeypatch.setattr(install, "install_spacy", lambda lang: None)
    monkeypatch.setattr(sys, "argv", ["quickumls.install", "-L", str(out / "META"),
                                      str(target)])
    install.main()
    terms = SimstringDBReader(str(target / "umls-simstring.db"), "cosine", 0.99)
    cuis = CuiSemTypesDB(str(target / "cui-semtypes.db"), database_backend="unqlite")
    con = duckdb.connect(str(synthetic), read_only=True)
    atoms = con.execute("SELECT list_contains(?, cui), lower(str) FROM names",
                        [sorted(want.names)]).fetchall()
    con.close()
    for cui, name in want.names.items():
        assert name.lower() in terms.get(name.lower())
        assert cui in {c for c, *_ in cuis.get(name.lower())}
    inside = {s for selected, s in atoms if selected}
    found = {t for selected, s in atoms if not selected for t in terms.get(s)}
    assert found <= inside  # an unselected concept's names are not in the index


def test_scispacy_umls_readers_read_the_rrf(synthetic, tmp_path):
    umls_utils = need("scispacy.umls_utils", "--no-deps scispacy")
    out = tmp_path / "rrf"
    _report, want = _dump(synthetic, QUERY, "rrf", out)
    meta = str(out / "META")
    concepts: dict[str, dict] = {}
    umls_utils.read_umls_concepts(meta, concepts)
    umls_utils.read_umls_types(meta, concepts)
    umls_utils.read_umls_definitions(meta, concepts)
    assert set(concepts) == set(want.names)
    for cui, name in want.names.items():
        assert concepts[cui]["canonical_name"] == name and concepts[cui]["types"]
        assert {a.lower() for a in concepts[cui]["aliases"]} >= {
            s.lower() for s in want.synonyms.get(cui, {})}
    assert {c for c, v in concepts.items() if "definition" in v} == set(want.definitions)


# --- all three -------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["obo", "owl", "rrf"])
def test_reruns_are_byte_identical(fmt, synthetic, tmp_path):
    outs = [tmp_path / f"{fmt}{i}" for i in (1, 2)]
    for out in outs:
        export(synthetic, QUERY, fmt, out)

    def files(out: Path) -> dict[str, bytes]:
        if out.is_file():
            return {"": out.read_bytes()}
        return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
                if p.is_file()}
    assert files(outs[0]) == files(outs[1])


def test_cli_writes_each_format_and_refuses_a_corpus(synthetic, tmp_path):
    runner = CliRunner()
    for fmt, out in (("obo", tmp_path / "s.obo"), ("owl", tmp_path / "s.owl"),
                     ("rrf", tmp_path / "rrf")):
        result = runner.invoke(app, ["export", QUERY, "--db", str(synthetic), "-f", fmt,
                                     "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "wrote" in result.output
    assert (tmp_path / "rrf" / "META" / "MRCONSO.RRF").exists()
    assert {p.name for p in (tmp_path / "rrf" / "META").iterdir()} == {
        "MRCONSO.RRF", "MRREL.RRF", "MRSTY.RRF", "MRDEF.RRF", "MRSAB.RRF", "MRFILES.RRF"}
