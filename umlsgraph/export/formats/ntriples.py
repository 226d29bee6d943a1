"""`--format nt`: SKOS in N-Triples, streamed (see rdf.py for the mapping).

One triple per line, every literal escaped by `rdf_lit` (control characters, NEL, U+2028 and
U+2029 included), so no string can split a line. Order: the scheme, each concept's triples in
cui order, the edges in (child, parent) order, then the scheme's top concepts.
"""

from __future__ import annotations

from typing import Any, ClassVar

from umlsgraph.export.formats import Progress
from umlsgraph.export.formats.rdf import RDF_TYPE, SKOS, RDFExporter, SKOSPlan, literal_sql
from umlsgraph.export.formats.text import write_rows
from umlsgraph.export.subontology import EDGES, NODES

LINE_END = "' .' || chr(10)"


def _str(expr: str) -> str:
    """SQL of a plain RDF string literal for `expr`."""
    return "'\"' || rdf_lit(" + expr + ") || '\"'"


def _line(subject: str, predicate: str, obj: str) -> str:
    return f"{subject} || ' <{predicate}> ' || {obj} || {LINE_END}"


class NTriplesExporter(RDFExporter):
    """`--format nt`: SKOS in N-Triples."""

    format: ClassVar[str] = "nt"
    suffix: ClassVar[str] = ".nt"
    mark: ClassVar[bytes] = b"# written by umlsgraph\n"

    def write(self, plan: SKOSPlan, fh: Any, on_progress: Progress | None) -> None:
        con = plan.sub.con
        fh.write(self.mark)
        fh.write("".join(f"{s} {p} {o} .\n" for s, p, o in plan.scheme_triples()).encode())
        total = plan.sub.node_count() + plan.sub.edge_count()
        done = write_rows(con, node_sql(plan), fh)
        if on_progress:
            on_progress("triples", done, total)
        broader = f"CASE WHEN type = 'BROADER' THEN '<{SKOS}broader>' ELSE '<{SKOS}related>' END"
        done += write_rows(con, f"""SELECT {plan.full_iri_sql('from_cui')} || ' ' || {broader}
            || ' ' || {plan.full_iri_sql('to_cui')} || {LINE_END} FROM {EDGES}""", fh)
        if on_progress:
            on_progress("triples", done, total)
        write_rows(con, f"""SELECT {_line(f"'<{plan.scheme}>'", SKOS + 'hasTopConcept', 'iri')}
            FROM (SELECT {plan.full_iri_sql('cui')} AS iri FROM {NODES}
                  WHERE {plan.top_sql()})""", fh)


def node_sql(plan: SKOSPlan) -> str:
    """One row per concept: all its triples, each on its own line."""
    scheme = f"'<{plan.scheme}>'"
    alt = f"' <{SKOS}altLabel> '"
    extras = [_line("iri", plan.extra_iri(a), literal_sql(a)) for a in plan.extras]
    parts = [
        _line("iri", RDF_TYPE, f"'<{SKOS}Concept>'"),
        _line("iri", SKOS + "inScheme", scheme),
        _line("iri", SKOS + "prefLabel",
              _str("name") + " || CASE WHEN english THEN '@en' ELSE '' END"),
        _line("iri", SKOS + "notation", _str("cui")),
        f"""CASE WHEN len(synonyms) > 0 THEN array_to_string(list_transform(synonyms,
            lambda x: iri || {alt} || '"' || rdf_lit(x) || '"@en' || {LINE_END}), '') END""",
        f"""CASE WHEN coalesce(definition, '') <> '' THEN
            {_line('iri', SKOS + 'definition', _str('definition'))} END""",
        f"CASE WHEN top THEN {_line('iri', SKOS + 'topConceptOf', scheme)} END",
        *extras,
    ]
    return (f"SELECT concat({', '.join(parts)}) FROM (SELECT *, {plan.full_iri_sql('cui')} "
            f"AS iri, {plan.top_sql()} AS top FROM {NODES})")
