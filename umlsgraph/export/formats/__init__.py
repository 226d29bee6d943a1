"""Exporters: one module per format, each a class with `format` and one `dump` method.

    graphml, gexf        XML graph files (graphml.py, gexf.py)
    ttl, nt, jsonld      SKOS in RDF (turtle.py, ntriples.py, jsonld.py; shared: rdf.py)
    csv, parquet         a folder with nodes and edges files, written by DuckDB (tables.py)
    neo4j                a running Neo4j over Bolt (neo4j.py)
    neo4j-admin          a folder of CSVs for `neo4j-admin database import full` (neo4j_admin.py)
    obo, owl             ontologies: OBO 1.4 and OWL 2 RDF/XML (obo.py, owl.py; shared: ontology.py)
    rrf                  a UMLS release (META folder) restricted to the selection (rrf.py)

`export()` is what `umlsgraph export` calls: open the store, build the subontology, dump it.
The file writers stream: DuckDB renders and escapes the text (text.py), Python writes Arrow
buffers, so memory does not grow with the selection. Exporters import heavy dependencies
(neo4j) inside `dump`.
"""

from __future__ import annotations

import importlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from umlsgraph.errors import ExportError

if TYPE_CHECKING:
    from umlsgraph.export.selection import Subontology

#: Progress callback: (task description, items done, items in total).
Progress = Callable[[str, int, int], None]

#: Format name -> "module:Class". Built-in exporters are registered exactly like any other.
REGISTRY: dict[str, str] = {
    "graphml": "umlsgraph.export.formats.graphml:GraphMLExporter",
    "gexf": "umlsgraph.export.formats.gexf:GEXFExporter",
    "ttl": "umlsgraph.export.formats.turtle:TurtleExporter",
    "nt": "umlsgraph.export.formats.ntriples:NTriplesExporter",
    "jsonld": "umlsgraph.export.formats.jsonld:JSONLDExporter",
    "csv": "umlsgraph.export.formats.tables:CSVExporter",
    "parquet": "umlsgraph.export.formats.tables:ParquetExporter",
    "neo4j": "umlsgraph.export.formats.neo4j:Neo4jExporter",
    "neo4j-admin": "umlsgraph.export.formats.neo4j_admin:Neo4jAdminExporter",
    "obo": "umlsgraph.export.formats.obo:OBOExporter",
    "owl": "umlsgraph.export.formats.owl:OWLExporter",
    "rrf": "umlsgraph.export.formats.rrf:RRFExporter",
}


class Exporter(ABC):
    """Writes a built `Subontology` somewhere. Subclasses set `format` and implement `dump`.

    `target` says what `out` is: a "file" (default name `<query><suffix>`), a "folder"
    (default `<query>_<format>`) or a "server" (`out` unused).
    """

    format: ClassVar[str]
    suffix: ClassVar[str] = ""
    target: ClassVar[str] = "file"

    @abstractmethod
    def dump(self, subontology: Subontology, out: Path | None, **options: Any) -> dict[str, Any]:
        """Write the subontology; return what was written (paths, counts) for the summary."""

    def default_out(self, query_name: str) -> Path | None:
        if self.target == "server":
            return None
        if self.target == "folder":
            return Path(f"{query_name}_{self.format.replace('-', '_')}")
        return Path(f"{query_name}{self.suffix}")


def formats() -> list[str]:
    """The known format names."""
    return sorted(REGISTRY)


def get(name: str) -> Exporter:
    """The exporter for a format name; an unknown name lists the known ones."""
    spec = REGISTRY.get(name.lower())
    if spec is None:
        raise ExportError(f"unknown export format '{name}'; known: {', '.join(formats())}")
    module, _, cls = spec.partition(":")
    exporter = getattr(importlib.import_module(module), cls)()
    return exporter


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it into place only if the block succeeds."""
    if path.is_dir():
        raise ExportError(f"{path}: is a folder; this format writes one file (pass --out FILE)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def folder(out: Path) -> Path:
    """Create the output folder of a folder format; a file in the way is a user error."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: exists and is not a folder; this format writes a folder "
                          "(pass --out DIR)")
    out.mkdir(parents=True, exist_ok=True)
    return out


def joined(values: list[str] | None, sep: str = "|") -> str:
    """A list attribute as one string, for formats without list values (GraphML, GEXF, CSV)."""
    return sep.join(values or [])


#: DuckDB memory limit of an export: it spills to disk beyond it, so RSS stays bounded.
MEMORY_LIMIT = "1GB"


def export(db: str | Path, query: str | Path | None, fmt: str, out: Path | None = None,
           selection: Any = None, corpus: str | None = None,
           on_progress: Progress | None = None, memory_limit: str = MEMORY_LIMIT,
           **options: Any) -> dict[str, Any]:
    """Build the query's subontology from the store `db` and write it in format `fmt`.

    `query=None` exports the whole store (`build_all`): every concept, each query's labels and
    probabilities as attributes. Returns the summary with the exporter's report under "export".
    """
    import duckdb

    from umlsgraph.db import connect
    from umlsgraph.db.items import source_for
    from umlsgraph.db.sql import literal
    from umlsgraph.export.subontology import SubontologyOptions, build, build_all
    from umlsgraph.query import load_query

    exporter = get(fmt)
    loaded = load_query(query) if query is not None else None
    selection = SubontologyOptions.of(selection)
    # the mention filter stores its counts, so only it needs write access
    con = connect(db, read_only=not selection.mentioned_in)
    try:
        try:
            con.execute(f"SET memory_limit = {literal(memory_limit)}")
        except duckdb.Error as exc:
            raise ExportError(f"--memory-limit '{memory_limit}' is not a size DuckDB "
                              f"understands ({str(exc).splitlines()[0]}); use e.g. 1GB") from None
        if loaded is None:
            if corpus or selection.mentioned_in:
                raise ExportError("--all exports every concept of the store; drop --corpus "
                                  "and --mentioned-in")
            sub = build_all(con, selection)
        else:
            sub = build(con, loaded, source_for(corpus), selection)
        target = out if out is not None else exporter.default_out(sub.query.name)
        report = exporter.dump(sub, target, on_progress=on_progress, **options)
    finally:
        con.close()
    return {**sub.summary, "format": exporter.format, "export": report}
