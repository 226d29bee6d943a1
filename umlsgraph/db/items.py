"""Item sources: what the pipeline annotates, trains on and labels, as SQL over the store.

Every step after loading works on items, each an (id, text) pair. A `ConceptSource` makes
them from the UMLS tables (id = CUI, text = the concept text rendered in SQL for all concepts
at once); a `CorpusSource` reads a named flat corpus (id and text columns of the
`corpus_items` table). Steps take an `ItemSource` and never care which one it is.

Both return SQL strings, not rows, so a caller can sample, join, stream or count inside
DuckDB without pulling 3M texts into Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import duckdb

from umlsgraph.db import PREFERRED_ATOM_ORDER, SUPPRESSIBLE, require_tables
from umlsgraph.db.hierarchy import oriented_rows_sql, parent_rows_sql
from umlsgraph.db.schema import CORPUS_ITEMS
from umlsgraph.db.sql import in_list, literal, unbar
from umlsgraph.errors import StoreError
from umlsgraph.query import Query, TextOptions

#: The table that holds every flat corpus (one row per text): corpus, id, text, gold, split.
CORPUS_TABLE = CORPUS_ITEMS


class ItemSource(Protocol):
    """Where items come from. `key` is stored with annotations and predictions."""

    @property
    def key(self) -> str:
        """The source's name in stored rows: ``concepts`` or ``corpus:NAME``."""

    def check(self, con: duckdb.DuckDBPyConnection) -> None:
        """Raise a StoreError if the tables this source reads are missing."""

    def candidates_sql(self, query: Query) -> str:
        """SQL selecting one column `id`: every item the query applies to."""

    def texts_sql(self, query: Query, ids_sql: str) -> str:
        """SQL selecting (`id`, `text`) for the ids that `ids_sql` selects (one column `id`)."""

    def strata_sql(self, query: Query) -> str | None:
        """SQL selecting (`id`, `stratum`) for stratified sampling, or None if not supported."""




@dataclass(frozen=True)
class ConceptSource:
    """UMLS concepts. Text is the seed's recipe unless the query's [text] asks for more."""

    key: str = "concepts"

    def check(self, con: duckdb.DuckDBPyConnection) -> None:
        require_tables(con, "concepts", "names", "relations", "semantic_types", "definitions")

    def candidates_sql(self, query: Query) -> str:
        conds = []
        if query.filter.semantic_types:
            conds.append("cui IN (SELECT cui FROM semantic_types WHERE tui IN "
                         f"({in_list(query.filter.semantic_types)}))")
        if query.filter.sources:
            conds.append("cui IN (SELECT cui FROM names WHERE sab IN "
                         f"({in_list(query.filter.sources)}))")
        where = ("WHERE " + " AND ".join(conds)) if conds else ""
        return f"SELECT cui AS id FROM concepts {where}"

    def texts_sql(self, query: Query, ids_sql: str) -> str:
        return concept_text_sql(query.text, ids_sql)

    def strata_sql(self, query: Query) -> str | None:
        return ("SELECT cui AS id, min(tui) AS stratum FROM semantic_types "
                f"WHERE cui IN ({self.candidates_sql(query)}) GROUP BY cui")


@dataclass(frozen=True)
class CorpusSource:
    """A named flat corpus in the `corpus_items` table (see `umlsgraph.corpus.loader`)."""

    corpus: str
    split: str | None = None

    @property
    def key(self) -> str:
        return f"corpus:{self.corpus}"

    def check(self, con: duckdb.DuckDBPyConnection) -> None:
        require_tables(con, CORPUS_TABLE, hint=f"no corpus '{self.corpus}' in the database; "
                       f"load one with `umlsgraph corpus load {self.corpus} --from FILE`")
        found = con.execute(f"SELECT count(*) FROM {CORPUS_TABLE} WHERE corpus = ?",
                            [self.corpus]).fetchall()[0][0]  # type: ignore[index]
        if not found:
            raise StoreError(f"no corpus '{self.corpus}' in the database; load one with "
                             f"`umlsgraph corpus load {self.corpus} --from FILE`")

    def _where(self) -> str:
        cond = f"corpus = {literal(self.corpus)}"
        if self.split:
            cond += f" AND split = {literal(self.split)}"
        return cond

    def candidates_sql(self, query: Query) -> str:
        return f"SELECT id FROM {CORPUS_TABLE} WHERE {self._where()}"

    def texts_sql(self, query: Query, ids_sql: str) -> str:
        max_chars = query.text.max_chars
        return (f"SELECT id, left(text, {max_chars}) AS text FROM {CORPUS_TABLE} "
                f"WHERE {self._where()} AND id IN ({ids_sql})")

    def strata_sql(self, query: Query) -> str | None:
        return None


@dataclass(frozen=True)
class SubsetSource:
    """An item source restricted to the ids `ids_sql` selects (a sample of a split).

    It wraps any `ItemSource`, so training, labelling and annotation run on the sample through
    their normal code; the key stays the inner source's, so labels are shared with it.
    """

    inner: ItemSource
    ids_sql: str

    @property
    def key(self) -> str:
        return self.inner.key

    def check(self, con: duckdb.DuckDBPyConnection) -> None:
        self.inner.check(con)

    def candidates_sql(self, query: Query) -> str:
        return (f"SELECT id FROM ({self.inner.candidates_sql(query)}) "
                f"WHERE id IN ({self.ids_sql})")

    def texts_sql(self, query: Query, ids_sql: str) -> str:
        return self.inner.texts_sql(query, ids_sql)

    def strata_sql(self, query: Query) -> str | None:
        return None


def source_for(corpus: str | None = None, split: str | None = None) -> ItemSource:
    """The item source a command works on: a corpus by name, else the UMLS concepts."""
    return CorpusSource(corpus, split) if corpus else ConceptSource()


def fetch_texts(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
                ids: Sequence[str]) -> dict[str, str]:
    """id -> text for the given ids, rendered by the source's SQL."""
    import pyarrow as pa

    con.register("_umlsgraph_ids", pa.table({"id": pa.array(list(ids), pa.string())}))
    try:
        sql = source.texts_sql(query, "SELECT id FROM _umlsgraph_ids")
        return {str(i): t for i, t in con.execute(sql).fetchall()}
    finally:
        con.unregister("_umlsgraph_ids")


def concept_text_sql(options: TextOptions, ids_sql: str) -> str:
    """SQL of (id, text) for the concepts `ids_sql` selects, rendered set-based in DuckDB.

    Default (the seed's recipe): the concept's English, non-suppressed names, with UMLS's
    `&#x7C;` turned back into `|`, lower-cased, de-duplicated, sorted by length, joined
    with "; ". Options add the preferred name, semantic types, parents' names, definition.
    """
    suppressed = in_list(SUPPRESSIBLE)
    parts = []
    if options.preferred_name:
        parts.append("c.name")
    if options.synonyms:
        parts.append("syn.names")
    if options.semantic_types:
        parts.append("'type: ' || sty.types")
    if options.parents:
        parts.append("'parents: ' || par.parents")
    if options.other_parents:
        parts.append("'other parents: ' || other.parents")
    if options.grandparents:
        parts.append("'grandparents: ' || gpar.names")
    if options.definition:
        parts.append("'definition: ' || def.def")
    if not parts:
        parts.append("c.name")
    body = " , ".join(parts)
    return f"""
    WITH ids AS ({ids_sql}),
    clean AS (
        SELECT DISTINCT n.cui, lower({unbar('n.str')}) AS s FROM names n
        WHERE n.cui IN (SELECT id FROM ids) AND n.lat = 'ENG'
          AND coalesce(n.suppress, '') NOT IN ({suppressed})),
    syn AS (
        SELECT cui, array_to_string(list(s ORDER BY length(s), s)[1:{options.max_names}], '; ')
               AS names
        FROM clean GROUP BY cui)
    {_optional_ctes(options)}
    SELECT c.cui AS id,
           left(coalesce(nullif(concat_ws(' | ', {body}), ''), lower(c.name)),
                {options.max_chars}) AS text
    FROM concepts c
    LEFT JOIN syn ON syn.cui = c.cui
    {_optional_joins(options)}
    WHERE c.cui IN (SELECT id FROM ids)"""


def _optional_ctes(options: TextOptions) -> str:
    ctes = []
    if options.semantic_types:
        ctes.append("""sty AS (SELECT cui, string_agg(DISTINCT sty, ', ' ORDER BY sty) AS types
            FROM semantic_types WHERE cui IN (SELECT id FROM ids) GROUP BY cui)""")
    if options.parents or options.other_parents or options.grandparents:
        ctes.append(f"""ranked AS ({ranked_parents_sql("SELECT id FROM ids")}),
        edges AS (SELECT child, parent FROM ranked WHERE main),
        par AS (SELECT e.child AS cui, {_names_sql("p")} AS parents
            FROM edges e JOIN concepts p ON p.cui = e.parent GROUP BY e.child)""")
    if options.other_parents:
        ctes.append(f"""other AS (SELECT e.child AS cui, {_names_sql("p")} AS parents
            FROM ranked e JOIN concepts p ON p.cui = e.parent WHERE NOT e.main
            GROUP BY e.child)""")
    if options.grandparents:
        ctes.append(f"""up AS (SELECT child, parent FROM
            ({ranked_parents_sql("SELECT DISTINCT parent FROM edges")}) WHERE main),
        gpar AS (SELECT e.child AS cui, {_names_sql("g")} AS names
            FROM edges e JOIN up u ON u.child = e.parent JOIN concepts g ON g.cui = u.parent
            WHERE g.cui <> e.child GROUP BY e.child)""")
    if options.definition:
        ctes.append("""def AS (SELECT cui, first(def ORDER BY length(def) DESC) AS def
            FROM definitions WHERE cui IN (SELECT id FROM ids) GROUP BY cui)""")
    return ("," + ",\n".join(ctes)) if ctes else ""


def ranked_parents_sql(children_sql: str | None = None) -> str:
    """(child, parent, main) for every parent of the children `children_sql` selects
    (one column; None: every concept, read in plain scans without an IN filter).

    On a real release a concept has parents from dozens of sources, some beside the point.
    A source's rank for a concept is that of its best atom of the concept (MRCONSO's
    preferred-atom order, which follows MRRANK). `main`: the parent is stated by the
    best-ranked source that names the child and states any parent of it; or, when no
    source that names the child states one (a store whose relations come from elsewhere),
    any parent. The concept text shows the main parents as "parents" and climbs
    to grandparents only through them; `export --descendants` follows main parents too, so
    a stray is-a row from a lower-ranked source cannot pull a branch in."""
    if children_sql is None:
        rows, names_where = oriented_rows_sql(columns="sab"), ""
    else:
        rows, names_where = parent_rows_sql(children_sql), f"WHERE cui IN ({children_sql})"
    return f"""
        SELECT child, parent, coalesce(k = min(k) OVER w, min(k) OVER w IS NULL) AS main
        FROM (SELECT r.child, r.parent, min(a.k) AS k
              FROM ({rows}) r
              LEFT JOIN (SELECT cui, sab, min(k) AS k FROM (
                             SELECT cui, sab, row_number() OVER (
                                 PARTITION BY cui ORDER BY {PREFERRED_ATOM_ORDER}) AS k
                             FROM names {names_where})
                         GROUP BY cui, sab) a
                ON a.cui = r.child AND a.sab IS NOT DISTINCT FROM r.sab
              GROUP BY r.child, r.parent)
        WINDOW w AS (PARTITION BY child)"""


def _names_sql(alias: str) -> str:
    """The first five distinct lower-cased names of the concepts `alias`, joined by '; '."""
    name = f"lower({alias}.name)"
    return f"array_to_string(list(DISTINCT {name} ORDER BY {name})[1:5], '; ')"


def _optional_joins(options: TextOptions) -> str:
    joins = []
    if options.semantic_types:
        joins.append("LEFT JOIN sty ON sty.cui = c.cui")
    if options.parents:
        joins.append("LEFT JOIN par ON par.cui = c.cui")
    if options.other_parents:
        joins.append("LEFT JOIN other ON other.cui = c.cui")
    if options.grandparents:
        joins.append("LEFT JOIN gpar ON gpar.cui = c.cui")
    if options.definition:
        joins.append("LEFT JOIN def ON def.cui = c.cui")
    return "\n".join(joins)
