"""SKOS in RDF, shared by the streaming Turtle (`ttl`), N-Triples (`nt`) and JSON-LD writers.

Each concept is a `skos:Concept` with IRI `<base IRI><CUI>` (default base
https://uts.nlm.nih.gov/uts/umls/concept/; a CUI is percent-encoded except ':' so ids such as
HP:0000118 give valid IRIs), `skos:prefLabel` (its preferred name, @en when English),
`skos:altLabel` (its other English names, @en), `skos:definition`, `skos:notation` (the CUI)
and `skos:inScheme` the query's `skos:ConceptScheme`. Each hierarchy edge is
`child skos:broader parent`; edges of other relation types (--rel/--rela) are `skos:related`.
Concepts without a parent in the selection are the scheme's top concepts. Node columns beyond
the subontology's own (each query's label and probability in `export --all`) become
`<urn:umlsgraph:attribute:COLUMN>` triples with typed literals (xsd:double, xsd:boolean,
xsd:integer).

The writers render every triple in DuckDB SQL (see text.py) and stream it: concepts in cui
order, then edges in (child, parent) order, then the scheme's top concepts. The output is
deterministic and memory does not grow with the selection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from umlsgraph.db.sql import identifier, literal
from umlsgraph.errors import ExportError
from umlsgraph.export.formats import Exporter, Progress, atomic_file
from umlsgraph.export.formats.text import Attribute, attributes, install_macros
from umlsgraph.export.subontology import EDGES, NODES

if TYPE_CHECKING:
    from umlsgraph.export.subontology import Subontology

DEFAULT_BASE_IRI = "https://uts.nlm.nih.gov/uts/umls/concept/"
SCHEME_PREFIX = "urn:umlsgraph:scheme:"
ATTRIBUTE_PREFIX = "urn:umlsgraph:attribute:"
SKOS = "http://www.w3.org/2004/02/skos/core#"
DCTERMS = "http://purl.org/dc/terms/"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
XSD = "http://www.w3.org/2001/XMLSchema#"
XSD_TYPES = {"double": "double", "boolean": "boolean", "long": "integer"}
#: Node columns the SKOS mapping covers (or leaves out on purpose); others are extra triples.
STANDARD_COLUMNS = ("cui", "name", "english", "semantic_types", "tuis", "probability", "label",
                    "selected", "synonyms", "definition", "component")
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`\x00-\x20]*$")
#: A CUI that can follow `concept:` in Turtle as it is (a safe subset of PN_LOCAL).
TURTLE_LOCAL = "[A-Za-z0-9_:][A-Za-z0-9_:-]*"


def concept_iri(base: str, cui: str) -> str:
    """The IRI of a concept: the base IRI followed by the percent-encoded CUI."""
    return base + quote(cui, safe=":")


def check_base_iri(base: str) -> str:
    """A base IRI must be absolute and hold no characters that IRIs forbid."""
    if not _IRI.match(base):
        raise ExportError(f"--base-iri '{base}' is not an absolute IRI; use e.g. "
                          f"{DEFAULT_BASE_IRI}")
    return base


def encoded_cui_sql(column: str) -> str:
    """SQL of quote(cui, safe=':'): DuckDB's url_encode keeps the same unreserved set."""
    return f"replace(url_encode({column}), '%3A', ':')"


def literal_sql(attr: Attribute, column: str | None = None) -> str:
    """SQL of a Turtle/N-Triples literal for a column value (NULL when the value is)."""
    col = column or identifier(attr.name)
    text = f"'\"' || rdf_lit({attr.as_text(col)}) || '\"'"
    xsd = XSD_TYPES.get(attr.kind)
    return f"{text} || '^^<{XSD}{xsd}>'" if xsd else text


@dataclass
class SKOSPlan:
    """What every RDF writer needs: IRIs, the scheme, the extra attribute columns."""

    sub: Subontology
    base: str
    scheme: str
    extras: list[Attribute]

    @classmethod
    def of(cls, subontology: Subontology, base_iri: str | None,
           scheme_iri: str | None) -> SKOSPlan:
        base = check_base_iri(base_iri or DEFAULT_BASE_IRI)
        name = subontology.query.name
        scheme = check_base_iri(scheme_iri or SCHEME_PREFIX + quote(name, safe=""))
        extras = attributes(subontology.con, NODES, STANDARD_COLUMNS)
        install_macros(subontology.con, clean_xml=False)
        return cls(subontology, base, scheme, extras)

    def full_iri_sql(self, column: str) -> str:
        """SQL of `<IRI>` for a CUI column."""
        return f"'<' || {literal(self.base)} || {encoded_cui_sql(column)} || '>'"

    def top_sql(self) -> str:
        """SQL condition on a node row: no parent in the selection."""
        return f"cui NOT IN (SELECT from_cui FROM {EDGES} WHERE type = 'BROADER')"

    def extra_iri(self, attr: Attribute) -> str:
        return ATTRIBUTE_PREFIX + quote(attr.name, safe="")

    def scheme_triples(self) -> list[tuple[str, str, str]]:
        """(subject, predicate, object) of the scheme, as N-Triples terms."""
        from umlsgraph.export.formats.text import rdf_literal

        query = self.sub.query
        scheme = f"<{self.scheme}>"
        triples = [(scheme, f"<{RDF_TYPE}>", f"<{SKOS}ConceptScheme>"),
                   (scheme, f"<{SKOS}prefLabel>", rdf_literal(query.name))]
        if query.description:
            triples.append((scheme, f"<{DCTERMS}description>", rdf_literal(query.description)))
        return triples


class RDFExporter(Exporter):
    """Shared by the RDF writers: plan, write atomically, report the triple count."""

    def dump(self, subontology: Subontology, out: Path | None, on_progress: Progress | None = None,
             base_iri: str | None = None, scheme_iri: str | None = None,
             **_: Any) -> dict[str, Any]:
        assert out is not None
        plan = SKOSPlan.of(subontology, base_iri, scheme_iri)
        with atomic_file(Path(out)) as tmp, open(tmp, "wb") as fh:
            self.write(plan, fh, on_progress)
        return {"files": [str(out)], "triples": triple_count(plan), "scheme": plan.scheme}

    def write(self, plan: SKOSPlan, fh: Any, on_progress: Progress | None) -> None:
        raise NotImplementedError

    format: ClassVar[str]


def triple_count(plan: SKOSPlan) -> int:
    """How many distinct triples the writers emit, counted in SQL (no graph is built)."""
    con = plan.sub.con
    extras = " + ".join(f'count("{a.name}")' for a in plan.extras) or "0"
    row = con.execute(f"""SELECT count(*) * 4 + coalesce(sum(len(synonyms)), 0)
        + count(*) FILTER (WHERE coalesce(definition, '') <> '')
        + 2 * count(*) FILTER (WHERE {plan.top_sql()}) + {extras} FROM {NODES}""").fetchone()
    edges = con.execute(f"SELECT count(*) FROM (SELECT DISTINCT from_cui, to_cui, "
                        f"type = 'BROADER' FROM {EDGES})").fetchone()
    return int(row[0] if row else 0) + int(edges[0] if edges else 0) + len(plan.scheme_triples())
