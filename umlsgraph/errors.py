"""The errors a user can fix. Each message names the input and says what to do.

The CLI catches `UmlsgraphError`, prints its message on one line and exits non-zero.
"""

from __future__ import annotations

import errno
import re
import sys


class UmlsgraphError(Exception):
    """Base class for every error caused by input the user can fix."""


class ReleaseError(UmlsgraphError):
    """A UMLS release folder or RRF file is missing, empty or malformed."""


class StoreError(UmlsgraphError):
    """The database is missing, not loaded, or lacks a table a step needs."""


class QueryError(UmlsgraphError):
    """A query file is missing or has an unknown, missing or invalid field."""


class ModelError(UmlsgraphError):
    """A model path or name cannot be loaded, or an optional extra is not installed."""


class AnnotationError(UmlsgraphError):
    """An annotator failed in a way the user can act on (server down, bad labels file)."""


class InputFileError(UmlsgraphError):
    """A user-supplied data file (labels, gold, corpus) is missing or malformed."""


class NotFoundError(UmlsgraphError):
    """What was looked up (a concept, a name, predictions to review) does not exist."""


class ExportError(UmlsgraphError):
    """An export format or target is unknown or unreachable."""


class EmptySelectionError(ExportError):
    """The selection holds no concept, so nothing is written (never an empty file)."""


def missing_extra(package: str, extra: str) -> ModelError:
    """The error for an optional dependency that is not installed."""
    return ModelError(f"{package} is not installed: pip install 'umlsgraph[{extra}]'")


class TrainingError(UmlsgraphError):
    """Training cannot start with these labels or settings."""


class ExperimentError(UmlsgraphError):
    """The experiment cannot run on this corpus or with these labels."""


class AuditError(UmlsgraphError):
    """The audit cannot run with these labels or settings."""


class OutputError(UmlsgraphError):
    """An output path holds something umlsgraph did not write, or cannot be written."""


INTERRUPTED = "interrupted; nothing half-written — rerun to resume"

_OS_ADVICE = {
    errno.EACCES: "permission denied: choose a place you can write to, or fix its permissions",
    errno.EPERM: "operation not permitted: choose a place you can write to",
    errno.ENOSPC: "no space left on the device: free some space or write elsewhere, then rerun",
    errno.EDQUOT: "disk quota exceeded: free some space or write elsewhere, then rerun",
    errno.EFBIG: "file too large (past the file-size limit, `ulimit -f`, or the file "
                 "system's): raise the limit or write elsewhere, then rerun",
    errno.EROFS: "read-only file system: write somewhere else",
    errno.ENOTDIR: "a part of this path is a file, not a folder: choose another path",
    errno.EISDIR: "this is a folder, not a file: give a file name",
    errno.EEXIST: "already exists: choose another path or remove it first",
    errno.ENOENT: "no such file or folder",
    errno.ENAMETOOLONG: "file name too long: choose a shorter name",
}


def explain(exc: BaseException) -> tuple[str, int] | None:
    """One line and an exit code for an error a user can act on; None for a bug.

    The CLI's one error path: library errors, OS errors (naming the path), DuckDB errors (a
    lock held by another process, a file that is not a database) and Ctrl-C.
    """
    if isinstance(exc, KeyboardInterrupt) or is_interrupt(exc):
        return INTERRUPTED, 130
    if isinstance(exc, UmlsgraphError):
        return str(exc), 1
    if isinstance(exc, OSError):
        return describe_os_error(exc), 1
    duckdb = sys.modules.get("duckdb")
    if duckdb is not None and isinstance(exc, duckdb.Error):
        return describe_duckdb_error(exc), 1
    if isinstance(exc, MemoryError):
        return "out of memory: lower --batch-size/--memory-limit or use a larger machine", 1
    return None


def is_interrupt(exc: BaseException) -> bool:
    """True for Ctrl-C as DuckDB reports it: `duckdb.InterruptException`, or the
    `RuntimeError: Query interrupted` of a result streamed to Arrow when SIGINT lands."""
    duckdb = sys.modules.get("duckdb")
    if duckdb is not None and isinstance(exc, duckdb.InterruptException):
        return True
    return type(exc) is RuntimeError and str(exc).strip() == "Query interrupted"


def describe_os_error(exc: OSError) -> str:
    """`PATH: what went wrong and what to do`, for permission, disk full, not a folder…"""
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    advice = _OS_ADVICE.get(exc.errno or -1, exc.strerror or str(exc))
    where = " -> ".join(paths) if paths else "a file"
    return f"{where}: {advice}"


def describe_duckdb_error(exc: BaseException, path: object = None) -> str:
    """A DuckDB error as one line: a lock held by another process says which one and what to
    do; other errors keep DuckDB's first line (and the path when known)."""
    text = " ".join(str(exc).split())
    where = f"{path}: " if path is not None else ""
    lock = re.search(r"Could not set lock on file \"([^\"]+)\".*?held in (\S+) \(PID (\d+)\)",
                     text)
    if lock:
        file, program, pid = lock.groups()
        return (f"{file}: the database is in use by another process (PID {pid}, {program}); "
                "wait for it to finish or stop it, then rerun")
    if "sqlite_scanner" in text:  # DuckDB tried to open a SQLite file through its extension
        return (f"{where}a SQLite database, not a DuckDB one (nothing was changed); check "
                "--db")
    if "not a valid DuckDB database" in text:
        named = re.search(r'file "([^"]+)"', text)
        where = f"{named.group(1)}: " if named else where
        return (f"{where}not a DuckDB database file (nothing was changed); check --db, or move "
                "the file away to create a new database there")
    return f"{where}database error: {text}"
