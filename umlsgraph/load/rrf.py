"""The RRF format of a UMLS Metathesaurus release: file layouts, discovery, and reading.

Every RRF line is a list of fields separated by `|` and ends with a trailing `|`, so a line
of an N-column file has N+1 fields, the last always empty. Files are read by DuckDB's own
CSV reader (no quoting, no escaping, every column VARCHAR), never row by row in Python: a
full release has ~17M MRCONSO rows and 60M+ MRREL rows.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

from umlsgraph.db.sql import literal
from umlsgraph.errors import ReleaseError
from umlsgraph.outputs import marker_says

#: Official column orders (UMLS Reference Manual, "Metathesaurus - Rich Release Format").
_LAYOUT_TEXT: dict[str, list[str]] = {
    "MRCONSO": (
        "CUI LAT TS LUI STT SUI ISPREF AUI SAUI SCUI SDUI SAB TTY CODE STR SRL SUPPRESS CVF"
    ).split(),
    "MRREL": (
        "CUI1 AUI1 STYPE1 REL CUI2 AUI2 STYPE2 RELA RUI SRUI SAB SL RG DIR SUPPRESS CVF"
    ).split(),
    "MRSTY": "CUI TUI STN STY ATUI CVF".split(),
    "MRDEF": "CUI AUI ATUI SATUI SAB DEF SUPPRESS CVF".split(),
    "MRSAB": (
        "VCUI RCUI VSAB RSAB SON SF SVER VSTART VEND IMETA RMETA SLC SCC SRL TFR CFR CXTY "
        "TTYL ATNL LAT CENC CURVER SABIN SSN SCIT"
    ).split(),
}
LAYOUTS: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in _LAYOUT_TEXT.items()}

#: Files a release must have; the others are loaded when present.
REQUIRED = ("MRCONSO",)

#: The column DuckDB sees after the trailing `|` of every line; always empty.
END_COLUMN = "_END"

_PART_SUFFIX = re.compile(r"\.RRF(\.[a-z]{2})?(\.gz)?$", re.IGNORECASE)


@dataclass(frozen=True)
class RrfFile:
    """One logical RRF file: a name (MRCONSO) and its physical parts, in reading order."""

    name: str
    parts: tuple[Path, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return LAYOUTS[self.name]

    def label(self) -> str:
        """How error messages name this file: the single path, or the first part and a count."""
        if len(self.parts) == 1:
            return str(self.parts[0])
        return f"{self.parts[0]} (+{len(self.parts) - 1} parts)"


def find_meta(path: str | Path) -> Path:
    """The folder holding the RRF files: `path` itself, or its `META` subfolder."""
    root = Path(path)
    if not root.exists():
        raise ReleaseError(f"{root}: no such folder; pass a UMLS release's META folder")
    if not root.is_dir():
        raise ReleaseError(f"{root}: not a folder; pass a UMLS release's META folder")
    if _has_rrf(root, "MRCONSO"):
        return root
    for candidate in (root / "META", root / "meta"):
        if candidate.is_dir() and _has_rrf(candidate, "MRCONSO"):
            return candidate
    raise ReleaseError(
        f"{root}: no MRCONSO.RRF (plain, .gz or split parts) here or in {root / 'META'}; "
        "pass the META folder of an unpacked UMLS release"
    )


def _has_rrf(folder: Path, name: str) -> bool:
    return bool(_parts_of(folder, name))


def _parts_of(folder: Path, name: str) -> list[Path]:
    """All physical files for `name` in `folder`: NAME.RRF, NAME.RRF.gz, NAME.RRF.aa[.gz]…"""
    found = []
    for child in folder.iterdir():
        if not child.is_file() or not child.name.upper().startswith(name + "."):
            continue
        match = _PART_SUFFIX.search(child.name)
        if match and child.name[: match.start()].upper() == name:
            found.append(child)
    return sorted(found, key=lambda p: p.name)


def discover(meta: Path) -> dict[str, RrfFile]:
    """The RRF files of a release that umlsgraph knows, keyed by name."""
    files = {}
    for name in LAYOUTS:
        parts = _parts_of(meta, name)
        if not parts:
            continue
        whole = [p for p in parts if _PART_SUFFIX.search(p.name).group(1) is None]  # type: ignore[union-attr]
        if whole and len(parts) > len(whole):
            parts = whole  # both MRCONSO.RRF and its split parts: the whole file wins
        if len(whole) > 1:
            parts = [p for p in whole if not p.name.endswith(".gz")]  # .RRF and .RRF.gz: plain
        files[name] = RrfFile(name, tuple(parts))
    for name in REQUIRED:
        if name not in files:
            raise ReleaseError(f"{meta}: {name}.RRF is missing; a release needs at least {name}")
    return files


#: The marker (`outputs.MARKER`) of a release `export --format rrf` wrote, beside its META.
EXPORT_MARK = "rrf export"


def check_complete(meta: Path) -> None:
    """Refuse a release umlsgraph exported (the `rrf export` marker beside or in META) unless
    it is complete: MRFILES.RRF, written last, is there and every file it lists has the byte
    count it says. An interrupted export (or a copy of one) never loads as a release; nor
    does a folder holding the `.NAME.RRF.partial` file an export of an earlier version was
    killed writing."""
    partial = next((p for p in meta.glob(".*.RRF*.partial") if p.is_file()), None)
    if partial is not None:
        raise ReleaseError(f"{partial}: an umlsgraph export was interrupted writing this "
                           "release, which is incomplete; export it again")
    if EXPORT_MARK not in (marker_says(meta), marker_says(meta.parent)):
        return
    listing = meta / "MRFILES.RRF"
    if not listing.is_file():
        raise ReleaseError(f"{meta}: an incomplete umlsgraph export (no MRFILES.RRF, which is "
                           "written last: the export was interrupted); export it again")
    for line in listing.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split("|")
        if len(fields) < 6 or not fields[5].isdigit():
            continue
        path = meta / fields[0]
        size = path.stat().st_size if path.is_file() else None
        if size != int(fields[5]):
            found = "missing" if size is None else f"{size} bytes"
            raise ReleaseError(f"{path}: {found}, but MRFILES.RRF says {fields[5]} bytes: an "
                               "incomplete or changed umlsgraph export; export it again")


def check_not_empty(rrf: RrfFile) -> None:
    """Raise if every part of the file is empty: an empty RRF file is a broken release."""
    for part in rrf.parts:
        if part.name.endswith(".gz"):
            try:
                with gzip.open(part, "rb") as handle:
                    if handle.read(1):
                        return
            except (OSError, EOFError) as exc:
                raise ReleaseError(
                    f"{part}: not a readable gzip file ({exc}); re-extract it") from None
        elif part.stat().st_size > 0:
            return
    raise ReleaseError(f"{rrf.label()}: file is empty; re-extract the release")


def read_csv_sql(rrf: RrfFile, filename: bool = False) -> str:
    """A DuckDB `read_csv(...)` table expression for the file, every column VARCHAR."""
    paths = ", ".join(literal(str(p)) for p in rrf.parts)
    columns = ", ".join(f"'{c}': 'VARCHAR'" for c in (*rrf.columns, END_COLUMN))
    return (
        f"read_csv([{paths}], delim='|', quote='', escape='', header=false, "
        f"auto_detect=false, strict_mode=true, new_line='\\n', comment='', "
        f"null_padding=false, columns={{{columns}}}, filename={str(filename).lower()})"
    )


#: The marker of the error raised inside DuckDB when a line has one field too many.
EXTRA_FIELD = "umlsgraph-extra-field"


def end_check_sql() -> str:
    """A WHERE condition that raises when a line has a field after the last column.

    DuckDB's strict mode rejects lines with too few fields, but a line with exactly one
    extra field parses with that field in the trailing-`|` column; this catches it.
    """
    return f"({END_COLUMN} IS NULL OR {END_COLUMN} = '' OR error('{EXTRA_FIELD}'))"


def find_extra_field_line(con: object, rrf: RrfFile) -> tuple[str, int] | None:
    """(file, line number) of the first line with an extra field: a second, error-path pass."""
    return find_first_line(con, rrf, f"{END_COLUMN} <> ''")


def find_first_line(con: object, rrf: RrfFile, condition: str) -> tuple[str, int] | None:
    """(file, line number) of the first line where `condition` (SQL over the file's columns)
    holds: a second pass over the file, taken only on the error path."""
    row = con.execute(  # type: ignore[attr-defined]
        f"SELECT filename, n FROM (SELECT *, row_number() OVER "
        f"(PARTITION BY filename) AS n FROM {read_csv_sql(rrf, filename=True)}) "
        f"WHERE {condition} ORDER BY filename, n LIMIT 1"
    ).fetchone()
    return (row[0], int(row[1])) if row else None



_LINE = re.compile(r"CSV Error on Line: (\d+)")
_EXPECTED = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
_FILE = re.compile(r"^\s*file = (.+)$", re.MULTILINE)


def explain_read_error(rrf: RrfFile, exc: Exception) -> ReleaseError:
    """Turn DuckDB's multi-line CSV error into one line that names the file and line."""
    text = str(exc)
    if EXTRA_FIELD in text:
        return ReleaseError(
            f"{rrf.label()}: a line has more fields than the {len(rrf.columns)} of "
            f"{rrf.name}; the file is not in the UMLS layout"
        )
    file_match = _FILE.search(text)
    where = file_match.group(1).strip() if file_match else rrf.label()
    line = _LINE.search(text)
    at = f"{where}:{line.group(1)}" if line else where
    expected = _EXPECTED.search(text)
    if expected:
        want, got = int(expected.group(1)) - 1, int(expected.group(2)) - 1
        return ReleaseError(
            f"{at}: expected {want} fields ending with '|' for {rrf.name}, found {got}; "
            "the line is truncated or the file is not a UMLS release"
        )
    if "unicode" in text.lower() or "utf-8" in text.lower():
        return ReleaseError(f"{at}: invalid UTF-8; UMLS RRF files are UTF-8, re-extract the file")
    if "gzip" in text.lower() or "end of" in text.lower():
        return ReleaseError(f"{at}: truncated or corrupt gzip data; re-download or re-extract it")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return ReleaseError(f"{at}: cannot read {rrf.name}: {first}")
