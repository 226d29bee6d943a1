"""`--format jsonld`: SKOS in JSON-LD, streamed (see rdf.py for the mapping).

`{"@context": {...}, "@graph": [...]}` with one node object per line: the scheme, then each
concept in cui order, then one small object per edge (`{"@id": child, "skos:broader":
{"@id": parent}}`) and per top concept; JSON-LD merges node objects with the same @id, so
rdflib reads back one node per concept. Strings are JSON-escaped by DuckDB's `to_json`.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from umlsgraph.db.sql import literal
from umlsgraph.export.formats import Progress
from umlsgraph.export.formats.rdf import (
    DCTERMS,
    SKOS,
    XSD,
    XSD_TYPES,
    RDFExporter,
    SKOSPlan,
    encoded_cui_sql,
)
from umlsgraph.export.formats.text import Attribute, write_rows
from umlsgraph.export.subontology import EDGES, NODES

NL = "chr(10)"


class JSONLDExporter(RDFExporter):
    """`--format jsonld`: SKOS in JSON-LD with a compact context (skos, dcterms, concept)."""

    format: ClassVar[str] = "jsonld"
    suffix: ClassVar[str] = ".jsonld"
    #: JSON has no comments: the start only this writer gives a file
    mark: ClassVar[bytes] = b'{"@context": {"concept": '

    def write(self, plan: SKOSPlan, fh: Any, on_progress: Progress | None) -> None:
        con = plan.sub.con
        context = {"concept": plan.base, "dcterms": DCTERMS, "skos": SKOS, "xsd": XSD}
        query = plan.sub.query
        scheme: dict[str, Any] = {"@id": plan.scheme, "@type": "skos:ConceptScheme",
                                  "skos:prefLabel": query.name}
        if query.description:
            scheme["dcterms:description"] = query.description
        fh.write(('{"@context": ' + json.dumps(context, ensure_ascii=False) + ',\n"@graph": [\n'
                  + json.dumps(scheme, ensure_ascii=False)).encode())
        total = plan.sub.node_count() + plan.sub.edge_count()
        done = write_rows(con, node_sql(plan), fh)
        if on_progress:
            on_progress("nodes", done, total)
        done += write_rows(con, f"""SELECT ',' || {NL} || '{{"@id": ' || {curie('from_cui')}
            || CASE WHEN type = 'BROADER' THEN ', "skos:broader": ' ELSE ', "skos:related": '
            END || '{{"@id": ' || {curie('to_cui')} || '}}}}' FROM {EDGES}""", fh)
        if on_progress:
            on_progress("nodes", done, total)
        write_rows(con, f"""SELECT ',' || {NL} || {literal(_scheme_head(plan))} || '{{"@id": '
            || {curie('cui')} || '}}}}' FROM {NODES} WHERE {plan.top_sql()}""", fh)
        fh.write(b"\n]}\n")


def _scheme_head(plan: SKOSPlan) -> str:
    return '{"@id": ' + json.dumps(plan.scheme) + ', "skos:hasTopConcept": '


def curie(column: str) -> str:
    """SQL of the JSON string `"concept:<encoded cui>"`."""
    return f"""to_json('concept:' || {encoded_cui_sql(column)})::VARCHAR"""


def _value(attr: Attribute) -> str:
    text = f"to_json({attr.as_text()})::VARCHAR"
    xsd = XSD_TYPES.get(attr.kind)
    if xsd:
        return f"""'{{"@value": ' || {text} || ', "@type": "xsd:{xsd}"}}'"""
    return text


def node_sql(plan: SKOSPlan) -> str:
    """One row per concept: `,` newline and its node object."""
    scheme = json.dumps({"@id": plan.scheme})
    en = """'{"@language": "en", "@value": ' || to_json(x)::VARCHAR || '}'"""
    parts = [
        f"""',' || {NL} || '{{"@id": ' || {curie('cui')} || ', "@type": "skos:Concept"'""",
        """', "skos:prefLabel": ' || CASE WHEN english THEN
            '{"@language": "en", "@value": ' || to_json(name)::VARCHAR || '}'
            ELSE to_json(name)::VARCHAR END""",
        f"""CASE WHEN len(synonyms) > 0 THEN ', "skos:altLabel": [' ||
            array_to_string(list_transform(synonyms, lambda x: {en}), ', ') || ']' END""",
        """CASE WHEN coalesce(definition, '') <> '' THEN
            ', "skos:definition": ' || to_json(definition)::VARCHAR END""",
        """', "skos:notation": ' || to_json(cui)::VARCHAR""",
        f"""CASE WHEN top THEN {literal(', "skos:topConceptOf": ' + scheme)} END""",
        *(f"{literal(', ' + json.dumps(plan.extra_iri(a)) + ': ')} || {_value(a)}"
          for a in plan.extras),
        f"""{literal(', "skos:inScheme": ' + scheme + '}')}""",
    ]
    return (f"SELECT concat({', '.join(parts)}) FROM (SELECT *, {plan.top_sql()} AS top "
            f"FROM {NODES})")
