"""`--format obo`: the selection as an OBO 1.4 ontology, streamed (pronto, obonet, fastobo,
ROBOT, OAK read it).

Header: format-version 1.4, `data-version` (the release: a UMLS version such as 2024AA found in
the release path, or the OBO source's own data-version), date, `idspace: UMLS <base IRI>` for a
UMLS store (so ROBOT turns `UMLS:C0000001` into the same IRI the OWL and SKOS writers use),
`ontology` (the query name), and remarks naming the query, the selection and the release.

One `[Term]` per selected concept, in id order (ids, synonyms, xrefs: see ontology.py):

    id: UMLS:C0000005
    name: <preferred name>
    def: "<definition>" [<source code of its atom>]
    subset: T047                                   (its semantic types, `subsetdef`s in the header)
    synonym: "<name>" EXACT|RELATED|BROAD|NARROW []
    xref: MESH:D000001
    is_a: UMLS:C0000001 ! <parent's name>          (the hierarchy among selected concepts)
    relationship: part_of UMLS:C0000009 ! <name>   (--rel/--rela edges, see below)
    property_value: umlsgraph:probability "0.93" xsd:decimal

Relations chosen with --rel/--rela are `relationship:` lines: an MRREL row "CUI2 is RELA of
CUI1" is written on CUI2's stanza, its id the row's RELA (`part_of`) or, for several or none,
its REL in lower case (`ro`); each id used gets a `[Typedef]` stanza after the terms.

Escaping (OBO 1.4 as fastobo, and so pronto, read it), one rule per kind of value:

- text (`obo_text`, used in quoted strings and remarks): `\\`, `"`, `{`, `}`, `!` are
  backslash-escaped and newline, carriage return and tab are `\\n`, `\\r`, `\\t`, so no value
  ends its line or opens a qualifier or comment;
- names (`obo_name`, unquoted): text, and a space at either end written `\\ ` (an unquoted
  value's edges are otherwise read as padding);
- quoted strings (`obo_quoted`: def, synonym, subsetdef): text, but fastobo's grammar (as of
  0.14) cannot close a quoted string whose last character is an escaped backslash (`"a\\\\"`
  reads as an unterminated string), so a def or synonym ending in `\\` has that last backslash
  written as U+FF3C FULLWIDTH REVERSE SOLIDUS: the one character OBO loses (`TRAILING_BACKSLASH`);
- identifiers (`obo_id`: xref codes, relation ids): text, and space, `,`, `[`, `]` escaped;
- `! comments` after is_a/relationship (`obo_comment`): control and line-separator characters
  as spaces, trailing backslashes and spaces dropped, so no reader takes one for a line
  continuation (a comment is for the eye; the name itself is on the parent's stanza).

Every other character (non-ASCII, bidi marks, non-BMP, other C0 controls, DEL) is written as
it is, in UTF-8: OBO has no escape for them and fastobo, pronto and umlsgraph's reader take
them as they are. Everything else round-trips exactly through `umlsgraph load` of the file.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from umlsgraph import __version__
from umlsgraph.db.sql import literal
from umlsgraph.export.formats import Exporter, Progress, atomic_file
from umlsgraph.export.formats.ontology import (
    UMLS_PREFIX,
    Ids,
    ontology_id,
    relation_ids,
    require_concepts,
    semantic_types,
    terms_sql,
)
from umlsgraph.export.formats.text import _nested_replace, write_rows

if TYPE_CHECKING:
    from umlsgraph.export.subontology import Subontology

#: (character, escape) in OBO text: names, quoted strings, remarks.
TEXT_ESCAPES = [("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"),
                ("{", "\\{"), ("}", "\\}"), ("!", "\\!")]
#: Identifiers also escape the characters that end an id in an xref list or a line.
ID_ESCAPES = [*TEXT_ESCAPES, (" ", "\\ "), (",", "\\,"), ("[", "\\["), ("]", "\\]")]
#: What a quoted string's last character is written as when it is a backslash (see above).
TRAILING_BACKSLASH = "\uff3c"
#: Characters a `! comment` shows as a space.
COMMENT_BLANKED = r"[\x00-\x1F\x7F\x{85}\x{2028}\x{2029}]"
NL = "chr(10)"


def obo_text(value: str) -> str:
    """The Python twin of the `obo_text` macro."""
    for old, new in TEXT_ESCAPES:
        value = value.replace(old, new)
    return value


def obo_name(value: str) -> str:
    """The Python twin of the `obo_name` macro: an unquoted value, its edge spaces kept."""
    value = obo_text(value)
    if value.endswith(" "):
        value = value[:-1] + "\\ "
    if value.startswith(" "):
        value = "\\" + value
    return value


def obo_quoted(value: str) -> str:
    """The Python twin of the `obo_quoted` macro: the body of a quoted string."""
    if value.endswith("\\"):
        value = value[:-1] + TRAILING_BACKSLASH
    return obo_text(value)


def install_obo_macros(con: Any) -> None:
    """`obo_text`, `obo_name`, `obo_quoted`, `obo_id`, `obo_comment` as temp macros on `con`."""
    macros = {
        "obo_text": _nested_replace("s", TEXT_ESCAPES),
        "obo_name": "regexp_replace(regexp_replace(obo_text(s), ' $', '\\\\ '), '^ ', "
                    "'\\\\ ')",
        "obo_quoted": f"obo_text(regexp_replace(s, '\\\\$', {literal(TRAILING_BACKSLASH)}))",
        "obo_id": _nested_replace("s", ID_ESCAPES),
        "obo_comment": f"trim(rtrim(regexp_replace(s, '{COMMENT_BLANKED}', ' ', 'g'), ' \\'))",
    }
    for name, body in macros.items():
        con.execute(f"CREATE OR REPLACE TEMP MACRO {name}(s) AS {body}")


class OBOExporter(Exporter):
    """`--format obo`: an OBO 1.4 file."""

    format: ClassVar[str] = "obo"
    suffix: ClassVar[str] = ".obo"
    mark: ClassVar[bytes] = b"\nsaved-by: umlsgraph\n"  # in the header (see `header`)

    def dump(self, subontology: Subontology, out: Path | None, on_progress: Progress | None = None,
             base_iri: str | None = None, **_: Any) -> dict[str, Any]:
        assert out is not None
        require_concepts(subontology, self.format)
        con = subontology.con
        ids = Ids.of(con, base_iri)
        install_obo_macros(con)
        total = subontology.node_count()
        with atomic_file(Path(out)) as tmp, open(tmp, "wb") as fh:
            fh.write(header(subontology, ids).encode())
            done = write_rows(con, term_sql(ids), fh)
            if on_progress:
                on_progress("terms", done, total)
            relations = relation_ids(subontology)
            fh.write("".join(typedef(r) for r in relations).encode())
        return {"files": [str(out)], "terms": done, "ids": ids.release.kind,
                "relations": relations}


def obo_id(value: str) -> str:
    """The Python twin of the `obo_id` macro."""
    for old, new in ID_ESCAPES:
        value = value.replace(old, new)
    return value


def typedef(relation: str) -> str:
    """The `[Typedef]` stanza of a relation id used by `relationship:` lines."""
    return f"[Typedef]\nid: {obo_id(relation)}\nname: {obo_name(relation)}\n\n"


def header(sub: Subontology, ids: Ids) -> str:
    """The header frame, ending with a blank line."""
    query, release = sub.query, ids.release
    lines = ["format-version: 1.4"]
    if release.version:
        lines.append(f"data-version: {obo_name(release.version)}")
    if release.loaded_at:  # the data's date, so a rerun writes the same bytes
        lines.append(f"date: {obo_date(release.loaded_at)}")
    lines += ["saved-by: umlsgraph", f"auto-generated-by: umlsgraph {__version__}"]
    if not release.is_obo:
        lines.append(f'idspace: {UMLS_PREFIX} {ids.base} "UMLS Metathesaurus concept"')
    lines += [f'subsetdef: {obo_id(tui)} "{obo_quoted(name)}"' for tui, name in semantic_types(sub)]
    lines.append(f"ontology: {ontology_id(query.name)}")
    remarks = [f"umlsgraph query {query.name}" + (f": {query.description}"
                                                  if query.description else "")]
    summary = sub.summary
    how = f"selected by {summary.get('selection', sub.source)}"
    if summary.get("model"):
        how += f" of model {summary['model']}"
    if summary.get("threshold") is not None:
        how += f" at probability >= {summary['threshold']}"
    remarks.append(f"{how}: {summary.get('nodes', 0)} concepts, {summary.get('edges', 0)} edges")
    remarks.append(f"release {release.path}" + (f" loaded {release.loaded_at}"
                                                 if release.loaded_at else ""))
    lines += [f"remark: {obo_name(r)}" for r in remarks]
    return "\n".join(lines) + "\n\n"


def obo_date(iso: str) -> str:
    """OBO's `dd:MM:yyyy HH:mm` for an ISO time (2025-01-02T03:04:05 -> 02:01:2025 03:04)."""
    try:
        return time.strftime("%d:%m:%Y %H:%M", time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return time.strftime("%d:%m:%Y %H:%M")


def term_sql(ids: Ids) -> str:
    """One row per concept: its `[Term]` stanza, blank line included."""
    line = f" || {NL}"
    parts = [
        f"'[Term]'{line}",
        f"'id: ' || obo_id(curie){line}",
        f"CASE WHEN coalesce(name, '') <> '' THEN 'name: ' || obo_name(name){line} END",
        f"""CASE WHEN coalesce(definition, '') <> '' THEN 'def: \"' || obo_quoted(definition)
            || '\" [' || coalesce(obo_id(def_xref), '') || ']'{line} END""",
        f"array_to_string(list_transform(tuis, lambda x: 'subset: ' || obo_id(x){line}), '')",
        f"""array_to_string(list_transform(synonyms_scoped, lambda x: 'synonym: \"' ||
            obo_quoted(x.text) || '\" ' || x.scope || ' []'{line}), '')""",
        f"array_to_string(list_transform(xrefs, lambda x: 'xref: ' || obo_id(x){line}), '')",
        f"""array_to_string(list_transform(parents, lambda p: 'is_a: ' ||
            obo_id({ids.curie_sql('p.cui')}) || ' ! ' || obo_comment(p.name){line}), '')""",
        f"""array_to_string(list_transform(relations, lambda r: 'relationship: ' ||
            obo_id(r.rel) || ' ' || obo_id({ids.curie_sql('r.cui')}) || ' ! ' ||
            obo_comment(r.name){line}), '')""",
        f"""CASE WHEN probability IS NOT NULL THEN 'property_value: umlsgraph:probability \"'
            || CAST(round(probability, 6) AS VARCHAR) || '\" xsd:decimal'{line} END""",
        NL,
    ]
    return terms_sql(ids, f"concat({', '.join(parts)})")
