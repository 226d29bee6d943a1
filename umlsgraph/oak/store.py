"""The questions OAK asks of a store, answered by parameterised DuckDB lookups of a few rows.

Everything here speaks store ids (CUIs, or an OBO store's own ids) and plain tuples; the
adapter (`umlsgraph.oak.adapter`) turns them into CURIEs and OAK's types, so this module
needs no oaklib. Each lookup is a point query on a column the store is sorted by (concepts,
names, definitions and semantic types by CUI; the hierarchy index by node), so it reads a
row group or two at any size. Two indexes are built on first use if the file is writable:
the hierarchy and relation indexes (`umlsgraph.db.relation_index`) and the name index
(`umlsgraph.db.search`); without them the same answers come from `relations`/`names`
directly, by whole-table scans.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from umlsgraph.db import connect, relation_index, require_tables, search
from umlsgraph.db.hierarchy import (
    HIERARCHICAL,
    child_edges_sql,
    edges_sql,
    parent_edges_sql,
)
from umlsgraph.db.sql import unbar
from umlsgraph.errors import UmlsgraphError

log = logging.getLogger(__name__)

#: The predicate of a non-hierarchy MRREL row, read "CUI2 <predicate> CUI1" as UMLS does:
#: its RELA (kept as it is when it is a CURIE already) or, without one, its REL.
PREDICATE_SQL = ("CASE WHEN coalesce(rela, '') = '' THEN 'UMLS_REL:' || rel "
                 "WHEN contains(rela, ':') THEN rela ELSE 'UMLS_RELA:' || rela END")
NAME_SQL = unbar("name")
NOT_HIERARCHY = f"({HIERARCHICAL}) IS NOT TRUE AND cui1 <> cui2"
#: Ids in one IN-list; more are looked up chunk by chunk.
CHUNK = 2000
#: Up to this many ids are looked up as that many point queries in one statement (each
#: reads the one row group that holds its id); an IN-list is pruned only by its min and max,
#: so a few scattered ids would read the whole table.
POINT_LOOKUPS = 64
#: Search modes: the condition on `s` (the lower-cased name) or `str` for the pattern `$q`.
MATCH_SQL = {
    "exact": "s = $q",
    "prefix": "starts_with(s, $q)",
    "partial": "contains(s, $q)",
    "regex": "regexp_matches(str, $q)",
    "like": "s LIKE $q",
}
RANK_SQL = "CASE WHEN s = $q THEN 0 WHEN starts_with(s, $q) THEN 1 ELSE 2 END"


def lookup(select: str, column: str, ids: list[str]) -> tuple[str, list[Any]]:
    """SQL and parameters of `select` restricted to rows whose `column` is one of `ids`.

    `select` and `column` are this module's constants; the ids are always parameters."""
    if len(ids) <= POINT_LOOKUPS:
        return " UNION ALL ".join([f"{select} WHERE {column} = ?"] * len(ids)), list(ids)
    return f"{select} WHERE {column} IN (SELECT unnest(?))", [ids]


def chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    """The ids in lists of at most CHUNK, in order."""
    batch: list[str] = []
    for i in ids:
        batch.append(i)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class OntologyStore:
    """A read-only connection to one store and the lookups OAK needs."""

    path: Path
    con: duckdb.DuckDBPyConnection
    relation_indexed: bool
    names_indexed: bool
    _prefixes: set[str] | None = field(default=None, repr=False)

    @classmethod
    def open(cls, db: str | Path) -> OntologyStore:
        """Open `db` read-only, building the two indexes first if they are stale."""
        path = Path(db)
        con = connect(path, read_only=True)
        require_tables(con, "concepts", "names", "relations", "definitions")
        fresh = relation_index.is_fresh(con), search.is_fresh(con)
        if not all(fresh):
            con.close()
            _build_indexes(path, *fresh)
            con = connect(path, read_only=True)
            fresh = relation_index.is_fresh(con), search.is_fresh(con)
        return cls(path, con, *fresh)

    def close(self) -> None:
        self.con.close()

    def rows(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params).fetchall()

    # -- concepts ------------------------------------------------------------------------

    def count(self) -> int:
        return int(self.rows("SELECT count(*) FROM concepts")[0][0])

    def ids(self, batch_rows: int = 10_000) -> Iterator[str]:
        """Every concept id, in store order, without holding them all."""
        cursor = self.con.cursor()
        try:
            cursor.execute("SELECT cui FROM concepts")
            while batch := cursor.fetchmany(batch_rows):
                yield from (r[0] for r in batch)
        finally:
            cursor.close()

    def names(self, ids: list[str]) -> dict[str, str]:
        """id -> preferred name of the ids that are concepts."""
        return dict(self.rows(*lookup(f"SELECT cui, {NAME_SQL} FROM concepts", "cui", ids)))

    def ids_named(self, label: str) -> list[str]:
        """The concepts whose preferred name is exactly `label`."""
        return [r[0] for r in self.rows(
            f"SELECT cui FROM concepts WHERE {NAME_SQL} = ? ORDER BY cui", [label])]

    def synonyms(self, cui: str) -> list[tuple[str, str, str]]:
        """(name, term type, source) of every name of the concept, preferred first."""
        return [(name, tty, sab) for name, tty, sab, *_order in self.rows(
            f"""SELECT DISTINCT {unbar('str')}, tty, sab,
            (ts <> 'P') AS o1, (stt <> 'PF') AS o2, (ispref <> 'Y') AS o3
            FROM names WHERE cui = ? ORDER BY o1, o2, o3, 3, 1""", [cui])]

    def id_prefixes(self) -> set[str]:
        """The prefixes of the store's ids ('' for CUIs, which have none): an id with
        another prefix is outside the store (an xref, a predicate), never unknown to it."""
        if self._prefixes is None:
            self._prefixes = {r[0] for r in self.rows(
                "SELECT DISTINCT CASE WHEN contains(cui, ':') THEN split_part(cui, ':', 1) "
                "ELSE '' END FROM concepts")}
        return self._prefixes

    def is_unknown(self, cui: str) -> bool:
        """True when `cui` looks like one of the store's ids but is no concept of it."""
        prefix = cui.partition(":")[0] if ":" in cui else ""
        return prefix in self.id_prefixes() and not self.names([cui])

    def codes(self, cui: str) -> list[tuple[str, str]]:
        """(source, code) of the concept's names: its ids in the sources (the xrefs)."""
        return self.rows("""SELECT DISTINCT sab, code FROM names
            WHERE cui = ? AND coalesce(code, '') NOT IN ('', 'NOCODE') AND code <> cui
            ORDER BY 1, 2""", [cui])

    def definitions(self, ids: list[str]) -> dict[str, tuple[str, str]]:
        """id -> (definition, source): the longest of its definitions, as concept text uses."""
        sql, params = lookup("SELECT cui, def, sab FROM definitions", "cui", ids)
        return {r[0]: (r[1], r[2]) for r in self.rows(f"""
            SELECT cui, arg_max(def, (length(def), sab)), arg_max(sab, (length(def), sab))
            FROM ({sql}) GROUP BY cui""", params)}

    # -- hierarchy -----------------------------------------------------------------------

    def neighbours(self, ids: list[str], up: bool) -> list[tuple[str, str]]:
        """(node, parent) pairs of the ids (`up`), or (node, child) pairs."""
        if self.relation_indexed:
            sql, params = lookup(f"SELECT node, other, up FROM {relation_index.TABLE}",
                                 "node", ids)
            return self.rows(f"SELECT node, other FROM ({sql}) WHERE up = ?", [*params, up])
        if up:
            return self.rows(parent_edges_sql("SELECT unnest($ids)"), {"ids": ids})
        return [(p, c) for c, p in self.rows(child_edges_sql("SELECT unnest($ids)"),
                                             {"ids": ids})]

    def edges(self) -> Iterator[tuple[str, str]]:
        """Every (child, parent) pair of the store, streamed."""
        sql = (f"SELECT node, other FROM {relation_index.TABLE} WHERE up"
               if self.relation_indexed else edges_sql())
        cursor = self.con.cursor()
        try:
            cursor.execute(sql + " ORDER BY 1, 2")
            while batch := cursor.fetchmany(10_000):
                yield from batch
        finally:
            cursor.close()

    def closure(self, start: list[str], up: bool) -> set[str]:
        """Every ancestor (`up`) or descendant of the start ids, level by level; start
        ids are included only when a cycle leads back to them."""
        seen: set[str] = set()
        frontier = list(dict.fromkeys(start))
        while frontier:  # a wide level is one semi-join (one scan), not a scan per chunk
            found = {other for _, other in self.neighbours(frontier, up)}
            frontier = sorted(found - seen)
            seen.update(frontier)
        return seen

    # -- other relations -----------------------------------------------------------------

    def relations(self, subjects: list[str] | None, objects: list[str] | None,
                  predicates: list[str] | None) -> Iterator[tuple[str, str, str]]:
        """(subject, predicate, object) of the non-hierarchy rows: "CUI2 predicate CUI1"."""
        rows = f"SELECT cui2, rel, rela, cui1 FROM relations WHERE {NOT_HIERARCHY}"
        params: list[Any] = []
        if subjects is not None:
            if self.relation_indexed:
                rows = f"SELECT cui2, rel, rela, cui1 FROM {relation_index.RELATIONS}"
            rows, params = lookup(f"SELECT * FROM ({rows})", "cui2", subjects)
        elif objects is not None:
            rows, params = lookup(f"SELECT * FROM ({rows})", "cui1", objects)
        sql = f"SELECT DISTINCT cui2, {PREDICATE_SQL} AS predicate, cui1 FROM ({rows})"
        where = []
        if subjects is not None and objects is not None:
            where.append("cui1 IN (SELECT unnest(?))")
            params.append(objects)
        if predicates is not None:
            where.append("predicate IN (SELECT unnest(?))")
            params.append(predicates)
        if where:
            sql = f"SELECT * FROM ({sql}) WHERE {' AND '.join(where)}"
        cursor = self.con.cursor()
        try:
            cursor.execute(sql + " ORDER BY 1, 2, 3", params)
            while batch := cursor.fetchmany(10_000):
                yield from batch
        finally:
            cursor.close()

    # -- search --------------------------------------------------------------------------

    def search(self, text: str, mode: str, fields: set[str],
               limit: int | None = None) -> list[str]:
        """Concept ids with a name (field 'alias'), a preferred name ('label') or an id
        ('id') matching `text` by `mode` (see MATCH_SQL), case-insensitively except for
        regular expressions; exact before prefix before other matches, then shorter names."""
        sources = []
        if "alias" in fields:
            sources.append(self._name_source())
        elif "label" in fields:
            sources.append(self._label_source())
        if "id" in fields:
            sources.append("SELECT cui, cui AS str, lower(cui) AS s, 0 AS len FROM concepts")
        if not sources:
            return []
        pattern = text if mode == "regex" else text.lower()
        sql = f"""SELECT cui, min({RANK_SQL}) AS rank, min(len) AS len
            FROM ({' UNION ALL '.join(sources)}) WHERE {MATCH_SQL[mode]}
            GROUP BY cui ORDER BY rank, len, cui"""
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [r[0] for r in self.rows(sql, {"q": pattern})]

    def _label_source(self) -> str:
        """(cui, str, s, len) of preferred names: from the name index (sorted by `s`, so an
        exact or prefix match reads a row group) where there is one."""
        if self.names_indexed:
            return (f"SELECT n.cui, n.str, n.s, n.len FROM {search.TABLE} n "
                    "JOIN concepts c ON c.cui = n.cui AND c.name = n.str")
        return (f"SELECT cui, {NAME_SQL} AS str, lower({NAME_SQL}) AS s, "
                "length(name) AS len FROM concepts")

    def _name_source(self) -> str:
        if self.names_indexed:
            return f"SELECT cui, str, s, len FROM {search.TABLE}"
        return (f"SELECT cui, str, lower({unbar('str')}) AS s, "
                "length(str) AS len FROM names")


def _build_indexes(path: Path, hierarchy_fresh: bool, names_fresh: bool) -> None:
    """Build what is stale (the only writes the adapter makes: once per loaded release);
    a store that cannot be written (read-only file, another writer) is answered without."""
    try:
        con = connect(path)
    except UmlsgraphError as exc:
        log.warning("%s: cannot build the lookup indexes (%s); lookups will scan", path, exc)
        return
    try:
        if not hierarchy_fresh:
            relation_index.build(con)
        if not names_fresh:
            search.build(con)
    finally:
        con.close()
