"""SKOS in RDF (rdflib): Turtle (`ttl`), N-Triples (`nt`) and JSON-LD (`jsonld`).

Each concept is a `skos:Concept` with IRI `<base IRI><CUI>` (default base
https://uts.nlm.nih.gov/uts/umls/concept/; a CUI is percent-encoded except ':' so ids such as
HP:0000118 give valid IRIs), `skos:prefLabel` (its preferred name, @en when English),
`skos:altLabel` (its other English names, @en), `skos:definition`, `skos:notation` (the CUI)
and `skos:inScheme` the query's `skos:ConceptScheme`. Each hierarchy edge is
`child skos:broader parent`; edges of other relation types (--rel/--rela) are `skos:related`.
Concepts without a parent in the selection are the scheme's top concepts.

Output is deterministic: N-Triples lines are sorted, JSON-LD nodes are sorted by @id, and
rdflib sorts Turtle subjects and predicates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from umlsgraph.errors import ExportError
from umlsgraph.export.formats import Exporter, Progress, atomic_file

if TYPE_CHECKING:
    from umlsgraph.export.selection import Subontology

DEFAULT_BASE_IRI = "https://uts.nlm.nih.gov/uts/umls/concept/"
SCHEME_PREFIX = "urn:umlsgraph:scheme:"
BATCH = 10_000
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]*$")


def concept_iri(base: str, cui: str) -> str:
    """The IRI of a concept: the base IRI followed by the percent-encoded CUI."""
    return base + quote(cui, safe=":")


def check_base_iri(base: str) -> str:
    """A base IRI must be absolute and hold no characters that IRIs forbid."""
    if not _IRI.match(base):
        raise ExportError(f"--base-iri '{base}' is not an absolute IRI; use e.g. "
                          f"{DEFAULT_BASE_IRI}")
    return base


class _SKOS:
    """Makes the triples of a subontology, batch by batch."""

    def __init__(self, subontology: Subontology, base_iri: str, scheme_iri: str | None) -> None:
        from rdflib import URIRef

        self.sub = subontology
        self.base = check_base_iri(base_iri)
        name = subontology.query.name
        self.scheme = URIRef(check_base_iri(scheme_iri or SCHEME_PREFIX + quote(name, safe="")))

    def bind(self, graph: Any) -> None:
        from rdflib.namespace import DCTERMS, SKOS

        graph.bind("skos", SKOS)
        graph.bind("dcterms", DCTERMS)
        graph.bind("concept", self.base)

    def scheme_triples(self) -> list[tuple]:
        from rdflib import Literal
        from rdflib.namespace import DCTERMS, RDF, SKOS

        query = self.sub.query
        triples = [(self.scheme, RDF.type, SKOS.ConceptScheme),
                   (self.scheme, SKOS.prefLabel, Literal(query.name))]
        if query.description:
            triples.append((self.scheme, DCTERMS.description, Literal(query.description)))
        return triples

    def node_triples(self, row: dict[str, Any]) -> list[tuple]:
        from rdflib import Literal, URIRef
        from rdflib.namespace import RDF, SKOS

        iri = URIRef(concept_iri(self.base, row["cui"]))
        lang = "en" if row["english"] else None
        triples = [(iri, RDF.type, SKOS.Concept), (iri, SKOS.inScheme, self.scheme),
                   (iri, SKOS.prefLabel, Literal(row["name"], lang=lang)),
                   (iri, SKOS.notation, Literal(row["cui"]))]
        triples += [(iri, SKOS.altLabel, Literal(s, lang="en")) for s in row["synonyms"]]
        if row["definition"]:
            triples.append((iri, SKOS.definition, Literal(row["definition"])))
        if row["top"]:
            triples += [(iri, SKOS.topConceptOf, self.scheme),
                        (self.scheme, SKOS.hasTopConcept, iri)]
        return triples

    def edge_triple(self, row: dict[str, Any]) -> tuple:
        from rdflib import URIRef
        from rdflib.namespace import SKOS

        predicate = SKOS.broader if row["type"] == "BROADER" else SKOS.related
        return (URIRef(concept_iri(self.base, row["from_cui"])), predicate,
                URIRef(concept_iri(self.base, row["to_cui"])))

    def batches(self, on_progress: Progress | None) -> Iterator[list[tuple]]:
        """Triples in batches: the scheme, then concepts in cui order, then edges."""
        yield self.scheme_triples()
        total = self.sub.node_count() + self.sub.edge_count()
        done = 0
        top = ("*, cui NOT IN (SELECT from_cui FROM subontology_edges "
               "WHERE type = 'BROADER') AS top")
        for batch in self.sub.node_batches(BATCH, top):
            yield [t for row in batch for t in self.node_triples(row)]
            done += len(batch)
            if on_progress:
                on_progress("triples", done, total)
        for batch in self.sub.edge_batches(BATCH, "from_cui, to_cui, type"):
            yield [self.edge_triple(row) for row in batch]
            done += len(batch)
            if on_progress:
                on_progress("triples", done, total)


class _RDFExporter(Exporter):
    """Shared by the RDF formats: build the SKOS graph, serialize with rdflib."""

    rdflib_format: ClassVar[str]

    def graph(self, skos: _SKOS, on_progress: Progress | None) -> Any:
        from rdflib import Graph

        graph = Graph(store="SimpleMemory")  # no contexts: twice as fast
        skos.bind(graph)
        for triples in skos.batches(on_progress):
            for triple in triples:
                graph.add(triple)
        return graph

    def dump(self, subontology: Subontology, out: Path | None, on_progress: Progress | None = None,
             base_iri: str | None = None, scheme_iri: str | None = None,
             **_: Any) -> dict[str, Any]:
        assert out is not None
        skos = _SKOS(subontology, base_iri or DEFAULT_BASE_IRI, scheme_iri)
        with atomic_file(Path(out)) as tmp:
            triples = self.write(skos, tmp, on_progress)
        return {"files": [str(out)], "triples": triples, "scheme": str(skos.scheme)}

    def write(self, skos: _SKOS, path: Path, on_progress: Progress | None) -> int:
        graph = self.graph(skos, on_progress)
        graph.serialize(destination=str(path), format=self.rdflib_format, encoding="utf-8")
        return len(graph)


class TurtleExporter(_RDFExporter):
    """`--format ttl`: SKOS in Turtle."""

    format: ClassVar[str] = "ttl"
    suffix: ClassVar[str] = ".ttl"
    rdflib_format: ClassVar[str] = "turtle"


class NTriplesExporter(_RDFExporter):
    """`--format nt`: SKOS in N-Triples, streamed batch by batch (lines sorted per batch)."""

    format: ClassVar[str] = "nt"
    suffix: ClassVar[str] = ".nt"
    rdflib_format: ClassVar[str] = "nt"

    def write(self, skos: _SKOS, path: Path, on_progress: Progress | None) -> int:
        from rdflib import Graph

        count = 0
        with open(path, "w", encoding="utf-8") as fh:
            for triples in skos.batches(on_progress):
                graph = Graph(store="SimpleMemory")  # no contexts: twice as fast
                for triple in triples:
                    graph.add(triple)
                lines = sorted(set(graph.serialize(format="nt").splitlines()) - {""})
                fh.writelines(line + "\n" for line in lines)
                count += len(lines)
        return count


class JSONLDExporter(_RDFExporter):
    """`--format jsonld`: SKOS in JSON-LD with a compact context (skos, dcterms, concept)."""

    format: ClassVar[str] = "jsonld"
    suffix: ClassVar[str] = ".jsonld"
    rdflib_format: ClassVar[str] = "json-ld"

    def write(self, skos: _SKOS, path: Path, on_progress: Progress | None) -> int:
        from rdflib.namespace import DCTERMS, SKOS

        graph = self.graph(skos, on_progress)
        context = {"skos": str(SKOS), "dcterms": str(DCTERMS), "concept": skos.base}
        doc = json.loads(graph.serialize(format="json-ld", context=context))
        nodes = doc.get("@graph") or [{k: v for k, v in doc.items() if k != "@context"}]
        for node in nodes:
            for key, value in node.items():
                if isinstance(value, list):
                    node[key] = sorted(value, key=lambda v: json.dumps(v, sort_keys=True))
        doc = {"@context": context, "@graph": sorted(nodes, key=lambda n: n.get("@id", ""))}
        path.write_text(json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                        encoding="utf-8")
        return len(graph)
