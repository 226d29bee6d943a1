"""GraphML, streamed: one node per concept, one edge per child -> parent pair.

Node attributes: every column of the node table but `english` (cui, name, semantic_types,
tuis, probability, label, selected, synonyms, definition, component, and for `export --all`
each query's label and probability). Edge attributes: type, rel, rela, sab. GraphML has no
list type, so lists are joined with "|"; an attribute without a value (a probability for an
unpredicted ancestor, a missing definition) is left out of that node. networkx, Gephi,
Cytoscape and yEd read it; what networkx reads back is what `nx.write_graphml` wrote before.

The XML is rendered by DuckDB (see text.py) and streamed: memory does not grow with the
selection. Characters XML 1.0 cannot hold are replaced by U+FFFD and counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from umlsgraph.export.formats import Exporter, Progress, atomic_file
from umlsgraph.export.formats.text import (
    Attribute,
    attributes,
    install_macros,
    invalid_xml_values,
    write_rows,
    xml_escape,
)
from umlsgraph.export.subontology import EDGES, NODES

if TYPE_CHECKING:
    from umlsgraph.export.subontology import Subontology

NODE_SKIP = ("english",)
EDGE_SKIP = ("from_cui", "to_cui")
MARK = b"<!-- written by umlsgraph -->"
HEADER = ('<?xml version=\'1.0\' encoding=\'utf-8\'?>\n' + MARK.decode() + '\n'
          '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
          'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
          'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
          'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n')
NL = "chr(10)"


def graph_attributes(subontology: Subontology) -> tuple[list[Attribute], list[Attribute]]:
    """The node and edge attribute columns written by the graph formats, in table order."""
    con = subontology.con
    return attributes(con, NODES, NODE_SKIP), attributes(con, EDGES, EDGE_SKIP)


def prepare(subontology: Subontology, nodes: list[Attribute], edges: list[Attribute]) -> int:
    """Install the escaping macros; return how many values hold XML-invalid characters."""
    con = subontology.con
    changed = invalid_xml_values(con, NODES, nodes) + invalid_xml_values(con, EDGES, edges)
    install_macros(con, clean_xml=changed > 0)
    return changed


class GraphMLExporter(Exporter):
    """`--format graphml`: a .graphml file readable by networkx, Gephi, Cytoscape, yEd."""

    format: ClassVar[str] = "graphml"
    suffix: ClassVar[str] = ".graphml"
    mark: ClassVar[bytes] = MARK

    def dump(self, subontology: Subontology, out: Path | None, on_progress: Progress | None = None,
             **_: Any) -> dict[str, Any]:
        assert out is not None
        nodes, edges = graph_attributes(subontology)
        changed = prepare(subontology, nodes, edges)
        keys = {("node", a.name): f"d{i}" for i, a in enumerate(nodes)}
        keys.update({("edge", a.name): f"d{len(nodes) + i}" for i, a in enumerate(edges)})
        total = subontology.node_count() + subontology.edge_count()
        with atomic_file(Path(out)) as tmp, open(tmp, "wb") as fh:
            fh.write(HEADER.encode())
            for (owner, name), key in keys.items():
                kind = next(a.kind for a in (nodes if owner == "node" else edges) if a.name == name)
                fh.write(f'  <key id="{key}" for="{owner}" attr.name="{xml_escape(name)}" '
                         f'attr.type="{"string" if kind == "list" else kind}" />\n'.encode())
            fh.write(b'  <graph edgedefault="directed">\n')
            done = write_rows(subontology.con, _node_sql(nodes, keys), fh)
            if on_progress:
                on_progress("graphml", done, total)
            done += write_rows(subontology.con, _edge_sql(edges, keys), fh)
            if on_progress:
                on_progress("graphml", done, total)
            fh.write(b"  </graph>\n</graphml>\n")
        return {"files": [str(out)], "replaced_values": changed}


def _data(owner: str, attrs: list[Attribute], keys: dict[tuple[str, str], str]) -> str:
    """concat() of one `<data>` line per attribute; NULL values drop out of concat()."""
    parts = [f"'      <data key=\"{keys[(owner, a.name)]}\">' || xml_text({a.as_text()}) "
             f"|| '</data>' || {NL}" for a in attrs]
    return f"concat({', '.join(parts)})" if parts else "''"


def _node_sql(attrs: list[Attribute], keys: dict[tuple[str, str], str]) -> str:
    return (f"SELECT '    <node id=\"' || xml_attr(cui) || '\">' || {NL} || "
            f"{_data('node', attrs, keys)} || '    </node>' || {NL} FROM {NODES}")


def _edge_sql(attrs: list[Attribute], keys: dict[tuple[str, str], str]) -> str:
    return (f"SELECT '    <edge source=\"' || xml_attr(from_cui) || '\" target=\"' || "
            f"xml_attr(to_cui) || '\">' || {NL} || {_data('edge', attrs, keys)} || "
            f"'    </edge>' || {NL} FROM {EDGES}")
