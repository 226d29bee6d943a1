"""OBO ontologies (HPO, GO, MONDO, UBERON…) as UMLS-layout releases.

`OboReader` streams the `[Term]` stanzas of an OBO 1.2/1.4 file (plain or `.obo.gz`): id,
name, def, synonyms with their scope, is_a, relationship, is_obsolete, xref, alt_id, with
quoted-string escapes and `! comments` handled. `obo_to_release` writes them as a META folder
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

Fields never hold `|` (written `&#x7C;`, as UMLS does) or line breaks (written as spaces).
"""

from __future__ import annotations

import gzip
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from umlsgraph.errors import InputFileError, UmlsgraphError
from umlsgraph.load.rrf import LAYOUTS

#: MRCONSO term type of a synonym, by its OBO scope.
SYNONYM_TTY = {"EXACT": "SY", "RELATED": "RSY", "BROAD": "BSY", "NARROW": "NSY"}
#: OBO 1.0 synonym tags and the scope they stand for.
LEGACY_SYNONYM_TAGS = {
    "exact_synonym": "EXACT", "related_synonym": "RELATED",
    "broad_synonym": "BROAD", "narrow_synonym": "NARROW",
}
#: MRSAT is not loaded by umlsgraph, but real UMLS has it: the ontology's mappings live there.
MRSAT_COLUMNS = "CUI LUI SUI METAUI STYPE CODE ATUI SATUI ATN SAB ATV SUPPRESS CVF".split()
MARKER = ".umlsgraph-obo"

_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"\s*(.*)$', re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "W": " "}
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_MODIFIER = re.compile(r"\s\{[^{}]*\}\s*$")
_TAG = re.compile(r"^([A-Za-z0-9_-]+):\s?(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Synonym:
    """One `synonym:` line: the text, its scope (EXACT…), its type (e.g. layperson), refs."""

    text: str
    scope: str = "RELATED"
    type: str | None = None
    refs: tuple[str, ...] = ()


@dataclass
class Term:
    """One `[Term]` stanza. `line` is where it starts, for error messages."""

    id: str
    line: int = 0
    name: str | None = None
    definition: str | None = None
    def_refs: tuple[str, ...] = ()
    synonyms: list[Synonym] = field(default_factory=list)
    is_a: list[str] = field(default_factory=list)
    relationships: list[tuple[str, str]] = field(default_factory=list)
    xrefs: list[str] = field(default_factory=list)
    alt_ids: list[str] = field(default_factory=list)
    replaced_by: list[str] = field(default_factory=list)
    consider: list[str] = field(default_factory=list)
    namespace: str | None = None
    obsolete: bool = False


# ---------------------------------------------------------------------------- reading


def unescape(text: str) -> str:
    r"""OBO escapes: `\n`, `\t`, `\W` (space), and a backslash before any other character."""
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), text)


def strip_comment(value: str) -> str:
    """Drop a trailing `! comment` (an unescaped `!`) and `{trailing modifiers}`."""
    if "!" in value:
        i = 0
        while True:
            i = value.find("!", i)
            if i < 0:
                break
            backslashes = len(value[:i]) - len(value[:i].rstrip("\\"))
            if backslashes % 2 == 0:
                value = value[:i]
                break
            i += 1
    if "{" in value:
        value = _MODIFIER.sub("", value)
    return value.strip()


def _refs(text: str) -> tuple[str, ...]:
    """The `[a, b]` dbxref list after a quoted string; empty when absent."""
    text = text.strip()
    if not text.startswith("["):
        return ()
    end = text.rfind("]")
    inner = text[1:end if end > 0 else None]
    return tuple(unescape(r.strip()) for r in re.split(r"(?<!\\),", inner) if r.strip())


class OboReader:
    """Streams the `[Term]` stanzas of an OBO file; `header` holds the header tags.

    `OboReader(lines, source)` reads any iterable of lines; `OboReader.open(path)` a file,
    plain or gzip'd. Errors name `source` and the line number.
    """

    def __init__(self, lines: Iterable[str], source: str = "<obo>") -> None:
        self.source = source
        self.header: dict[str, list[str]] = {}
        self._lines = self._logical_lines(lines)
        self._pending: tuple[int, str] | None = None
        self._read_header()

    @classmethod
    @contextmanager
    def open(cls, path: str | Path) -> Iterator[OboReader]:
        """Open an `.obo` or `.obo.gz` file and read its header."""
        path = Path(path)
        if not path.is_file():
            raise InputFileError(f"{path}: no such OBO file; pass an .obo or .obo.gz file")
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as handle:  # type: ignore[operator]
            yield cls(_checked_lines(handle, path), str(path))

    def _logical_lines(self, lines: Iterable[str]) -> Iterator[tuple[int, str]]:
        """(line number, text) with line continuations (a trailing backslash) joined."""
        carry, start = "", 0
        for number, raw in enumerate(lines, 1):
            line = raw.rstrip("\r\n")
            if line.endswith("\\") and (len(line) - len(line.rstrip("\\"))) % 2 == 1:
                carry, start = carry + line[:-1], start or number
                continue
            yield (start or number), carry + line
            carry, start = "", 0
        if carry:
            yield start, carry

    def _read_header(self) -> None:
        for number, line in self._lines:
            stripped = line.strip()
            if stripped.startswith("["):
                self._pending = (number, stripped)
                return
            parsed = self._tag(number, stripped)
            if parsed:
                self.header.setdefault(parsed[0], []).append(parsed[1])

    def _tag(self, number: int, line: str) -> tuple[str, str] | None:
        if not line or line.startswith("!"):
            return None
        match = _TAG.match(line)
        if not match:
            raise InputFileError(
                f"{self.source}:{number}: expected 'tag: value' or a [Stanza] line, found "
                f"{line[:40]!r}; the file is not in OBO format")
        return match.group(1), match.group(2)

    def __iter__(self) -> Iterator[Term]:
        while self._pending is not None:
            start, kind = self._pending
            self._pending = None
            tags: list[tuple[int, str, str]] = []
            for number, line in self._lines:
                stripped = line.strip()
                if stripped.startswith("["):
                    self._pending = (number, stripped)
                    break
                parsed = self._tag(number, stripped)
                if parsed:
                    tags.append((number, *parsed))
            if kind == "[Term]":
                yield self._term(start, tags)

    def _term(self, start: int, tags: list[tuple[int, str, str]]) -> Term:
        ids = [v for _, t, v in tags if t == "id"]
        if not ids or not strip_comment(ids[0]):
            raise InputFileError(f"{self.source}:{start}: [Term] stanza without an id")
        term = Term(id=unescape(strip_comment(ids[0])), line=start)
        for number, tag, value in tags:
            self._apply(term, number, tag, value)
        return term

    def _apply(self, term: Term, number: int, tag: str, value: str) -> None:
        if tag == "name" and term.name is None:
            term.name = unescape(strip_comment(value))
        elif tag == "def" and term.definition is None:
            text, rest = self._quoted(number, value)
            term.definition, term.def_refs = text, _refs(rest)
        elif tag == "synonym" or tag in LEGACY_SYNONYM_TAGS:
            term.synonyms.append(self._synonym(number, tag, value))
        elif tag == "is_a":
            parent = strip_comment(value).split()
            if parent:
                term.is_a.append(unescape(parent[0]))
        elif tag == "relationship":
            parts = strip_comment(value).split()
            if len(parts) >= 2:
                term.relationships.append((unescape(parts[0]), unescape(parts[1])))
        elif tag == "is_obsolete":
            term.obsolete = strip_comment(value).lower() == "true"
        elif tag in ("xref", "alt_id", "replaced_by", "consider"):
            first = strip_comment(value).split(maxsplit=1)
            if first:
                target = {"xref": term.xrefs, "alt_id": term.alt_ids,
                          "replaced_by": term.replaced_by, "consider": term.consider}[tag]
                target.append(unescape(first[0]))
        elif tag == "namespace":
            term.namespace = strip_comment(value)

    def _quoted(self, number: int, value: str) -> tuple[str, str]:
        match = _QUOTED.match(value.strip())
        if not match:
            raise InputFileError(
                f'{self.source}:{number}: expected a quoted "text" with a closing quote, found '
                f"{value[:40]!r}; escape inner quotes as \\\"")
        return unescape(match.group(1)), match.group(2)

    def _synonym(self, number: int, tag: str, value: str) -> Synonym:
        text, rest = self._quoted(number, value)
        head, _, refs = rest.partition("[")
        words = strip_comment(head).split()
        scope = LEGACY_SYNONYM_TAGS.get(tag, "RELATED")
        if words and words[0].upper() in SYNONYM_TTY:
            scope = words.pop(0).upper()
        return Synonym(text, scope, words[0] if words else None, _refs("[" + refs))


def _checked_lines(handle: BinaryIO, path: Path) -> Iterator[str]:
    """The file's lines, decoded one by one so that errors name the right line number."""
    number = 0
    try:
        for number, raw in enumerate(handle, 1):  # noqa: B007
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InputFileError(
                    f"{path}:{number}: invalid UTF-8; OBO files are UTF-8, re-download it"
                ) from None
    except (EOFError, OSError, gzip.BadGzipFile) as exc:
        raise InputFileError(
            f"{path}:{number + 1}: truncated or corrupt gzip data ({exc}); re-download it"
        ) from None


def read_terms(path: str | Path) -> list[Term]:
    """Every `[Term]` of an OBO file, in file order (a convenience over `OboReader`)."""
    with OboReader.open(path) as reader:
        return list(reader)


# ---------------------------------------------------------------------------- writing


def clean(text: str) -> str:
    """A field value that is safe in RRF: no `|` (UMLS writes `&#x7C;`) and no line breaks."""
    if "|" in text:
        text = text.replace("|", "&#x7C;")
    if "\n" in text or "\r" in text or "\t" in text:
        text = " ".join(text.split())
    return text


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
            if syn.text.strip():
                self._atom(cui, clean(syn.text), SYNONYM_TTY[syn.scope], False, suppress)
        if term.definition and term.definition.strip():
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
            match = _QUOTED.match(rest.strip())
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


def is_obo(path: str | Path) -> bool:
    """Whether `path` names an OBO file (`.obo` or `.obo.gz`) rather than a UMLS folder."""
    name = Path(path).name.lower()
    return name.endswith(".obo") or name.endswith(".obo.gz")


def load(release: str | Path, db: str | Path, options: Any = None,
         on_step: Callable[[str], None] | None = None, sab: str | None = None) -> dict[str, Any]:
    """Load a UMLS release folder, or an OBO file via a temporary release, into `db`."""
    from umlsgraph.db import connect
    from umlsgraph.load.release import load_release

    if not is_obo(release):
        return load_release(release, db, options, on_step=on_step)
    step = on_step or (lambda _msg: None)
    with tempfile.TemporaryDirectory(prefix="umlsgraph-obo-") as tmp:
        step(f"converting {Path(release).name} to the UMLS layout")
        meta = obo_to_release(release, tmp, sab=sab)
        try:
            counts = load_release(meta, db, options, on_step=on_step)
        except UmlsgraphError as exc:  # name the ontology, not the temporary folder
            raise type(exc)(str(exc).replace(str(meta), f"{release} (as RRF)")) from None
    con = connect(db)
    try:  # record the ontology, not the temporary folder, as what was loaded
        con.execute("UPDATE release SET value = ? WHERE key = 'path'",
                    [str(Path(release).resolve())])
    finally:
        con.close()
    counts["release"] = str(Path(release).resolve())
    return counts
