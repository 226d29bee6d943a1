"""`--format rrf`: a UMLS release restricted to the selection, in OUT/META (the layout of an
unpacked release), so `umlsgraph load OUT` reloads exactly the selected concepts and concept
extractors that build their index from UMLS (QuickUMLS's installer, scispaCy's umls_utils)
build it from the selection alone.

    MRCONSO   every stored atom of a selected concept
    MRREL     every stored relation whose two concepts are selected (all REL types)
    MRSTY     the semantic types of the selected concepts
    MRDEF     their definitions
    MRSAB     one row per source with atoms in the selection (TFR/CFR counted in it)
    MRFILES   file, columns, row and byte counts of the files above (scispaCy reads the
              column names from it)

Columns are the official RRF layouts (`load/rrf.LAYOUTS`). The store keeps what `load` kept:
columns it drops are written as empty fields in their place (`left_empty` in the report):
MRCONSO SAUI, SRL, CVF; MRREL SRUI, SL, CVF; MRSTY ATUI, CVF; MRDEF ATUI, SATUI, CVF; MRSAB
all but VSAB, RSAB, SON (and the counts, TTYL, LAT, CENC, CURVER, SABIN, SSN written here).
Rows are what the load filters kept (by default English, non-suppressed atoms).

RRF fields cannot hold `|` or line breaks: `|` is written `&#x7C;` (as UMLS does; umlsgraph
reads it back as `|`) and CR/LF become spaces; names, definitions and semantic type names so
changed are counted as `changed_values`. An optional file
with no row is not written, since an empty RRF file reads as a broken release.

The folder is built beside OUT and renamed into place when complete, so OUT is never half
written. MRFILES is written last, with each file's byte count; `load` requires it, and those
counts, of a folder holding the `rrf export` marker (`load/rrf.check_complete`), so even the
temporary folder of a killed export never loads as a release.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from umlsgraph.export.formats import Exporter, Progress
from umlsgraph.export.formats.ontology import require_concepts
from umlsgraph.export.formats.text import write_rows
from umlsgraph.export.subontology import NODES
from umlsgraph.load.rrf import EXPORT_MARK, LAYOUTS
from umlsgraph.outputs import MARKER

if TYPE_CHECKING:
    import duckdb

    from umlsgraph.export.subontology import Subontology

IN_SELECTION = f"IN (SELECT cui FROM {NODES})"
#: Per file: (column -> SQL of its value; columns absent are written empty), FROM, WHERE,
#: ORDER BY.
FILES: dict[str, tuple[dict[str, str], str, str, str]] = {
    "MRCONSO": ({"CUI": "cui", "LAT": "lat", "TS": "ts", "LUI": "lui", "STT": "stt",
                 "SUI": "sui", "ISPREF": "ispref", "AUI": "aui", "SCUI": "scui", "SDUI": "sdui",
                 "SAB": "sab", "TTY": "tty", "CODE": "code", "STR": "str",
                 "SUPPRESS": "suppress"},
                "names", f"cui {IN_SELECTION}", "cui, aui"),
    "MRREL": ({"CUI1": "cui1", "AUI1": "aui1", "STYPE1": "stype1", "REL": "rel", "CUI2": "cui2",
               "AUI2": "aui2", "STYPE2": "stype2", "RELA": "rela", "RUI": "rui", "SAB": "sab",
               "RG": "rg", "DIR": "dir", "SUPPRESS": "suppress"},
              "relations", f"cui1 {IN_SELECTION} AND cui2 {IN_SELECTION}",
              "cui1, rel, cui2, rela, sab, rui, aui1, aui2"),
    "MRSTY": ({"CUI": "cui", "TUI": "tui", "STN": "stn", "STY": "sty"},
              "semantic_types", f"cui {IN_SELECTION}", "cui, tui"),
    "MRDEF": ({"CUI": "cui", "AUI": "aui", "SAB": "sab", "DEF": "def", "SUPPRESS": "suppress"},
              "definitions", f"cui {IN_SELECTION}", "cui, aui, sab, def"),
    "MRSAB": ({"VSAB": "coalesce(s.version, '')", "RSAB": "n.sab", "SON": "s.name",
               "SF": "n.sab", "TFR": "n.atoms::VARCHAR", "CFR": "n.concepts::VARCHAR",
               "TTYL": "n.ttys", "LAT": "n.lats", "CENC": "'UTF-8'", "CURVER": "'Y'",
               "SABIN": "'Y'", "SSN": "s.name"},
              f"""(SELECT sab, count(*) AS atoms, count(DISTINCT cui) AS concepts,
                     string_agg(DISTINCT tty, ',' ORDER BY tty) AS ttys,
                     string_agg(DISTINCT lat, ',' ORDER BY lat) AS lats
                   FROM names WHERE cui {IN_SELECTION} GROUP BY sab) n
                   LEFT JOIN sources s ON s.sab = n.sab""", "TRUE", "n.sab"),
}
DESCRIPTIONS = {"MRCONSO": "Concept names and sources", "MRREL": "Related concepts",
                "MRSTY": "Semantic types", "MRDEF": "Definitions", "MRSAB": "Source information"}


def field_sql(value: str) -> str:
    """SQL of one RRF field: NULL as empty, `|` as `&#x7C;`, CR and LF as spaces."""
    text = f"replace(coalesce(CAST({value} AS VARCHAR), ''), '|', '&#x7C;')"
    return f"replace(replace({text}, chr(13), ' '), chr(10), ' ')"


def rows_sql(name: str) -> str:
    """SQL of the file's lines: every layout column in order, each ending with `|`."""
    values, source, where, order = FILES[name]
    fields = [field_sql(values[c]) if c in values else "''" for c in LAYOUTS[name]]
    return (f"SELECT concat_ws('|', {', '.join(fields)}) || '|' || chr(10) "
            f"FROM {source} WHERE {where} ORDER BY {order}")


def left_empty() -> dict[str, list[str]]:
    """The layout columns each file writes empty because the store does not keep them."""
    return {n: [c for c in LAYOUTS[n] if c not in FILES[n][0]] for n in FILES}


#: The text columns, where a line break can occur in practice (identifiers come from RRF
#: lines, which cannot hold one): what `changed_values` counts.
TEXT_COLUMNS = {"MRCONSO": "str", "MRDEF": "def", "MRSTY": "sty"}


def changed_values(con: duckdb.DuckDBPyConnection) -> int:
    """How many stored texts (names, definitions, semantic type names) hold a line break."""
    total = 0
    for name, column in TEXT_COLUMNS.items():
        _values, source, where, _order = FILES[name]
        row = con.execute(f"SELECT count(*) FROM {source} WHERE {where} AND "
                          f"(contains({column}, chr(13)) OR contains({column}, chr(10)))"
                          ).fetchone()
        total += int(row[0]) if row else 0
    return total


class RRFExporter(Exporter):
    """`--format rrf`: OUT/META with the RRF files of the selected concepts."""

    format: ClassVar[str] = "rrf"
    target: ClassVar[str] = "folder"

    @property
    def what(self) -> str:
        """The marker `load` looks for (`rrf export`)."""
        return EXPORT_MARK

    def dump(self, subontology: Subontology, out: Path | None, on_progress: Progress | None = None,
             **_: Any) -> dict[str, Any]:
        assert out is not None
        require_concepts(subontology, self.format)
        con = subontology.con
        written: dict[str, tuple[int, int]] = {}
        with self.writing(Path(out)) as folder:
            meta = folder / "META"
            meta.mkdir()
            for step, name in enumerate(FILES, 1):
                path = meta / f"{name}.RRF"
                with open(path, "wb") as fh:
                    rows = write_rows(con, rows_sql(name), fh)
                if rows == 0 and name != "MRCONSO":
                    path.unlink()  # an empty RRF file reads as a broken release
                else:
                    written[name] = (rows, path.stat().st_size)
                if on_progress:
                    on_progress(name, step, len(FILES) + 1)
            _write_mrfiles(meta, written)  # last: what tells `load` the export is complete
        meta = Path(out) / "META"
        return {"files": [str(meta / f"{n}.RRF") for n in (*written, "MRFILES")],
                "rows": {n: r for n, (r, _b) in written.items()},
                "changed_values": changed_values(con), "left_empty": left_empty()}

    def owns(self, folder: Path) -> bool:
        """OUT holding only META (and the marker), META only the files this format writes
        (or the `.NAME.RRF.partial` files of a run of an earlier version)."""
        meta = folder / "META"
        if {p.name for p in folder.iterdir()} - {MARKER} != {"META"} or not meta.is_dir():
            return False
        ours = {f"{n}.RRF" for n in (*FILES, "MRFILES")}
        return all(p.name in ours or (p.name.startswith(".") and p.name.endswith(".partial")
                                      and p.name[1:-len(".partial")] in ours)
                   for p in meta.iterdir())


def _write_mrfiles(meta: Path, written: dict[str, tuple[int, int]]) -> None:
    """MRFILES.RRF: FIL|DES|FMT|CLS|RWS|BTS| per written file (FMT: its column names)."""
    lines = [f"{n}.RRF|{DESCRIPTIONS[n]}|{','.join(LAYOUTS[n])}|{len(LAYOUTS[n])}|{rows}|"
             f"{size}|\n" for n, (rows, size) in written.items()]
    (meta / "MRFILES.RRF").write_text("".join(lines), encoding="utf-8")
