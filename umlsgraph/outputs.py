"""Where umlsgraph writes: only into what it created, and only under names it made safe.

Two rules, one function each, called by every step that writes:

- `claim_folder`: a folder umlsgraph writes into (a model folder, a synthetic release, a
  report, an export folder) is either new, empty, or one umlsgraph wrote before (it holds the
  marker file `.umlsgraph`, or files only umlsgraph makes). A folder holding someone else's
  files, or a file where the folder should be, is refused: nothing the user made is deleted or
  overwritten.
- `safe_filename`: a query name, corpus name or id that becomes part of a path is reduced to
  letters, digits, `_`, `-`, `.` and `+`, so `../../x` cannot climb out of the output folder.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from umlsgraph.errors import OutputError

MARKER = ".umlsgraph"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


def safe_filename(text: str, fallback: str = "output") -> str:
    """`text` as one path component: unsafe characters become `_`, no `..`, no leading dot."""
    name = _UNSAFE.sub("_", str(text)).replace("..", "_").lstrip("._")
    return name[:120] or fallback


def claim_folder(path: str | Path, what: str,
                 ours: Callable[[Path], bool] | None = None) -> Path:
    """Make `path` a folder umlsgraph may write into, or raise OutputError.

    Accepted: a missing folder (created), an empty one, one holding the marker, or one for
    which `ours(path)` says umlsgraph wrote it (folders written before the marker existed).
    The marker is written into every accepted folder.
    """
    folder = check_folder(path, what, ours)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(f"written by umlsgraph: {what}\n", encoding="utf-8")
    return folder


def check_folder(path: str | Path, what: str,
                 ours: Callable[[Path], bool] | None = None) -> Path:
    """`claim_folder`'s checks without creating anything: call it before long work, so a
    step refuses its output folder before it starts, and leaves nothing behind when it fails."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: is a file, not a folder; choose another path for the "
                          f"{what} (nothing was written)")
    if folder.is_dir() and not is_ours(folder, ours):
        raise OutputError(f"{folder}: holds files umlsgraph did not write; choose a new or "
                          f"empty folder for the {what} (nothing was changed)")
    return folder


def is_ours(folder: Path, ours: Callable[[Path], bool] | None = None) -> bool:
    """True when `folder` is empty, holds the marker, or `ours` recognises it."""
    if (folder / MARKER).is_file() or not any(folder.iterdir()):
        return True
    return bool(ours and ours(folder))


def check_file_target(path: str | Path, what: str) -> Path:
    """An output file may replace a file, never a folder; its parent must be a folder."""
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{target}: is a folder, but the {what} is a file; give a file name")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{parent}: is a file, not a folder; choose another path "
                                  f"for the {what}")
            break
    return target
