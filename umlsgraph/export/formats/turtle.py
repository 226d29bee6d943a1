"""`--format ttl`: SKOS in Turtle, streamed (see rdf.py for the mapping).

One block per concept, in cui order (`concept:C0000001 a skos:Concept ; ...`), then one
`skos:broader`/`skos:related` statement per edge, then the scheme's top concepts. A CUI that
is not a plain Turtle local name is written as a full `<IRI>`. Literals are escaped by
`rdf_lit`, so control characters, quotes and line separators cannot break the file.
"""

from __future__ import annotations

from typing import Any, ClassVar

from umlsgraph.db.sql import literal
from umlsgraph.export.formats import Progress
from umlsgraph.export.formats.rdf import (
    DCTERMS,
    SKOS,
    TURTLE_LOCAL,
    XSD,
    RDFExporter,
    SKOSPlan,
    encoded_cui_sql,
    literal_sql,
)
from umlsgraph.export.formats.text import rdf_literal, write_rows
from umlsgraph.export.subontology import EDGES, NODES

NL = "chr(10)"


class TurtleExporter(RDFExporter):
    """`--format ttl`: SKOS in Turtle."""

    format: ClassVar[str] = "ttl"
    suffix: ClassVar[str] = ".ttl"
    mark: ClassVar[bytes] = b"# written by umlsgraph\n"

    def write(self, plan: SKOSPlan, fh: Any, on_progress: Progress | None) -> None:
        con = plan.sub.con
        fh.write(self.header(plan).encode())
        total = plan.sub.node_count() + plan.sub.edge_count()
        done = write_rows(con, node_sql(plan), fh)
        if on_progress:
            on_progress("triples", done, total)
        done += write_rows(con, f"""SELECT {term_sql(plan, 'from_cui')} || CASE WHEN
            type = 'BROADER' THEN ' skos:broader ' ELSE ' skos:related ' END ||
            {term_sql(plan, 'to_cui')} || ' .' || {NL} FROM {EDGES}""", fh)
        if on_progress:
            on_progress("triples", done, total)
        write_rows(con, f"""SELECT '<{plan.scheme}> skos:hasTopConcept ' ||
            {term_sql(plan, 'cui')} || ' .' || {NL} FROM {NODES} WHERE {plan.top_sql()}""", fh)

    def header(self, plan: SKOSPlan) -> str:
        query = plan.sub.query
        lines = [self.mark.decode().rstrip(),
                 f"@prefix concept: <{plan.base}> .", f"@prefix dcterms: <{DCTERMS}> .",
                 f"@prefix skos: <{SKOS}> .", f"@prefix xsd: <{XSD}> .", "",
                 f"<{plan.scheme}> a skos:ConceptScheme ;",
                 f"    skos:prefLabel {rdf_literal(query.name)}"]
        if query.description:
            lines[-1] += " ;"
            lines.append(f"    dcterms:description {rdf_literal(query.description)}")
        lines[-1] += " ."
        return "\n".join(lines) + "\n\n"


def term_sql(plan: SKOSPlan, column: str) -> str:
    """SQL of a concept's Turtle term: `concept:CUI`, or `<IRI>` when CUI is not a local name."""
    return (f"CASE WHEN regexp_full_match({column}, '{TURTLE_LOCAL}') THEN 'concept:' || "
            f"{column} ELSE '<' || {literal(plan.base)} || {encoded_cui_sql(column)} || '>' END")


def node_sql(plan: SKOSPlan) -> str:
    """One row per concept: its Turtle block."""
    scheme = f"<{plan.scheme}>"
    more = f"' ;' || {NL} || '    "
    parts = [
        f"{term_sql(plan, 'cui')} || ' a skos:Concept'",
        f"""{more}skos:prefLabel "' || rdf_lit(name) || '"' ||
            CASE WHEN english THEN '@en' ELSE '' END""",
        f"""CASE WHEN len(synonyms) > 0 THEN {more}skos:altLabel ' || array_to_string(
            list_transform(synonyms, lambda x: '"' || rdf_lit(x) || '"@en'), ', ') END""",
        f"""CASE WHEN coalesce(definition, '') <> '' THEN
            {more}skos:definition "' || rdf_lit(definition) || '"' END""",
        f"""{more}skos:notation "' || rdf_lit(cui) || '"'""",
        f"CASE WHEN top THEN {more}skos:topConceptOf {scheme}' END",
        *(f"{more}<{plan.extra_iri(a)}> ' || {literal_sql(a)}" for a in plan.extras),
        f"{more}skos:inScheme {scheme} .' || {NL} || {NL}",
    ]
    return (f"SELECT concat({', '.join(parts)}) FROM (SELECT *, {plan.top_sql()} AS top "
            f"FROM {NODES})")
