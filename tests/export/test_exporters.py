"""Every file format round-trips: read back with networkx, rdflib or DuckDB, compare with the store.

Written once, run per format (pronto's pattern), on the synthetic release and on the real HPO.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.subontology_data import (
    KNOWN_CHILD,
    KNOWN_PARENT,
    QUERY,
    hpo_positives,
    rename,
    synthetic_positives,
    write_predictions,
)
from umlsgraph.errors import ExportError
from umlsgraph.export.formats import export, formats, get
from umlsgraph.export.subontology import EDGES, NODES, SelectionOptions, build
from umlsgraph.query import load_query

FILE_FORMATS = ["graphml", "gexf", "ttl", "nt", "jsonld", "csv", "parquet", "neo4j-admin"]
TRICKY = "x'}) DETACH DELETE n // <b>&amp; \"q\" \\ ; | é"
HPO_QUERY, HPO_ROOT, HPO_CHILD = "hpo_nervous", "HP:0001250", "HP:0007359"  # Seizure, Focal-onset


@dataclass
class ReadBack:
    """What a file says: concept ids, their names, and the hierarchy edges child -> parent."""

    nodes: set[str] = field(default_factory=set)
    names: dict[str, str] = field(default_factory=dict)
    broader: set[tuple[str, str]] = field(default_factory=set)


def _out(tmp: Path, fmt: str) -> Path:
    return tmp / (fmt if fmt in ("csv", "parquet", "neo4j-admin") else f"sub.{fmt}")


def read_back(fmt: str, out: Path) -> ReadBack:
    """Parse an export with an independent reader."""
    if fmt in ("graphml", "gexf"):
        import networkx as nx

        graph = nx.read_graphml(out) if fmt == "graphml" else nx.read_gexf(out)
        kind = "type" if fmt == "graphml" else "relation"
        return ReadBack(set(graph.nodes), {n: d["name"] for n, d in graph.nodes(data=True)},
                        {(u, v) for u, v, d in graph.edges(data=True) if d[kind] == "BROADER"})
    if fmt in ("ttl", "nt", "jsonld"):
        return _read_rdf(fmt, out)
    con = duckdb.connect()
    if fmt == "neo4j-admin":
        nodes = con.execute(f"""SELECT "cui:ID(Concept)", name FROM read_csv('{out}/concepts.csv',
            header=true, all_varchar=true)""").fetchall()
        edges = con.execute(f"""SELECT ":START_ID(Concept)", ":END_ID(Concept)"
            FROM read_csv('{out}/edges.csv', header=true, all_varchar=true)
            WHERE ":TYPE" = 'BROADER'""").fetchall()
    else:
        reader = "read_csv" if fmt == "csv" else "read_parquet"
        nodes = con.execute(f"SELECT cui, name FROM {reader}('{out}/nodes.{fmt}')").fetchall()
        edges = con.execute(f"SELECT from_cui, to_cui FROM {reader}('{out}/edges.{fmt}') "
                            "WHERE type = 'BROADER'").fetchall()
    return ReadBack({n for n, _ in nodes}, dict(nodes), set(edges))


def _read_rdf(fmt: str, out: Path) -> ReadBack:
    from rdflib import Graph
    from rdflib.namespace import RDF, SKOS

    graph = Graph().parse(out, format={"ttl": "turtle", "nt": "nt", "jsonld": "json-ld"}[fmt])
    cuis = {s: str(o) for s, _, o in graph.triples((None, SKOS.notation, None))}
    assert set(cuis) == set(graph.subjects(RDF.type, SKOS.Concept))
    names = {cuis[s]: str(o) for s, _, o in graph.triples((None, SKOS.prefLabel, None))
             if s in cuis}
    broader = {(cuis[s], cuis[o]) for s, _, o in graph.triples((None, SKOS.broader, None))}
    return ReadBack(set(cuis.values()), names, broader)


def expected(db: Path, query: str, **options: object) -> ReadBack:
    """The subontology as built in DuckDB: what every format must say."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        build(con, load_query(query), options=SelectionOptions(**options))  # type: ignore[arg-type]
        names = dict(con.execute(f"SELECT cui, name FROM {NODES}").fetchall())
        broader = set(con.execute(f"SELECT from_cui, to_cui FROM {EDGES} "
                                  "WHERE type = 'BROADER'").fetchall())
    finally:
        con.close()
    return ReadBack(set(names), names, broader)


def _files(out: Path) -> dict[str, bytes]:
    paths = sorted(out.iterdir()) if out.is_dir() else [out]
    return {p.name: p.read_bytes() for p in paths}


@pytest.fixture(scope="module")
def synthetic_db(_loaded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("export") / "umls.duckdb"
    db.write_bytes(_loaded_template.read_bytes())
    rename(db, KNOWN_CHILD, TRICKY)
    write_predictions(db, synthetic_positives())
    return db


@pytest.fixture(scope="module")
def hpo_predicted(_hpo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("hpo_export") / "hpo.duckdb"
    db.write_bytes(_hpo_template.read_bytes())
    write_predictions(db, hpo_positives(db, HPO_ROOT), query=HPO_QUERY)
    return db


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_round_trip_on_synthetic_release(fmt, synthetic_db, tmp_path):
    out = _out(tmp_path, fmt)
    summary = export(synthetic_db, QUERY, fmt, out)
    want, got = expected(synthetic_db, QUERY), read_back(fmt, out)
    assert got.nodes == want.nodes and got.broader == want.broader
    assert (KNOWN_CHILD, KNOWN_PARENT) in got.broader
    assert (KNOWN_PARENT, KNOWN_CHILD) not in got.broader
    assert got.names[KNOWN_CHILD] == TRICKY  # quotes, markup, backslash survive as data
    assert got.names == want.names
    assert summary["nodes"] == len(want.nodes) and summary["format"] == fmt
    before = _files(out)
    export(synthetic_db, QUERY, fmt, out)  # re-running changes nothing
    assert _files(out) == before


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_round_trip_on_real_hpo(fmt, hpo_predicted, tmp_path):
    out = _out(tmp_path, fmt)
    export(hpo_predicted, HPO_QUERY, fmt, out)
    want, got = expected(hpo_predicted, HPO_QUERY), read_back(fmt, out)
    assert len(want.nodes) > 300 and got.nodes == want.nodes and got.broader == want.broader
    assert (HPO_CHILD, HPO_ROOT) in got.broader and (HPO_ROOT, HPO_CHILD) not in got.broader
    assert got.names[HPO_ROOT] == "Seizure" and got.names == want.names


def test_rdf_iris_of_obo_ids_are_valid_and_the_base_is_configurable(hpo_predicted, tmp_path):
    from rdflib import Graph, URIRef
    from rdflib.namespace import RDF, SKOS
    from rdflib.term import _is_valid_uri

    out = tmp_path / "hpo.ttl"
    base = "http://purl.obolibrary.org/obo/"
    export(hpo_predicted, HPO_QUERY, "ttl", out, base_iri=base)
    graph = Graph().parse(out, format="turtle")
    child, root = URIRef(base + HPO_CHILD), URIRef(base + HPO_ROOT)
    assert (child, SKOS.broader, root) in graph
    assert all(_is_valid_uri(str(s)) for s in graph.subjects(RDF.type, SKOS.Concept))
    scheme = next(graph.subjects(RDF.type, SKOS.ConceptScheme))
    assert (root, SKOS.topConceptOf, scheme) in graph and (child, SKOS.inScheme, scheme) in graph
    assert (child, SKOS.topConceptOf, scheme) not in graph
    labels = {str(o) for o in graph.objects(root, SKOS.altLabel)}
    assert "Seizures" in labels and all(o.language == "en"
                                        for o in graph.objects(root, SKOS.altLabel))
    with pytest.raises(ExportError, match="not an absolute IRI"):
        export(hpo_predicted, HPO_QUERY, "ttl", out, base_iri="not an iri/")


def test_exports_are_identical_across_processes(synthetic_db, tmp_path):
    """A re-run is a new process: hash randomisation must not reorder any file."""
    script = ("import sys; from pathlib import Path; from umlsgraph.export.formats import export\n"
              "for f in sys.argv[3:]:\n"
              "    export(sys.argv[1], 'nervous_system', f, Path(sys.argv[2]) / f)\n")
    runs = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", script, str(synthetic_db), str(out),
                        "ttl", "jsonld", "gexf", "graphml"], check=True, env=env)
        runs.append({f"{d.name}": d.read_bytes() for d in sorted(out.iterdir())})
    assert runs[0] == runs[1]


def test_csv_and_parquet_keep_attributes(synthetic_db, tmp_path):
    export(synthetic_db, QUERY, "parquet", tmp_path / "pq")
    export(synthetic_db, QUERY, "csv", tmp_path / "csv")
    con = duckdb.connect()
    sty, syn = con.execute(f"SELECT semantic_types, synonyms FROM "
                           f"'{tmp_path}/pq/nodes.parquet' WHERE cui = ?", [KNOWN_PARENT]
                           ).fetchone()
    assert isinstance(sty, list) and sty and isinstance(syn, list)
    joined = con.execute(f"SELECT semantic_types FROM read_csv('{tmp_path}/csv/nodes.csv') "
                         "WHERE cui = ?", [KNOWN_PARENT]).fetchone()[0]
    assert joined == "|".join(sty)


def test_neo4j_admin_bundle_is_consistent_and_prints_the_command(synthetic_db, tmp_path):
    out = tmp_path / "bundle"
    report = export(synthetic_db, QUERY, "neo4j-admin", out)["export"]
    command = report["command"]
    assert command.startswith("neo4j-admin database import full neo4j ")
    assert "--array-delimiter=U+001F" in command and "--multiline-fields=true" in command
    for name in ("concepts.csv", "subontology.csv", "in_subontology.csv", "edges.csv"):
        assert str((out / name).resolve()) in command
    assert (out / "import.sh").read_text().strip().endswith(command)
    headers = {p.name: p.read_text().splitlines()[0] for p in out.glob("*.csv")}
    assert headers["concepts.csv"].startswith("cui:ID(Concept),")
    assert headers["concepts.csv"].endswith(",:LABEL")
    assert headers["edges.csv"].startswith(":START_ID(Concept),:END_ID(Concept),:TYPE")
    assert headers["in_subontology.csv"].startswith(":START_ID(Concept),:END_ID(Subontology)")
    con = duckdb.connect()
    ids = {r[0] for r in con.execute(f"""SELECT "cui:ID(Concept)" FROM
        read_csv('{out}/concepts.csv', header=true, all_varchar=true)""").fetchall()}
    ends = con.execute(f"""SELECT ":START_ID(Concept)", ":END_ID(Concept)" FROM
        read_csv('{out}/edges.csv', header=true, all_varchar=true)""").fetchall()
    assert ends and all(a in ids and b in ids for a, b in ends)
    sty = con.execute(f"""SELECT "semantic_types:string[]" FROM read_csv('{out}/concepts.csv',
        header=true, all_varchar=true) WHERE "cui:ID(Concept)" = ?""", [KNOWN_PARENT]
        ).fetchone()[0]
    store = duckdb.connect(str(synthetic_db), read_only=True)
    want = [r[0] for r in store.execute("SELECT DISTINCT sty FROM semantic_types WHERE cui = ? "
                                        "ORDER BY sty", [KNOWN_PARENT]).fetchall()]
    store.close()
    assert sty.split("\x1f") == want  # arrays use U+001F, a character no name holds


def test_unknown_format_lists_the_known_ones(synthetic_db, tmp_path):
    with pytest.raises(ExportError, match="unknown export format 'xml'; known: csv, gexf"):
        get("xml")
    assert set(formats()) == set(FILE_FORMATS) | {"neo4j", "obo", "owl", "rrf"}
    result = CliRunner().invoke(app, ["export", QUERY, "--db", str(synthetic_db),
                                      "--format", "xml"])
    assert result.exit_code == 2 and "unknown export format 'xml'" in result.output  # usage
    with pytest.raises(ExportError, match="is a folder; this format writes one file"):
        export(synthetic_db, QUERY, "graphml", tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="exists and is not a folder"):
        export(synthetic_db, QUERY, "csv", tmp_path / "file")


def test_cli_export_prints_the_summary(synthetic_db, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["export", QUERY, "--db", str(synthetic_db), "--format", "csv",
                                 "--out", str(tmp_path / "csv"), "--drop-isolated", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["isolated"] == 0 and summary["dropped"] == 2
    assert summary["export"]["files"] == [str(tmp_path / "csv" / "nodes.csv"),
                                          str(tmp_path / "csv" / "edges.csv")]
    result = runner.invoke(app, ["export", QUERY, "--db", str(synthetic_db), "-f", "graphml",
                                 "-o", str(tmp_path / "s.graphml"), "--threshold", "0.8",
                                 "--with-ancestors"])
    assert result.exit_code == 0, result.output
    assert "largest component" in result.output and "s.graphml" in result.output
    result = runner.invoke(app, ["export", QUERY, "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 1 and "no such database" in result.output
