"""Where umlsgraph writes: only into what it created, and only under names it made safe.

The rules, one function each, called by every step that writes:

- `claim_folder`: a folder umlsgraph writes into (a model folder, a synthetic release, a
  report, an export folder) is either new, empty, or one umlsgraph wrote before (it holds the
  marker file `.umlsgraph`, or files only umlsgraph makes). A folder holding someone else's
  files, or a file where the folder should be, is refused: nothing the user made is deleted or
  overwritten.
- `check_file_target`: an output file replaces only a regular file (never a folder, nor a
  device such as /dev/null, a pipe or a socket) and, where the step can recognise its own
  files (exports carry a mark), only one umlsgraph wrote.
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
                 ours: Callable[[Path], bool] | None = None, same_kind: bool = False) -> Path:
    """`claim_folder`'s checks without creating anything: call it before long work, so a
    step refuses its output folder before it starts, and leaves nothing behind when it fails.

    `same_kind`: a marker counts only if it says `what` (a step that replaces the whole
    folder must not replace another step's output, a report with an export)."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: is a file, not a folder; choose another path for the "
                          f"{what} (nothing was written)")
    if folder.is_dir() and not is_ours(folder, ours, what if same_kind else None):
        raise OutputError(f"{folder}: holds files umlsgraph did not write; choose a new or "
                          f"empty folder for the {what} (nothing was changed)")
    return folder


def marker_says(folder: Path) -> str | None:
    """What the marker of `folder` says umlsgraph wrote there (`claim_folder`'s `what`), or
    None when it holds no marker."""
    try:
        text = (folder / MARKER).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text.strip().removeprefix("written by umlsgraph:").strip()


def is_ours(folder: Path, ours: Callable[[Path], bool] | None = None,
            what: str | None = None) -> bool:
    """True when `folder` is empty, holds the marker (saying `what`, when given), or `ours`
    recognises it."""
    if not any(folder.iterdir()):
        return True
    if (folder / MARKER).is_file() and (what is None or marker_says(folder) == what):
        return True
    return bool(ours and ours(folder))


def check_file_target(path: str | Path, what: str,
                      ours: Callable[[Path], bool] | None = None) -> Path:
    """An output file may replace a regular file, never a folder, a device, a pipe or a
    socket (`-o /dev/null` must not replace the device node); its parent must be a folder.

    With `ours`, an existing file must be one umlsgraph wrote (`ours(path)` says so): a file
    the user made is refused, never overwritten.
    """
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{target}: is a folder, but the {what} is a file; give a file name")
    if target.exists() and not target.is_file():
        raise OutputError(f"{target}: not a regular file (a device, pipe or socket); the {what} "
                          "is written only to a regular file: give a file path (nothing was "
                          "written)")
    if ours is not None and target.is_file() and not ours(target):
        raise OutputError(f"{target}: a file umlsgraph did not write; choose another path for "
                          f"the {what}, or remove it first to replace it (nothing was changed)")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{parent}: is a file, not a folder; choose another path "
                                  f"for the {what}")
            break
    return target
