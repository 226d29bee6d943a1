"""OBO ontologies as UMLS-layout releases: `obo_to_release` writes the terms that
`umlsgraph.load.obo.OboReader` reads as a META folder
in the exact RRF layout, so everything downstream (load, sample, annotate, train, export)
treats an ontology like any UMLS release:

- MRCONSO: the term name as the preferred atom (TS=P, STT=PF, ISPREF=Y, TTY=PT) and one atom
  per synonym (TTY by scope, see `SYNONYM_TTY`); the CUI and CODE are the OBO id
  ("HP:0000118"). Atoms of obsolete terms have SUPPRESS=O, so a default load drops them.
- MRREL: each `is_a` as a PAR row (CUI1=child, CUI2=parent, RELA=inverse_isa) and the matching
  CHD row (CUI1=parent, CUI2=child, RELA=isa): REL is the relation of CUI2 to CUI1, as in UMLS.
  Each `relationship: TYPE TARGET` gives an RO pair (RELA=TYPE and inverse_TYPE).
- MRDEF: the `def` texts. MRSAB: one row. MRSAT: xref, alt_id, replaced_by, consider.
  No MRSTY: OBO terms have no UMLS semantic types.

RRF fields cannot hold `|` nor a line break: `clean` writes `|` as `&#x7C;` (as UMLS does;
umlsgraph reads it back as `|`) and each CR and LF as a space (the rule of `--format rrf`).
That is the one loss between an OBO file and its release: every other character (tabs,
spaces at either end, control characters, bidi marks, backslashes) is kept as it is.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from umlsgraph.errors import InputFileError
from umlsgraph.load.obo import QUOTED_STRING, SYNONYM_TTY, OboReader, Term, unescape
from umlsgraph.load.rrf import LAYOUTS

#: MRSAT is not loaded by umlsgraph, but real UMLS has it: the ontology's mappings live there.
MRSAT_COLUMNS = "CUI LUI SUI METAUI STYPE CODE ATUI SATUI ATN SAB ATV SUPPRESS CVF".split()
MARKER = ".umlsgraph-obo"


def clean(text: str) -> str:
    """A field value that is safe in RRF: `|` as `&#x7C;` (as UMLS writes it), each CR and LF
    as a space, nothing else changed (export/formats/rrf.py's `field_sql` is the SQL twin)."""
    if "|" in text:
        text = text.replace("|", "&#x7C;")
    if "\n" in text or "\r" in text:
        text = text.replace("\r", " ").replace("\n", " ")
    return text


def _blank(text: str) -> bool:
    """Whether a synonym or definition is nothing but OBO spacing and line breaks."""
    return not text.strip(" \t\r\n")


def _row(fields: Iterable[str]) -> str:
    return "|".join(fields) + "|\n"


class _Ids:
    """Sequential UMLS-style identifiers (A00000001…), and LUI/SUI per distinct string."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}
        self.suis: dict[str, str] = {}
        self.luis: dict[str, str] = {}

    def next(self, prefix: str, width: int = 8) -> str:
        n = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = n
        return f"{prefix}{n:0{width}d}"

    def sui(self, text: str) -> str:
        if text not in self.suis:
            self.suis[text] = self.next("S")
        return self.suis[text]

    def lui(self, text: str) -> str:
        key = " ".join(text.lower().split())
        if key not in self.luis:
            self.luis[key] = self.next("L")
        return self.luis[key]


@dataclass
class _Writer:
    """Writes the RRF files of one ontology as its terms stream by."""

    meta: Path
    sab: str
    ids: _Ids = field(default_factory=_Ids)
    pref_aui: dict[str, str] = field(default_factory=dict)
    edges: list[tuple[str, str, str, str]] = field(default_factory=list)  # child, rel, parent, sup
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("terms", "obsolete", "names", "definitions", "attributes"), 0))

    def __post_init__(self) -> None:
        self.files = {name: open(self.meta / f"{name}.RRF", "w", encoding="utf-8", newline="\n")
                      for name in ("MRCONSO", "MRDEF", "MRSAT")}

    def term(self, term: Term) -> None:
        cui, suppress = clean(term.id), "O" if term.obsolete else "N"
        self.counts["terms"] += 1
        self.counts["obsolete"] += term.obsolete
        name = clean(term.name) if term.name else cui
        aui = self._atom(cui, name, "PT", True, suppress)
        self.pref_aui.setdefault(cui, aui)
        for syn in term.synonyms:
            if not _blank(syn.text):
                self._atom(cui, clean(syn.text), SYNONYM_TTY[syn.scope], False, suppress)
        if term.definition and not _blank(term.definition):
            self.counts["definitions"] += 1
            self.files["MRDEF"].write(_row((cui, aui, self.ids.next("AT"), "", self.sab,
                                            clean(term.definition), suppress, "")))
        for parent in term.is_a:
            self.edges.append((cui, "isa", clean(parent), suppress))
        for rtype, target in term.relationships:
            self.edges.append((cui, clean(rtype), clean(target), suppress))
        for atn, values in (("XREF", term.xrefs), ("ALT_ID", term.alt_ids),
                            ("REPLACED_BY", term.replaced_by), ("CONSIDER", term.consider)):
            for value in values:
                self.counts["attributes"] += 1
                self.files["MRSAT"].write(_row((cui, "", "", aui, "SCUI", cui,
                                                self.ids.next("AT"), "", atn, self.sab,
                                                clean(value), suppress, "")))

    def _atom(self, cui: str, text: str, tty: str, preferred: bool, suppress: str) -> str:
        aui = self.ids.next("A")
        self.counts["names"] += 1
        self.files["MRCONSO"].write(_row((
            cui, "ENG", "P" if preferred else "S", self.ids.lui(text),
            "PF" if preferred else "VO", self.ids.sui(text), "Y" if preferred else "N", aui,
            "", cui, "", self.sab, tty, cui, text, "0", suppress, "")))
        return aui

    def relations(self) -> int:
        """MRREL: every is_a as a PAR row and its CHD mirror; relationships as RO pairs."""
        n = 0
        if not self.edges:  # a flat ontology: no MRREL rather than an empty one
            return n
        with open(self.meta / "MRREL.RRF", "w", encoding="utf-8", newline="\n") as out:
            for child, kind, parent, suppress in self.edges:
                if kind == "isa":
                    pairs = (("PAR", "inverse_isa", child, parent), ("CHD", "isa", parent, child))
                else:  # `child kind parent`: CUI2 (child) is `kind` of CUI1 (parent)
                    pairs = (("RO", kind, parent, child), ("RO", f"inverse_{kind}", child, parent))
                for rel, rela, cui1, cui2 in pairs:
                    n += 1
                    out.write(_row((cui1, self.pref_aui.get(cui1, ""), "SCUI", rel, cui2,
                                    self.pref_aui.get(cui2, ""), "SCUI", rela,
                                    f"R{n:08d}", "", self.sab, self.sab, "", "", suppress, "")))
        return n

    def close(self) -> None:
        """Close the files; an optional file that got no row (an ontology without `def:`
        lines or xrefs) is removed, since an empty RRF file means a broken release."""
        for name, handle in self.files.items():
            handle.close()
            path = Path(handle.name)
            if name != "MRCONSO" and path.exists() and path.stat().st_size == 0:
                path.unlink()


def default_sab(path: Path, header: dict[str, list[str]]) -> str:
    """The source abbreviation: the header's `ontology:` ("hp" → "HP"), else the file stem."""
    name = (header.get("ontology") or [""])[0].strip()
    if not name:
        name = path.name
    for suffix in (".gz", ".obo", ".owl"):
        name = name.removesuffix(suffix)
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).upper() or "OBO"


def _title(header: dict[str, list[str]]) -> str | None:
    for value in header.get("property_value", []):
        key, _, rest = value.partition(" ")
        if key in ("dc:title", "http://purl.org/dc/elements/1.1/title", "title"):
            match = QUOTED_STRING.match(rest.strip())
            return unescape(match.group(1)) if match else rest.strip()
    return None


def _write_mrsab(meta: Path, sab: str, header: dict[str, list[str]], writer: _Writer) -> None:
    version = (header.get("data-version") or [""])[0].strip()
    short = version.rsplit("/", 1)[-1] if version else ""
    title = _title(header) or (header.get("ontology") or [sab])[0]
    cells = {
        "VSAB": f"{sab}_{short}" if short else sab, "RSAB": sab, "SON": title, "SF": sab,
        "SVER": version, "IMETA": "", "SRL": "0", "TFR": str(writer.counts["names"]),
        "CFR": str(writer.counts["terms"]), "TTYL": ",".join(["PT", *SYNONYM_TTY.values()]),
        "ATNL": "XREF,ALT_ID,REPLACED_BY,CONSIDER", "LAT": "ENG", "CENC": "UTF-8",
        "CURVER": "Y", "SABIN": "Y", "SSN": title,
    }
    row = _row(clean(cells.get(c, "")) for c in LAYOUTS["MRSAB"])
    (meta / "MRSAB.RRF").write_text(row, encoding="utf-8", newline="\n")


def _prepare(out_dir: Path) -> tuple[Path, Path]:
    """(final META path, staging path). Refuses to overwrite a META that umlsgraph didn't write."""
    meta = out_dir / "META"
    if meta.exists() and any(meta.iterdir()) and not (meta / MARKER).exists():
        raise InputFileError(
            f"{meta}: already holds files not written by umlsgraph; pass an empty output folder")
    staging = out_dir / "META.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return meta, staging


def obo_to_release(obo_path: str | Path, out_dir: str | Path, sab: str | None = None) -> Path:
    """Write the OBO file as a UMLS-layout release in `out_dir`/META; return the META path.

    The folder appears only when complete; re-running replaces what an earlier run wrote.
    """
    path = Path(obo_path)
    meta, staging = _prepare(Path(out_dir))
    try:
        with OboReader.open(path) as reader:
            source = (sab or default_sab(path, reader.header)).upper()
            writer = _Writer(staging, source)
            try:
                for term in reader:
                    writer.term(term)
            finally:
                writer.close()
        if writer.counts["terms"] == 0:
            raise InputFileError(f"{path}: no [Term] stanzas; is it an OBO file?")
        writer.relations()
        _write_mrsab(staging, source, reader.header, writer)
        (staging / MARKER).write_text(str(path.resolve()) + "\n", encoding="utf-8")
        if meta.exists():
            shutil.rmtree(meta)
        staging.rename(meta)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return meta
