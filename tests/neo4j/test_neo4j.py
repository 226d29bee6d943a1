"""Neo4j over Bolt: the subontology export and the whole-store load, against a real Bolt server.

The server is FalkorDB's Bolt bridge (tests/neo4j_server.py), which reports itself as
Neo4j 5.13 but has no uniqueness constraints and pastes parameters into the query text; the
writer detects that and escapes, so these tests also cover the quirk handling.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.subontology_data import (
    KNOWN_CHILD,
    KNOWN_PARENT,
    QUERY,
    cui,
    hpo_positives,
    rename,
    synthetic_positives,
    write_predictions,
)
from umlsgraph.errors import ExportError
from umlsgraph.export.formats import export
from umlsgraph.neo4j.bolt import BoltWriter, Neo4jSettings, push
from umlsgraph.selection import SelectionOptions

INJECTIONS = {
    KNOWN_CHILD: "x'}) DETACH DELETE n //",
    cui(6): 'x"}) DETACH DELETE n //',
    cui(7): "\\'}) MATCH (m) DETACH DELETE m RETURN 1 //",
}


def q(settings: Neo4jSettings, cypher: str, **params: object) -> list[dict]:
    with BoltWriter(settings) as writer:
        return writer.run(cypher, **params)


def n(settings: Neo4jSettings, cypher: str, **params: object) -> int:
    return int(q(settings, cypher, **params)[0]["n"])


def totals(settings: Neo4jSettings) -> tuple[int, int]:
    return (n(settings, "MATCH (x) RETURN count(x) AS n"),
            n(settings, "MATCH ()-[r]->() RETURN count(r) AS n"))


@pytest.fixture
def predicted_db(loaded_db: Path) -> Path:
    for concept, name in INJECTIONS.items():
        rename(loaded_db, concept, name)
    write_predictions(loaded_db, synthetic_positives())
    return loaded_db


@pytest.mark.neo4j
def test_export_writes_the_subontology_and_a_rerun_changes_nothing(predicted_db,
                                                                   neo4j_settings):
    summary = export(predicted_db, QUERY, "neo4j", neo4j=neo4j_settings)
    report = summary["export"]
    assert report["graph"] == {"concepts": summary["nodes"], "broader": summary["edges"]}
    assert report["parameters"] == "escaped for an inlining server"
    assert n(neo4j_settings, "MATCH (a:Concept {cui: $c})-[:BROADER]->(b:Concept {cui: $p}) "
             "RETURN count(*) AS n", c=KNOWN_CHILD, p=KNOWN_PARENT) == 1
    assert n(neo4j_settings, "MATCH (a:Concept {cui: $p})-[:BROADER]->(b:Concept {cui: $c}) "
             "RETURN count(*) AS n", c=KNOWN_CHILD, p=KNOWN_PARENT) == 0
    link = q(neo4j_settings, "MATCH (c:Concept {cui: $c})-[m:IN_SUBONTOLOGY]->"
             "(s:Subontology) RETURN m.probability AS p, m.selected AS sel, s.query AS query, "
             "s.model AS model, c.semantic_types AS sty", c=KNOWN_CHILD)[0]
    assert link["p"] == 0.9 and link["sel"] is True and link["query"] == QUERY
    assert link["model"] == summary["model"] and link["sty"]
    before = totals(neo4j_settings)
    assert before == (summary["nodes"] + 1, summary["nodes"] + summary["edges"])
    export(predicted_db, QUERY, "neo4j", neo4j=neo4j_settings)
    assert totals(neo4j_settings) == before
    # a narrower selection drops the links of concepts no longer selected
    narrower = export(predicted_db, QUERY, "neo4j",
                      selection=SelectionOptions(threshold=0.8, closure="none"),
                      neo4j=neo4j_settings)
    assert narrower["export"]["graph"]["concepts"] == narrower["nodes"] < summary["nodes"]


@pytest.mark.neo4j
def test_cypher_injection_through_concept_names_stays_data(predicted_db, neo4j_settings):
    summary = export(predicted_db, QUERY, "neo4j", neo4j=neo4j_settings)
    names = {r["cui"]: r["name"] for r in q(
        neo4j_settings, "MATCH (c:Concept) WHERE c.cui IN $cuis RETURN c.cui AS cui, "
        "c.name AS name", cuis=list(INJECTIONS))}
    assert names == INJECTIONS
    assert n(neo4j_settings, "MATCH (c:Concept) RETURN count(c) AS n") == summary["nodes"]


@pytest.mark.neo4j
def test_push_loads_the_whole_store_idempotently(loaded_db, neo4j_settings):
    report = push(loaded_db, neo4j_settings)
    con = duckdb.connect(str(loaded_db), read_only=True)
    concepts = con.execute("SELECT count(*) FROM concepts").fetchone()[0]
    tuis = con.execute("SELECT count(DISTINCT tui) FROM semantic_types").fetchone()[0]
    typed = con.execute("SELECT count(*) FROM (SELECT DISTINCT cui, tui FROM semantic_types)"
                        ).fetchone()[0]
    pairs = con.execute("SELECT count(*) FROM (SELECT DISTINCT cui1, cui2, rel FROM relations "
                        "WHERE cui1 <> cui2)").fetchone()[0]
    con.close()
    assert report["graph"] == {"concepts": concepts, "semantic_types": tuis,
                               "relationships": pairs + typed}
    assert n(neo4j_settings, "MATCH (:Concept {cui: $c})-[:PAR]->(:Concept {cui: $p}) "
             "RETURN count(*) AS n", c=KNOWN_CHILD, p=KNOWN_PARENT) == 1
    assert n(neo4j_settings, "MATCH (:Concept {cui: $p})-[:CHD]->(:Concept {cui: $c}) "
             "RETURN count(*) AS n", c=KNOWN_CHILD, p=KNOWN_PARENT) == 1
    before = totals(neo4j_settings)
    push(loaded_db, neo4j_settings)
    assert totals(neo4j_settings) == before


@pytest.mark.neo4j
def test_cli_load_store_neo4j_and_neo4j_push(synth_release, tmp_path, neo4j_settings):
    flags = ["--neo4j-uri", neo4j_settings.uri, "--neo4j-user", neo4j_settings.user,
             "--neo4j-password", neo4j_settings.password, "--batch-size", "20"]
    db = tmp_path / "umls.duckdb"
    runner = CliRunner()
    result = runner.invoke(app, ["load", str(synth_release), "--db", str(db), "--store",
                                 "neo4j", *flags])
    assert result.exit_code == 0, result.output
    assert "Neo4j at" in result.output and db.exists()
    concepts = n(neo4j_settings, "MATCH (c:Concept) RETURN count(c) AS n")
    assert concepts == duckdb.connect(str(db), read_only=True).execute(
        "SELECT count(*) FROM concepts").fetchone()[0]
    result = runner.invoke(app, ["neo4j", "push", "--db", str(db), "--json", *flags])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["graph"]["concepts"] == concepts


@pytest.mark.neo4j
def test_export_of_real_hpo_over_bolt(hpo_db, neo4j_settings):
    write_predictions(hpo_db, hpo_positives(hpo_db, "HP:0001250"), query="hpo_nervous")
    summary = export(hpo_db, "hpo_nervous", "neo4j", neo4j=neo4j_settings)
    assert summary["export"]["graph"]["concepts"] == summary["nodes"] > 300
    rows = q(neo4j_settings, "MATCH (a:Concept {cui: 'HP:0007359'})-[:BROADER]->(b:Concept) "
             "RETURN b.cui AS parent, a.name AS name")
    assert {"parent": "HP:0001250", "name": "Focal-onset seizure"} in rows


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_server_is_a_one_line_error(loaded_db, tmp_path):
    write_predictions(loaded_db, synthetic_positives())
    uri = f"bolt://127.0.0.1:{_closed_port()}"
    result = CliRunner().invoke(app, ["export", QUERY, "--db", str(loaded_db), "--format",
                                      "neo4j", "--neo4j-uri", uri])
    assert result.exit_code == 1
    assert f"cannot reach Neo4j at {uri}" in result.output
    assert len(result.output.strip().splitlines()) == 1
    with pytest.raises(ExportError, match="bad Neo4j URI 'http://x'"):
        BoltWriter(Neo4jSettings(uri="http://x"))


def test_settings_resolve_flags_over_environment_over_defaults(monkeypatch):
    monkeypatch.setenv("NEO4J_URI", "bolt://env:7687")
    monkeypatch.setenv("NEO4J_PASSWORD", "secret")
    monkeypatch.delenv("NEO4J_USER", raising=False)
    settings = Neo4jSettings.resolve(uri=None, user=None, password="flag", batch_size=7)
    assert (settings.uri, settings.user, settings.password, settings.batch_size) == (
        "bolt://env:7687", "neo4j", "flag", 7)
    with pytest.raises(ExportError, match="--batch-size must be at least 1"):
        Neo4jSettings.resolve(batch_size=0)


@pytest.mark.neo4j
def test_the_key_index_is_created_and_really_exists(neo4j_settings):
    """FalkorDB rejects CREATE CONSTRAINT … IS UNIQUE, so the writer falls back to an index:
    the server's own index list must show it (and asking again must not fail)."""
    listing = "CALL db.indexes() YIELD label, properties RETURN label, properties"
    key = {"label": "Concept", "properties": ["cui"]}
    with BoltWriter(neo4j_settings) as writer:
        writer.try_run("DROP INDEX ON :Concept(cui)")  # earlier tests of the session made it
        assert key not in writer.run(listing)
        made = writer.ensure_key("Concept", "cui")
        again = writer.ensure_key("Concept", "cui")
        indexes = writer.run(listing)
    assert made in ("index", "constraint") and again
    assert key in indexes


def test_push_in_parallel_batches_writes_the_same_graph(loaded_db, neo4j_settings, monkeypatch):
    """Concurrent transactions (forced on: FalkorDB inlines parameters, so `push` itself
    sends one at a time there) leave the same graph as one at a time."""
    from dataclasses import replace

    sequential = push(loaded_db, neo4j_settings)
    assert sequential["parallel"] == 1 and sequential["batch_size"] == 25
    with BoltWriter(neo4j_settings) as writer:
        writer.run("MATCH (n) DETACH DELETE n")
    monkeypatch.setattr(BoltWriter, "workers", property(lambda self: 4))
    parallel = push(loaded_db, replace(neo4j_settings, parallel=4))
    assert parallel["parallel"] == 4
    assert parallel["graph"] == sequential["graph"] and parallel["sent"] == sequential["sent"]
    assert parallel["graph"]["concepts"] > 250


def test_parallel_option_is_validated():
    from umlsgraph.errors import ExportError

    with pytest.raises(ExportError, match="--parallel"):
        Neo4jSettings(parallel=0)
