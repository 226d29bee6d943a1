"""The exporters as they were before the streaming writers: networkx and rdflib graphs built
in memory. Tests compare what the streaming writers write with these, read back by networkx and
rdflib, so "the same content as before" is checked, not assumed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from umlsgraph.export.formats import joined
from umlsgraph.export.subontology import Subontology

Progress = Any
NODE_ATTRIBUTES = ("cui", "name", "semantic_types", "tuis", "probability", "label", "selected",
                   "synonyms", "definition", "component")
EDGE_ATTRIBUTES = ("type", "rel", "rela", "sab")
BATCH = 20_000


def _flat(row: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for key in keys:
        value = row.get(key)
        if isinstance(value, list):
            value = joined(value)
        if value is not None:
            out[key] = value
    return out


def flat_graph(subontology: Subontology, on_progress: Progress | None = None) -> Any:
    """A networkx DiGraph of the subontology with scalar attributes only, in cui order."""
    import networkx as nx

    graph = nx.DiGraph()
    total = subontology.node_count() + subontology.edge_count()
    done = 0
    for batch in subontology.node_batches(BATCH):
        graph.add_nodes_from((row["cui"], _flat(row, NODE_ATTRIBUTES)) for row in batch)
        done += len(batch)
        if on_progress:
            on_progress("graph", done, total)
    for batch in subontology.edge_batches(BATCH):
        graph.add_edges_from((r["from_cui"], r["to_cui"], _flat(r, EDGE_ATTRIBUTES))
                             for r in batch)
        done += len(batch)
        if on_progress:
            on_progress("graph", done, total)
    return graph



def gexf_graph(subontology: Subontology) -> Any:
    """The graph the GEXF exporter wrote: label = name, query_label, relation."""
    graph = flat_graph(subontology)
    for _cui, data in graph.nodes(data=True):
        data["query_label"] = data.pop("label", None)
        data["label"] = data.get("name", _cui)
        if data["query_label"] is None:
            del data["query_label"]
    for _u, _v, data in graph.edges(data=True):
        data["relation"] = data.pop("type")
    return graph

DEFAULT_BASE_IRI = "https://uts.nlm.nih.gov/uts/umls/concept/"
SCHEME_PREFIX = "urn:umlsgraph:scheme:"
BATCH = 10_000
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]*$")


def concept_iri(base: str, cui: str) -> str:
    """The IRI of a concept: the base IRI followed by the percent-encoded CUI."""
    return base + quote(cui, safe=":")


class _SKOS:
    """Makes the triples of a subontology, batch by batch."""

    def __init__(self, subontology: Subontology, base_iri: str, scheme_iri: str | None) -> None:
        from rdflib import URIRef

        self.sub = subontology
        self.base = base_iri
        name = subontology.query.name
        self.scheme = URIRef(scheme_iri or SCHEME_PREFIX + quote(name, safe=""))

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



def rdf_graph(subontology: Subontology, base_iri: str = DEFAULT_BASE_IRI,
              scheme_iri: str | None = None) -> Any:
    """The rdflib graph the RDF exporters serialized."""
    from rdflib import Graph

    skos = _SKOS(subontology, base_iri, scheme_iri)
    graph = Graph(store="SimpleMemory")
    for triples in skos.batches(None):
        for triple in triples:
            graph.add(triple)
    return graph
