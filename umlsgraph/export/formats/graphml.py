"""GraphML (networkx): one node per concept, one edge per child -> parent pair.

Node attributes: cui, name, semantic_types, tuis, probability, label, selected, synonyms,
definition, component. Edge attributes: type, rel, rela, sab. GraphML has no list type, so
list attributes are joined with "|"; an attribute without a value (a probability for an
unpredicted ancestor, a missing definition) is left out of that node.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from umlsgraph.export.formats import Exporter, Progress, atomic_file, joined

if TYPE_CHECKING:
    from umlsgraph.export.selection import Subontology

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


class GraphMLExporter(Exporter):
    """`--format graphml`: a .graphml file readable by networkx, Gephi, Cytoscape, yEd."""

    format: ClassVar[str] = "graphml"
    suffix: ClassVar[str] = ".graphml"

    def dump(self, subontology: Subontology, out: Path | None, on_progress: Progress | None = None,
             **_: Any) -> dict[str, Any]:
        import networkx as nx

        assert out is not None
        graph = flat_graph(subontology, on_progress)
        with atomic_file(Path(out)) as tmp:
            nx.write_graphml(graph, tmp, encoding="utf-8", prettyprint=True)
        return {"files": [str(out)]}
