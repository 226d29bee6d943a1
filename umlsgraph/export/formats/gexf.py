"""GEXF 1.2, streamed, for Gephi: the same nodes, edges and attributes as GraphML.

The GEXF node label is the concept name (networkx reads it back as the attribute `label`); the
query's label for the concept is the attribute `query_label`. GEXF reserves the edge attribute
`type` (directed/undirected), so the edge type (BROADER, RO…) is the attribute `relation`;
edge ids are the edge's row number. The date written is the date of the predictions, not
today's, so re-running an export on unchanged data writes the same bytes.

Rendered by DuckDB and streamed like GraphML (see text.py); characters XML 1.0 cannot hold
are replaced by U+FFFD and counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from umlsgraph.export.formats import Exporter, Progress, atomic_file
from umlsgraph.export.formats.graphml import NL, graph_attributes, prepare
from umlsgraph.export.formats.text import Attribute, write_rows, xml_escape
from umlsgraph.export.subontology import EDGES, NODES

if TYPE_CHECKING:
    from umlsgraph.export.subontology import Subontology

HEADER = ('<?xml version=\'1.0\' encoding=\'utf-8\'?>\n'
          '<gexf xmlns="http://www.gexf.net/1.2draft" '
          'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
          'xsi:schemaLocation="http://www.gexf.net/1.2draft '
          'http://www.gexf.net/1.2draft/gexf.xsd" version="1.2">\n')
#: Attribute titles GEXF gives otherwise (see the module docstring).
RENAMED = {"node": {"label": "query_label"}, "edge": {"type": "relation"}}


class GEXFExporter(Exporter):
    """`--format gexf`: a .gexf file for Gephi."""

    format: ClassVar[str] = "gexf"
    suffix: ClassVar[str] = ".gexf"
    mark: ClassVar[bytes] = b"<creator>umlsgraph</creator>"

    def dump(self, subontology: Subontology, out: Path | None, on_progress: Progress | None = None,
             **_: Any) -> dict[str, Any]:
        assert out is not None
        nodes, edges = graph_attributes(subontology)
        changed = prepare(subontology, nodes, edges)
        date = xml_escape(subontology.modified or "1970-01-01")
        total = subontology.node_count() + subontology.edge_count()
        with atomic_file(Path(out)) as tmp, open(tmp, "wb") as fh:
            fh.write((HEADER + f'  <meta lastmodifieddate="{date}">\n'
                      '    <creator>umlsgraph</creator>\n  </meta>\n'
                      '  <graph defaultedgetype="directed" mode="static" name="">\n'
                      + _declare("node", nodes, 0) + _declare("edge", edges, len(nodes))
                      + "    <nodes>\n").encode())
            done = write_rows(subontology.con, _node_sql(nodes), fh)
            if on_progress:
                on_progress("gexf", done, total)
            fh.write(b"    </nodes>\n    <edges>\n")
            done += write_rows(subontology.con, _edge_sql(edges, len(nodes)), fh)
            if on_progress:
                on_progress("gexf", done, total)
            fh.write(b"    </edges>\n  </graph>\n</gexf>\n")
        return {"files": [str(out)], "replaced_values": changed}


def _title(owner: str, attr: Attribute) -> str:
    return RENAMED[owner].get(attr.name, attr.name)


def _declare(owner: str, attrs: list[Attribute], first: int) -> str:
    lines = [f'    <attributes mode="static" class="{owner}">\n']
    for i, attr in enumerate(attrs, first):
        kind = "string" if attr.kind == "list" else attr.kind
        lines.append(f'      <attribute id="{i}" title="{xml_escape(_title(owner, attr))}" '
                     f'type="{kind}" />\n')
    lines.append("    </attributes>\n")
    return "".join(lines)


def _values(attrs: list[Attribute], first: int) -> str:
    parts = [f"'          <attvalue for=\"{i}\" value=\"' || xml_attr({a.as_text()}) || "
             f"'\" />' || {NL}" for i, a in enumerate(attrs, first)]
    return (f"'        <attvalues>' || {NL} || concat({', '.join(parts)}) || "
            f"'        </attvalues>' || {NL}") if parts else "''"


def _node_sql(attrs: list[Attribute]) -> str:
    return (f"SELECT '      <node id=\"' || xml_attr(cui) || '\" label=\"' || "
            f"xml_attr(coalesce(name, cui)) || '\">' || {NL} || {_values(attrs, 0)} || "
            f"'      </node>' || {NL} FROM {NODES}")


def _edge_sql(attrs: list[Attribute], first: int) -> str:
    return (f"SELECT '      <edge source=\"' || xml_attr(from_cui) || '\" target=\"' || "
            f"xml_attr(to_cui) || '\" id=\"' || rowid::VARCHAR || '\">' || {NL} || "
            f"{_values(attrs, first)} || '      </edge>' || {NL} FROM {EDGES}")
