"""CSV and Parquet: a folder holding `nodes.<ext>` and `edges.<ext>`, written by DuckDB COPY.

`--out` is a folder, built beside it and renamed into place when both files are written
(an earlier export there is replaced as a whole). Columns:

    nodes: cui, name, semantic_types, tuis, probability, label, selected, synonyms,
           definition, component
    edges: from_cui, to_cui, type, rel, rela, sab      (from_cui is the child for BROADER)

Parquet keeps list columns as lists; CSV joins them with "|". `export --all` adds each query's
`<query>_label` and `<query>_probability` columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from umlsgraph.db.sql import identifier, literal
from umlsgraph.export.formats import Exporter, Progress
from umlsgraph.export.subontology import EDGES, NODES, Subontology

NODE_COLUMNS = ("cui", "name", "semantic_types", "tuis", "probability", "label", "selected",
                "synonyms", "definition", "component")
EDGE_COLUMNS = ("from_cui", "to_cui", "type", "rel", "rela", "sab")
LISTS = {"semantic_types", "tuis", "synonyms", "rel", "rela", "sab"}




class _TableExporter(Exporter):
    """Shared by CSV and Parquet: two COPY statements into a folder."""

    target: ClassVar[str] = "folder"
    copy_options: ClassVar[str]
    join_lists: ClassVar[bool]

    def select(self, table: str, columns: tuple[str, ...], order: str) -> str:
        cols = ", ".join(f"array_to_string({identifier(c)}, '|') AS {identifier(c)}"
                         if self.join_lists and c in LISTS else identifier(c) for c in columns)
        return f"SELECT {cols} FROM {table} ORDER BY {order}"

    def dump(self, subontology: Subontology, out: Path | None, on_progress: Progress | None = None,
             **_: Any) -> dict[str, Any]:
        assert out is not None
        extra = tuple(c for c, *_ in subontology.con.execute(f"DESCRIBE {NODES}").fetchall()
                      if c not in NODE_COLUMNS and c != "english")  # `export --all`: per query
        jobs = [("nodes", self.select(NODES, NODE_COLUMNS + extra, "cui")),
                ("edges", self.select(EDGES, EDGE_COLUMNS, "from_cui, to_cui, type"))]
        with self.writing(Path(out)) as folder:
            for step, (name, sql) in enumerate(jobs, 1):
                path = folder / f"{name}.{self.format}"
                subontology.con.execute(f"COPY ({sql}) TO {literal(path)} "
                                        f"({self.copy_options})").fetchall()
                if on_progress:
                    on_progress(name, step, len(jobs))
        return {"files": [str(Path(out) / f"{name}.{self.format}") for name, _sql in jobs]}


class CSVExporter(_TableExporter):
    """`--format csv`: OUT/nodes.csv and OUT/edges.csv (header row, lists joined by '|')."""

    format: ClassVar[str] = "csv"
    files: ClassVar[tuple[str, ...]] = ("nodes.csv", "edges.csv")
    copy_options: ClassVar[str] = "FORMAT csv, HEADER true"
    join_lists: ClassVar[bool] = True


class ParquetExporter(_TableExporter):
    """`--format parquet`: OUT/nodes.parquet and OUT/edges.parquet (list columns kept)."""

    format: ClassVar[str] = "parquet"
    files: ClassVar[tuple[str, ...]] = ("nodes.parquet", "edges.parquet")
    copy_options: ClassVar[str] = "FORMAT parquet, COMPRESSION zstd"
    join_lists: ClassVar[bool] = False
