"""GEXF 1.2 (networkx), for Gephi: the same nodes, edges and attributes as GraphML.

The GEXF node label is the concept name (networkx reads it back as the attribute `label`); the
query's label for the concept is the attribute `query_label`. GEXF reserves the edge attribute
`type` (directed/undirected), so the edge type (BROADER, RO…) is the attribute `relation`.
networkx stamps GEXF files with today's date; the date written here is the date of the
predictions instead, so re-running an export on unchanged data writes the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from umlsgraph.export.formats import Exporter, Progress, atomic_file
from umlsgraph.export.formats.graphml import flat_graph

if TYPE_CHECKING:
    from umlsgraph.export.selection import Subontology


class GEXFExporter(Exporter):
    """`--format gexf`: a .gexf file for Gephi."""

    format: ClassVar[str] = "gexf"
    suffix: ClassVar[str] = ".gexf"

    def dump(self, subontology: Subontology, out: Path | None, on_progress: Progress | None = None,
             **_: Any) -> dict[str, Any]:
        from networkx.readwrite.gexf import GEXFWriter

        assert out is not None
        graph = flat_graph(subontology, on_progress)
        for _cui, data in graph.nodes(data=True):
            data["query_label"] = data.pop("label", None)
            data["label"] = data.get("name", _cui)
            if data["query_label"] is None:
                del data["query_label"]
        for _u, _v, data in graph.edges(data=True):
            data["relation"] = data.pop("type")  # GEXF's own edge `type` means "directed"
        writer = GEXFWriter(graph, encoding="utf-8", prettyprint=True, version="1.2draft")
        meta = writer.xml.find("meta")
        if meta is not None:
            meta.set("lastmodifieddate", subontology.modified or "1970-01-01")
        with atomic_file(Path(out)) as tmp:
            writer.write(tmp)
        return {"files": [str(out)]}
