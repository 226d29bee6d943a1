"""Exporters: one module per format, each a class with `format` and one `dump` method.

    graphml, gexf        XML graph files (graphml.py, gexf.py)
    ttl, nt, jsonld      SKOS in RDF (turtle.py, ntriples.py, jsonld.py; shared: rdf.py)
    csv, parquet         a folder with nodes and edges files, written by DuckDB (tables.py)
    neo4j                a running Neo4j over Bolt (neo4j.py)
    neo4j-admin          a folder of CSVs for `neo4j-admin database import full` (neo4j_admin.py)
    obo, owl             ontologies: OBO 1.4 and OWL 2 RDF/XML (obo.py, owl.py; shared: ontology.py)
    rrf                  a UMLS release (META folder) restricted to the selection (rrf.py)

`export()` is what `umlsgraph export` calls: open the store, build the subontology, dump it.

Every file is written beside its target under a unique temporary name and renamed into place
when complete (`atomic_file`; a folder format builds a whole temporary folder, `atomic_folder`),
so a killed or interrupted export leaves the target as it was. Before any work, `export()`
refuses a target umlsgraph may not replace (`check_out`): a device, a user's own file (one
without the mark of an umlsgraph export, `Exporter.mark`) or folder, an extension naming
another format; after the build, a selection with no concept.
The file writers stream: DuckDB renders and escapes the text (text.py), Python writes Arrow
buffers, so memory does not grow with the selection. Exporters import heavy dependencies
(neo4j) inside `dump`.
"""

from __future__ import annotations

import errno
import importlib
import os
import re
import secrets
import shutil
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from umlsgraph.errors import EmptySelectionError, ExportError, OutputError, is_interrupt
from umlsgraph.outputs import MARKER, check_file_target, check_folder, claim_folder
from umlsgraph.settings import EXPORT_MEMORY_LIMIT

if TYPE_CHECKING:
    from umlsgraph.export.subontology import Subontology

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
    #: A file format: bytes near the start of every file it writes, by which a later export
    #: knows it may replace the file (a file without any exporter's mark is the user's).
    mark: ClassVar[bytes] = b""
    #: A folder format: the names it writes, by which a folder written before the marker
    #: file existed is still recognised as its own.
    files: ClassVar[tuple[str, ...]] = ()

    @property
    def what(self) -> str:
        """What the output is, in words and in the marker of a folder: `csv export`."""
        return f"{self.format} export"

    def owns(self, folder: Path) -> bool:
        """True when `folder` holds only what this folder format writes."""
        return {p.name for p in folder.iterdir()} <= {*self.files, MARKER}

    def writing(self, out: Path) -> AbstractContextManager[Path]:
        """Where to write `out`: a temporary file or folder beside it, which becomes `out`
        when the block completes (`atomic_file`, `atomic_folder`)."""
        return atomic_folder(out, self.what) if self.target == "folder" else atomic_file(out)

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


def known(name: str) -> str:
    """A format name as registered; an unknown name lists the known ones."""
    if name.lower() not in REGISTRY:
        raise ExportError(f"unknown export format '{name}'; known: {', '.join(formats())}")
    return name.lower()


def get(name: str) -> Exporter:
    """The exporter for a format name; an unknown name lists the known ones."""
    module, _, cls = REGISTRY[known(name)].partition(":")
    exporter = getattr(importlib.import_module(module), cls)()
    return exporter


def extensions() -> dict[str, str]:
    """File extension -> format, from each file exporter's `suffix` (.obo -> obo)."""
    found = {name: get(name) for name in formats()}
    return {e.suffix: name for name, e in found.items() if e.target == "file" and e.suffix}


def resolve_format(fmt: str | None, out: Path | None, default: str = "graphml") -> str:
    """The format to write: `fmt`, else the one `out`'s extension names (z.obo -> obo), else
    `default`. An extension naming another format than `fmt` is an error, never a GraphML
    file called z.obo."""
    implied = extensions().get(out.suffix.lower()) if out is not None else None
    if fmt is None:
        return implied or default
    name = known(fmt)
    if out is not None and implied is not None and implied != name:
        raise ExportError(f"--out {out} ends in {out.suffix}, the extension of {implied} "
                          f"files, but --format is {name}: drop --format to write {implied}, "
                          f"or give --out a name that fits {name} (nothing was written)")
    return name


def written_by_umlsgraph(path: Path) -> bool:
    """True when the file at `path` carries the mark of an umlsgraph export (any format, so
    a GraphML file once written as z.obo may be replaced by the OBO export)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return False
    return any(e.mark and e.mark in head for e in map(get, formats()))


def check_out(exporter: Exporter, out: Path | None) -> None:
    """Refuse, before any work, a target this export may not write (nothing is written):
    a folder for a file format or a file for a folder format; a device, pipe or socket; a
    file without an umlsgraph export's mark; a folder holding anything else than this
    format's own output; an extension naming another format."""
    if out is None or exporter.target == "server":
        return
    resolve_format(exporter.format, out)
    what = exporter.what
    if exporter.target == "file":
        if out.is_dir():
            raise ExportError(f"{out}: is a folder; this format writes one file (pass --out "
                              "FILE)")
        check_file_target(out, what, ours=written_by_umlsgraph)
        return
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: exists and is not a folder; this format writes a folder "
                          "(pass --out DIR)")
    check_folder(out, what, ours=exporter.owns, same_kind=True)


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it into place only if the block succeeds.

    The temporary name is unique to the run (`.NAME.<pid>-<token>.partial`); a successful run
    removes those that killed runs left (their process is gone). A device, pipe or socket at
    `path` is refused, never replaced. An OS error names `path`, Ctrl-C inside DuckDB is a
    KeyboardInterrupt; either way `path` is left as it was.
    """
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"{path}: is a folder; this format writes one file (pass --out FILE)")
    check_file_target(path, "output")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path, "partial")
    try:
        with _output_errors(path, tmp):
            yield tmp
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _remove_stale(path)


@contextmanager
def atomic_folder(path: Path, what: str) -> Iterator[Path]:
    """Yield a new temporary folder beside `path` (holding the marker, saying `what`); when
    the block succeeds it replaces `path` as a whole, so no half-written folder ever carries
    the name asked for. A killed run's folder is removed by the next successful one."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))  # a folder cannot be renamed over a link
    if path.exists() and not path.is_dir():
        raise ExportError(f"{path}: exists and is not a folder; this format writes a folder "
                          "(pass --out DIR)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = claim_folder(_temporary(path, "partial"), what)
    try:
        with _output_errors(path, tmp):
            yield tmp
            _swap_folder(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _remove_stale(path)


def _temporary(path: Path, kind: str) -> Path:
    """A sibling name of `path` no other run uses: `.NAME.<pid>-<token>.<kind>`."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(3)}.{kind}")


def _swap_folder(new: Path, target: Path) -> None:
    """Put the folder `new` in the place of `target` (missing, empty, or an older export)."""
    try:
        os.rename(new, target)  # atomic when target is missing or an empty folder
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    old = _temporary(target, "old")
    (target / MARKER).touch()  # so that a run killed in between removes `old` later
    os.rename(target, old)
    os.rename(new, target)
    shutil.rmtree(old, ignore_errors=True)


def _remove_stale(path: Path) -> None:
    """Remove the temporary files and folders of `path` that killed runs left behind (their
    process is gone), and the fixed `.NAME.partial` of earlier umlsgraph versions."""
    stale = re.compile(rf"\.{re.escape(path.name)}(?:\.(\d+)-[0-9a-f]+)?\.(?:partial|old)")
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        match = stale.fullmatch(entry.name)
        if not match or (match.group(1) and _alive(int(match.group(1)))):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                if (entry / MARKER).exists():  # a folder umlsgraph made, never the user's
                    shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            pass  # best effort: a later run tries again


def _alive(pid: int) -> bool:
    """True when process `pid` exists (this one included: another thread may be writing)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, but belongs to someone else
    return True


@contextmanager
def _output_errors(path: Path, tmp: Path) -> Iterator[None]:
    """Errors while writing `tmp` as errors of `path`: an OS error (disk full, file too
    large) names `path`, a DuckDB write error too; Ctrl-C inside DuckDB is KeyboardInterrupt."""
    try:
        yield
    except OSError as exc:
        name = None if exc.filename is None else str(exc.filename)
        if name is None or name.startswith(str(tmp)):
            where = str(path) + (name[len(str(tmp)):] if name else "")
            raise OSError(exc.errno, exc.strerror, where) from exc
        raise
    except Exception as exc:
        if is_interrupt(exc):
            raise KeyboardInterrupt from None
        duckdb = sys.modules.get("duckdb")
        if duckdb is not None and isinstance(exc, duckdb.IOException):
            text = " ".join(str(exc).replace(str(tmp), str(path)).split())
            raise OutputError(f"{path}: could not be written ({text}); free some space or "
                              "write elsewhere, then rerun") from None
        raise


def joined(values: list[str] | None, sep: str = "|") -> str:
    """A list attribute as one string, for formats without list values (GraphML, GEXF, CSV)."""
    return sep.join(values or [])


#: DuckDB memory limit of an export: it spills to disk beyond it, so RSS stays bounded.
MEMORY_LIMIT = EXPORT_MEMORY_LIMIT


def export(db: str | Path, query: str | Path | None, fmt: str, out: Path | None = None,
           selection: Any = None, corpus: str | None = None,
           on_progress: Progress | None = None, memory_limit: str = MEMORY_LIMIT,
           **options: Any) -> dict[str, Any]:
    """Build the query's subontology from the store `db` and write it in format `fmt`.

    A selection with no concept is an EmptySelectionError and nothing is written.

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
    target = out if out is not None else exporter.default_out(loaded.name if loaded else "all")
    check_out(exporter, target)
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
        require_a_concept(sub)
        report = exporter.dump(sub, target, on_progress=on_progress, **options)
    finally:
        con.close()
    return {**sub.summary, "format": exporter.format, "export": report}


def require_a_concept(sub: Subontology) -> None:
    """A selection with no concept is an error, for every format: never an empty file."""
    if sub.node_count() == 0:
        summary = sub.summary
        raise EmptySelectionError(f"{sub.query.name}: the selection has no concept "
                          f"({summary.get('selected', 0)} selected, then "
                          f"{summary.get('nodes', 0)} kept), so nothing was written; check "
                          "that the query has positive labels, lower --threshold, or drop "
                          "--drop-isolated/--min-component-size/--mentioned-in")
