"""`--format neo4j`: write the subontology into a running Neo4j over Bolt.

Graph model (the concepts are the same `:Concept` nodes `umlsgraph load --store neo4j`
writes, so a subontology can be laid over a loaded Metathesaurus):

    (:Subontology {query, positive, selection, model, threshold})
    (:Concept {cui, name, semantic_types, tuis, synonyms, definition})
        -[:IN_SUBONTOLOGY {probability, label, selected, component, run}]->(:Subontology)
    (child:Concept)-[:BROADER {rel, rela, sab}]->(parent:Concept)
    (:Concept)-[:RO|RB|... {rel, rela, sab}]->(:Concept)        for --rel/--rela edges

Batched `UNWIND $rows MERGE`, parameters only; `--batch-size` rows per transaction and
`--parallel` transactions at once where the server allows (see neo4j/bolt.py). A re-run
MERGEs onto the same nodes and relationships; concepts that are no longer selected lose
their IN_SUBONTOLOGY link (each link carries a token of the export that wrote it, and links
with another token are removed).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from umlsgraph.export.formats import Exporter, Progress
from umlsgraph.neo4j.bolt import (
    BoltWriter,
    Neo4jSettings,
    merge_relationships_cypher,
    relationship_type,
    run_token,
)

if TYPE_CHECKING:
    from umlsgraph.export.subontology import Subontology

SUBONTOLOGY_CYPHER = (
    "MERGE (s:Subontology {query: $query}) SET s.positive = $positive, "
    "s.selection = $selection, s.model = $model, s.threshold = $threshold")
NODES_CYPHER = (
    "UNWIND $rows AS r MERGE (c:Concept {cui: r.cui}) "
    "SET c.name = r.name, c.semantic_types = r.semantic_types, c.tuis = r.tuis, "
    "c.synonyms = r.synonyms, c.definition = r.definition "
    "WITH c, r MATCH (s:Subontology {query: $query}) MERGE (c)-[m:IN_SUBONTOLOGY]->(s) "
    "SET m.probability = r.probability, m.label = r.label, m.selected = r.selected, "
    "m.component = r.component, m.run = $run")
STALE_CYPHER = ("MATCH (:Concept)-[m:IN_SUBONTOLOGY]->(:Subontology {query: $query}) "
                "WHERE m.run <> $run DELETE m")
NODE_COLUMNS = ("cui, name, semantic_types, tuis, synonyms, definition, probability, label, "
                "selected, component")
EDGE_COLUMNS = "from_cui, to_cui, type, rel, rela, sab"


class Neo4jExporter(Exporter):
    """`--format neo4j`: MERGE the subontology into Neo4j (see the module docstring)."""

    format: ClassVar[str] = "neo4j"
    target: ClassVar[str] = "server"

    def dump(self, subontology: Subontology, out: Path | None = None,
             on_progress: Progress | None = None, neo4j: Neo4jSettings | None = None,
             **_: Any) -> dict[str, Any]:
        settings = neo4j or Neo4jSettings.resolve()
        summary = subontology.summary
        token = run_token(subontology.query.name, _node_fingerprint(subontology))
        with BoltWriter(settings) as writer:
            keys = {"Concept.cui": writer.ensure_key("Concept", "cui"),
                    "Subontology.query": writer.ensure_key("Subontology", "query")}
            writer.run(SUBONTOLOGY_CYPHER, query=subontology.query.name,
                       positive=subontology.query.positive, selection=summary.get("selection"),
                       model=summary.get("model"), threshold=summary.get("threshold"))
            total = subontology.node_count()
            rows = (row for batch in subontology.node_batches(5000, NODE_COLUMNS) for row in batch)
            writer.write(NODES_CYPHER, rows, "concepts", total, on_progress,
                         query=subontology.query.name, run=token)
            writer.run(STALE_CYPHER, query=subontology.query.name, run=token)
            self._edges(subontology, writer, on_progress)
            counts = self._counts(writer, subontology.query.name)
        return {"uri": settings.uri, "keys": keys, "graph": counts, "run": token,
                "parameters": "escaped for an inlining server" if writer.escape else "native"}

    def _edges(self, subontology: Subontology, writer: BoltWriter,
               on_progress: Progress | None) -> None:
        """Edges type by type, streamed from DuckDB (one MERGE statement per type)."""
        total = subontology.edge_count()
        done = 0
        con = subontology.con
        types = [r[0] for r in con.execute("SELECT DISTINCT type FROM subontology_edges "
                                           "ORDER BY type").fetchall()]
        for edge_type in types:
            rel_type = "BROADER" if edge_type == "BROADER" else relationship_type(edge_type)
            rows = (row for batch in _batches(con, edge_type, writer.settings.batch_size)
                    for row in batch)
            done += writer.write(merge_relationships_cypher(rel_type), rows, "edges", total,
                                 _offset(on_progress, done))

    def _counts(self, writer: BoltWriter, query: str) -> dict[str, int]:
        member = "(c:Concept)-[:IN_SUBONTOLOGY]->(:Subontology {query: $query})"
        return {
            "concepts": writer.count(f"MATCH {member} RETURN count(c) AS n", query=query),
            "broader": writer.count(
                f"MATCH {member} MATCH (c)-[e:BROADER]->(p:Concept)"
                "-[:IN_SUBONTOLOGY]->(:Subontology {query: $query}) RETURN count(e) AS n",
                query=query),
        }


def _batches(con: Any, edge_type: str, size: int) -> Any:
    """The edges of one type as lists of dicts, in (from, to) order."""
    con.execute("SELECT NULL").fetchall()  # DuckDB 2 refuses con.sql() while a result is open
    reader = con.sql(f"SELECT {EDGE_COLUMNS} FROM subontology_edges WHERE type = $1 "
                     "ORDER BY from_cui, to_cui", params=[edge_type]).to_arrow_reader(
                         max(size, 1000))
    for batch in reader:
        yield batch.to_pylist()


def _offset(on_progress: Progress | None, start: int) -> Progress | None:
    if on_progress is None:
        return None
    return lambda task, done, total: on_progress(task, start + done, total)


def _node_fingerprint(subontology: Subontology) -> str:
    """A hash of what the IN_SUBONTOLOGY links carry, so identical re-runs write equal tokens."""
    row = subontology.con.execute(
        "SELECT md5(string_agg(cui || '|' || coalesce(probability::VARCHAR, '') || '|' || "
        "coalesce(label, '') || '|' || selected::VARCHAR || '|' || component::VARCHAR, ',' "
        "ORDER BY cui)) FROM subontology_nodes").fetchall()
    return str(row[0][0]) if row else ""
