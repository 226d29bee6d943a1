"""OBO ontologies (HPO, GO, MONDO, UBERON…): the parser.

`OboReader` streams the `[Term]` stanzas of an OBO 1.2/1.4 file (plain or `.obo.gz`): id,
name, def, synonyms with their scope, is_a, relationship, is_obsolete, xref, alt_id, with
quoted-string escapes and `! comments` handled. `umlsgraph.load.obo_release` writes the terms
as a UMLS-layout release.

Escapes (OBO 1.4, 2.2.2: a backslash and any character), in quoted strings and unquoted values
alike: `\\n`, `\\r`, `\\t` are newline, carriage return and tab, `\\W` a space (OBO 1.2), and a
backslash before any other character is that character (`\\\\`, `\\"`, `\\ `, `\\!`, `\\{`...).
Only OBO's own spacing (space and tab), unescaped, is padding around a value: an escaped
space at either end of a name, and every other character (C0 controls, NEL, U+2028, bidi
marks), is part of the value. A backslash that ends a line outside a `! comment` joins the
next line (OBO 1.2's `\\<newline>`); one inside a comment is comment text, so `is_a: X ! a\\`
never swallows the line after it. umlsgraph's OBO writer never ends a line with a backslash.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

from umlsgraph.errors import InputFileError

#: MRCONSO term type of a synonym, by its OBO scope.
SYNONYM_TTY = {"EXACT": "SY", "RELATED": "RSY", "BROAD": "BSY", "NARROW": "NSY"}
#: OBO 1.0 synonym tags and the scope they stand for.
LEGACY_SYNONYM_TAGS = {
    "exact_synonym": "EXACT", "related_synonym": "RELATED",
    "broad_synonym": "BROAD", "narrow_synonym": "NARROW",
}

QUOTED_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"\s*(.*)$', re.DOTALL)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "W": " "}
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_MODIFIER = re.compile(r"[ \t]\{[^{}]*\}[ \t]*$")
_TAG = re.compile(r"^([A-Za-z0-9_-]+):[ \t]?(.*)$", re.DOTALL)
#: A word of an unquoted value: escaped characters and anything but unescaped space or tab.
_WORD = re.compile(r"(?:\\.?|[^ \t\\])+", re.DOTALL)
#: OBO's spacing characters: the only padding around a value.
SPACING = " \t"
#: Tags whose values hold quoted strings, where a `!` between quotes starts no comment.
QUOTED_TAGS = {"def", "synonym", "subsetdef", "synonymtypedef", "property_value", "idspace",
               "expand_assertion_to", "expand_expression_to", *LEGACY_SYNONYM_TAGS}


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


def trim(value: str) -> str:
    """`value` without OBO spacing (space, tab) at either end, escaped spaces (`\\ `) kept."""
    value = value.lstrip(SPACING)
    end = len(value)
    while end and value[end - 1] in SPACING:
        backslashes = end - 1 - len(value[:end - 1].rstrip("\\"))
        if backslashes % 2:
            break
        end -= 1
    return value[:end]


def words(value: str) -> list[str]:
    """The words of an unquoted value, split at unescaped spaces and tabs, still escaped."""
    return _WORD.findall(value)


def continues(line: str) -> bool:
    """Whether `line` ends in a backslash that escapes its line end (a line continuation):
    an unescaped backslash outside a `! comment`."""
    match = _TAG.match(line.lstrip(SPACING))
    quoted = match is not None and match.group(1) in QUOTED_TAGS
    inside, i = False, 0
    while i < len(line):
        char = line[i]
        if char == "\\":
            if i == len(line) - 1:
                return True
            i += 2
            continue
        if char == '"' and quoted:
            inside = not inside
        elif char == "!" and not inside:
            return False
        i += 1
    return False


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
    return trim(value)


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
        handle = cast(IO[bytes], gzip.open(path, "rb") if path.name.endswith(".gz")
                      else path.open("rb"))
        with handle:
            yield cls(_checked_lines(handle, path), str(path))

    def _logical_lines(self, lines: Iterable[str]) -> Iterator[tuple[int, str]]:
        """(line number, text) with line continuations (a trailing backslash) joined."""
        carry, start = "", 0
        for number, raw in enumerate(lines, 1):
            line = raw.rstrip("\r\n")
            if line.endswith("\\") and continues(carry + line):
                carry, start = carry + line[:-1], start or number
                continue
            yield (start or number), carry + line
            carry, start = "", 0
        if carry:
            yield start, carry

    def _read_header(self) -> None:
        for number, line in self._lines:
            stripped = trim(line)
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
                stripped = trim(line)
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
            parent = words(strip_comment(value))
            if parent:
                term.is_a.append(unescape(parent[0]))
        elif tag == "relationship":
            parts = words(strip_comment(value))
            if len(parts) >= 2:
                term.relationships.append((unescape(parts[0]), unescape(parts[1])))
        elif tag == "is_obsolete":
            term.obsolete = strip_comment(value).lower() == "true"
        elif tag in ("xref", "alt_id", "replaced_by", "consider"):
            first = words(strip_comment(value))
            if first:
                target = {"xref": term.xrefs, "alt_id": term.alt_ids,
                          "replaced_by": term.replaced_by, "consider": term.consider}[tag]
                target.append(unescape(first[0]))
        elif tag == "namespace":
            term.namespace = strip_comment(value)

    def _quoted(self, number: int, value: str) -> tuple[str, str]:
        match = QUOTED_STRING.match(trim(value))
        if not match:
            raise InputFileError(
                f'{self.source}:{number}: expected a quoted "text" with a closing quote, found '
                f"{value[:40]!r}; escape inner quotes as \\\"")
        return unescape(match.group(1)), match.group(2)

    def _synonym(self, number: int, tag: str, value: str) -> Synonym:
        text, rest = self._quoted(number, value)
        head, _, refs = rest.partition("[")
        found = words(strip_comment(head))
        scope = LEGACY_SYNONYM_TAGS.get(tag, "RELATED")
        if found and found[0].upper() in SYNONYM_TTY:
            scope = found.pop(0).upper()
        return Synonym(text, scope, unescape(found[0]) if found else None, _refs("[" + refs))


def _checked_lines(handle: IO[bytes], path: Path) -> Iterator[str]:
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


def is_obo(path: str | Path) -> bool:
    """Whether `path` names an OBO file (`.obo` or `.obo.gz`) rather than a UMLS folder."""
    name = Path(path).name.lower()
    return name.endswith(".obo") or name.endswith(".obo.gz")
