"""What the OBO and OWL writers share: concept ids, the release, and each concept's synonyms
(with their scope), cross-references and definition source, all as SQL over the subontology.

Ids. A UMLS release gives CURIEs `UMLS:<CUI>` and IRIs `<base IRI><CUI>` (the SKOS writers'
base, https://uts.nlm.nih.gov/uts/umls/concept/ unless `--base-iri`), so an OWL export and a
Turtle export of one selection name the same concepts. A store loaded from an OBO file (its
`release.path` is an .obo file) keeps the ontology's own ids (`HP:0000707`) and their OBO
PURLs (http://purl.obolibrary.org/obo/HP_0000707); so does a store whose ids are CURIEs (an
OBO store's rrf export, reloaded), since a UMLS CUI never holds a colon.

Synonyms are the concept's English, non-suppressed names other than the preferred one,
de-duplicated case-insensitively exactly as the subontology's `synonyms` column is. Their
scope comes from the atom's term type (TTY): RT and RSY are RELATED, BSY BROAD, NSY NARROW
(the TTYs umlsgraph gives OBO scopes when it loads an OBO file), every other TTY EXACT, since
the atoms of one UMLS concept are synonyms by construction. A name stated with several scopes
takes the strongest (EXACT first).

Cross-references are the source codes of the concept's non-suppressed atoms, `PREFIX:CODE`
with the source's usual OBO prefix (MSH -> MESH, SNOMEDCT_US -> SCTID, NCI -> NCIT, ...; any
other source by its SAB); a code that already is a CURIE (`HP:0000118` in HPO) stays as it is.
The definition's source is the code of the atom the definition hangs on (else `UMLS:<AUI>`,
else `UMLS_SAB:<SAB>`), so a `def:` never ends in an empty `[]`.
Semantic types are subsets: OBO `subsetdef: T047 "Disease or Syndrome"` and `subset: T047`;
OWL `oboInOwl:inSubset` the type's IRI in BioPortal's STY ontology.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import duckdb

from umlsgraph.db import SUPPRESSIBLE
from umlsgraph.db.sql import in_list, literal, unbar
from umlsgraph.errors import ExportError
from umlsgraph.export.formats.rdf import DEFAULT_BASE_IRI, check_base_iri, encoded_cui_sql
from umlsgraph.export.subontology import EDGES, HIERARCHY_TYPE, NODES, Subontology

OBO_PURL = "http://purl.obolibrary.org/obo/"
UMLS_PREFIX = "UMLS"
#: The prefix of a definition source known only by its source abbreviation (MRDEF SAB).
SAB_PREFIX = "UMLS_SAB"
#: Scopes in order of strength: a name stated with several takes the first.
SCOPES = ("EXACT", "RELATED", "BROAD", "NARROW")
#: Term types whose atoms are not exact synonyms; every other TTY is EXACT.
SCOPE_OF_TTY = {"RT": "RELATED", "RSY": "RELATED", "BSY": "BROAD", "NSY": "NARROW"}
#: The OBO prefix ontologists use for a UMLS source's codes (others: the SAB itself).
PREFIX_OF_SAB = {
    "MSH": "MESH", "SNOMEDCT_US": "SCTID", "NCI": "NCIT", "MDR": "MEDDRA", "LNC": "LOINC",
    "ORPHANET": "Orphanet", "HPO": "HP", "MEDLINEPLUS": "MEDLINEPLUS", "OMIM": "OMIM",
    "ICD10CM": "ICD10CM", "ICD9CM": "ICD9CM", "ICD10": "ICD10", "RXNORM": "RXNORM",
    "GO": "GO", "MONDO": "MONDO", "DRUGBANK": "DRUGBANK", "CHEBI": "CHEBI", "FMA": "FMA",
}
_CURIE = r"[A-Za-z][A-Za-z0-9_.\-]*:[^\s]+"
_UMLS_VERSION = re.compile(r"(?:19|20)\d\d[A-Z]{2}")


@dataclass(frozen=True)
class Release:
    """Where the store came from: its kind ("umls" or "obo"), path, load time and version."""

    kind: str
    path: str
    loaded_at: str
    version: str

    @property
    def is_obo(self) -> bool:
        return self.kind == "obo"


def release_of(con: duckdb.DuckDBPyConnection) -> Release:
    """Read the `release` table (and, for an OBO store, its one source's data-version)."""
    from umlsgraph.load.obo import is_obo

    rows = dict(con.execute("SELECT key, value FROM release").fetchall())
    path = rows.get("path") or ""
    kind = "obo" if (path and is_obo(path)) or _curie_ids(con) else "umls"
    if kind == "obo":
        found = con.execute("SELECT version FROM sources WHERE coalesce(version, '') <> '' "
                            "ORDER BY names DESC, sab LIMIT 1").fetchall()
        version = found[0][0] if found else Path(path).name
    else:
        match = _UMLS_VERSION.findall(path)
        version = match[-1] if match else Path(path).parent.name or Path(path).name
    return Release(kind, path, rows.get("loaded_at") or "", version)


def _curie_ids(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the concepts' ids are CURIEs (HP:0000707), never a UMLS CUI: an OBO ontology
    reloaded from an rrf export, whose release path is no longer the .obo file."""
    row = con.execute("SELECT bool_and(contains(cui, ':')) FROM "
                      "(SELECT cui FROM concepts LIMIT 1000)").fetchone()
    return bool(row and row[0])


def require_concepts(sub: Subontology, fmt: str) -> None:
    """OBO, OWL and RRF describe UMLS concepts; a corpus's items have no names or codes."""
    if sub.source != "concepts":
        raise ExportError(f"--format {fmt} writes UMLS concepts; drop --corpus (export a "
                          "corpus's items as csv, graphml or ttl)")


@dataclass(frozen=True)
class Ids:
    """How concepts are named: CURIEs for OBO and oboInOwl:id, IRIs for OWL."""

    release: Release
    base: str

    @classmethod
    def of(cls, con: duckdb.DuckDBPyConnection, base_iri: str | None = None) -> Ids:
        release = release_of(con)
        default = OBO_PURL if release.is_obo else DEFAULT_BASE_IRI
        return cls(release, check_base_iri(base_iri or default))

    def curie_sql(self, column: str) -> str:
        """SQL of a concept's CURIE: the OBO id as it is, else `UMLS:<CUI>`."""
        return column if self.release.is_obo else f"'{UMLS_PREFIX}:' || {column}"

    def iri_sql(self, column: str) -> str:
        """SQL of a concept's IRI: the OBO PURL (`HP_0000707`) or the base IRI and the CUI."""
        if self.release.is_obo and self.base == OBO_PURL:
            return f"{literal(self.base)} || url_encode(replace({column}, ':', '_'))"
        return f"{literal(self.base)} || {encoded_cui_sql(column)}"

    def iri(self, cui: str) -> str:
        """The Python twin of `iri_sql`."""
        if self.release.is_obo and self.base == OBO_PURL:
            return self.base + quote(cui.replace(":", "_"), safe="")
        return self.base + quote(cui, safe=":")


def _suppressed() -> str:
    return in_list(SUPPRESSIBLE)


def _scope_rank_sql(tty: str) -> str:
    """SQL of a TTY's scope as its index in SCOPES (0 = EXACT)."""
    cases = " ".join(f"WHEN {literal(t)} THEN {SCOPES.index(s)}" for t, s in SCOPE_OF_TTY.items())
    return f"CASE upper({tty}) {cases} ELSE 0 END"


def atoms_sql() -> str:
    """SQL of the selected concepts' non-suppressed atoms (cui, aui, lat, sab, tty, code, s),
    `s` the string with UMLS's `&#x7C;` read back as `|`: the one scan of `names`."""
    return f"""
    SELECT cui, aui, lat, sab, tty, code, {unbar('str')} AS s FROM names
    WHERE cui IN (SELECT cui FROM {NODES}) AND coalesce(suppress, '') NOT IN ({_suppressed()})"""


def synonyms_sql(atoms: str = f"({atoms_sql()})") -> str:
    """SQL of (cui, synonyms): per node, a list of {text, scope} ordered by lower(text)."""
    scopes = "[" + ", ".join(literal(s) for s in SCOPES) + "]"
    return f"""
    WITH syn AS (
        SELECT cui, first(s ORDER BY length(s), s) AS text, min({_scope_rank_sql('tty')}) AS r
        FROM {atoms} a WHERE lat = 'ENG' GROUP BY cui, lower(s))
    SELECT syn.cui, list({{'text': text, 'scope': {scopes}[r + 1]}} ORDER BY lower(text))
           AS synonyms
    FROM syn JOIN {NODES} nd ON nd.cui = syn.cui
    WHERE lower(syn.text) <> lower(nd.name) GROUP BY syn.cui"""


def _xref_sql(sab: str, code: str) -> str:
    """SQL of a source code as a CURIE: PREFIX_OF_SAB[sab] (or the SAB) and the code."""
    cases = " ".join(f"WHEN {literal(s)} THEN {literal(p)}" for s, p in PREFIX_OF_SAB.items())
    return (f"CASE WHEN regexp_full_match({code}, '{_CURIE}') THEN {code} "
            f"ELSE (CASE upper({sab}) {cases} ELSE {sab} END) || ':' || {code} END")


def _has_code(code: str, cui: str) -> str:
    return f"coalesce({code}, '') NOT IN ('', 'NOCODE') AND {code} <> {cui}"


def xrefs_sql(atoms: str = f"({atoms_sql()})") -> str:
    """SQL of (cui, xrefs): per node, the distinct source codes of its atoms as CURIEs."""
    return f"""
    SELECT cui, list(DISTINCT {_xref_sql('sab', 'code')} ORDER BY {_xref_sql('sab', 'code')})
           AS xrefs
    FROM {atoms} a WHERE {_has_code('code', 'cui')} GROUP BY cui"""


def definition_source_sql(ids: Ids, atoms: str = f"({atoms_sql()})") -> str:
    """SQL of (cui, def_xref): the source of the node's definition, as a CURIE.

    The definition is the one the subontology chose; its source is the code of the atom it
    hangs on (else `UMLS:<AUI>`), else the source that states it, `UMLS_SAB:<SAB>` (MRDEF's
    SAB; an OBO store's AUIs and codes are its own, so it always gives the SAB)."""
    atom, aui = "NULL", "NULL"
    if not ids.release.is_obo:
        atom = f"CASE WHEN {_has_code('a.code', 'a.cui')} THEN {_xref_sql('a.sab', 'a.code')} END"
        aui = f"CASE WHEN coalesce(d.aui, '') <> '' THEN '{UMLS_PREFIX}:' || d.aui END"
    sab = f"CASE WHEN coalesce(d.sab, '') <> '' THEN '{SAB_PREFIX}:' || d.sab END"
    return f"""
    SELECT nd.cui, first(coalesce({atom}, {aui}, {sab}) ORDER BY d.sab, d.aui) AS def_xref
    FROM {NODES} nd JOIN definitions d ON d.cui = nd.cui AND {unbar('d.def')} = nd.definition
      AND coalesce(d.suppress, '') NOT IN ({_suppressed()})
    LEFT JOIN {atoms} a ON a.aui = d.aui AND a.cui = d.cui
    GROUP BY nd.cui"""


def parents_sql() -> str:
    """SQL of (cui, parents): per node, its parents in the selection as {cui, name}, by cui.

    The edges are the subontology's BROADER edges: the hierarchy rule of db/hierarchy.py."""
    return f"""
    SELECT e.from_cui AS cui, list({{'cui': e.to_cui, 'name': p.name}} ORDER BY e.to_cui)
           AS parents
    FROM {EDGES} e JOIN {NODES} p ON p.cui = e.to_cui
    WHERE e.type = '{HIERARCHY_TYPE}' GROUP BY e.from_cui"""


#: IRIs of UMLS semantic types (BioPortal's STY ontology), the OWL subsets of concepts.
SEMANTIC_TYPE_IRI = "http://purl.bioontology.org/ontology/STY/"


def semantic_types(sub: Subontology) -> list[tuple[str, str]]:
    """(TUI, name) of every semantic type of a selected concept, by TUI: the subsets."""
    return [(t, n) for t, n in sub.con.execute(
        f"SELECT tui, min(sty) FROM semantic_types WHERE cui IN (SELECT cui FROM {NODES}) "
        "AND coalesce(tui, '') <> '' GROUP BY tui ORDER BY tui").fetchall()]


#: SQL of an edge's relation id: its one RELA (part_of), else its REL in lower case (ro).
RELATION_ID = "CASE WHEN len(e.rela) = 1 THEN e.rela[1] ELSE lower(e.type) END"


def relations_sql() -> str:
    """SQL of (cui, relations): per node, its other relations (--rel/--rela) in the selection
    as {rel, cui, name}. An MRREL row says "CUI2 is RELA of CUI1", so an edge cui1 -> cui2
    is a relation of the edge's *target* (to_cui) to its source (from_cui)."""
    return f"""
    SELECT e.to_cui AS cui,
           list({{'rel': {RELATION_ID}, 'cui': e.from_cui, 'name': p.name}}
                ORDER BY {RELATION_ID}, e.from_cui) AS relations
    FROM {EDGES} e JOIN {NODES} p ON p.cui = e.from_cui
    WHERE e.type <> '{HIERARCHY_TYPE}' GROUP BY e.to_cui"""


def relation_ids(sub: Subontology) -> list[str]:
    """The relation ids the other relations use, sorted (OBO Typedefs, OWL properties)."""
    return [r for (r,) in sub.con.execute(
        f"SELECT DISTINCT {RELATION_ID} AS r FROM {EDGES} e "
        f"WHERE e.type <> '{HIERARCHY_TYPE}' ORDER BY r").fetchall()]


def terms_sql(ids: Ids, columns: str) -> str:
    """SELECT `columns` over every node joined with its synonyms, xrefs, definition source,
    parents and other relations (columns: n.*, synonyms_scoped, xrefs, def_xref, parents,
    relations, curie, iri), by cui."""
    return f"""
    WITH atoms AS MATERIALIZED ({atoms_sql()}), syn AS ({synonyms_sql('atoms')}),
         xr AS ({xrefs_sql('atoms')}), ds AS ({definition_source_sql(ids, 'atoms')}),
         par AS ({parents_sql()}), rel AS ({relations_sql()})
    SELECT {columns} FROM (
        SELECT n.*, coalesce(syn.synonyms, []) AS synonyms_scoped,
               coalesce(xr.xrefs, []::VARCHAR[]) AS xrefs, ds.def_xref,
               coalesce(par.parents, []) AS parents, coalesce(rel.relations, []) AS relations,
               {ids.curie_sql('n.cui')} AS curie, {ids.iri_sql('n.cui')} AS iri
        FROM {NODES} n LEFT JOIN syn USING (cui) LEFT JOIN xr USING (cui)
        LEFT JOIN ds USING (cui) LEFT JOIN par USING (cui) LEFT JOIN rel USING (cui)) t
    ORDER BY cui"""


def ontology_id(name: str) -> str:
    """An OBO ontology id for a query name: lower case, runs of other characters as `_`."""
    return re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "umlsgraph"
