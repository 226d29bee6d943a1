"""The subontology a query selects: its concepts and the relations among them, built in DuckDB.

Which items are selected is `umlsgraph.selection` (the rule and the closure, shared with
check, eval, review, concept and the report); this module adds what an export needs on top:
ancestors (`--with-ancestors`), the `--mentioned-in` filter, nodes with their attributes,
edges and components.

Edges (REL is the relation of CUI2 to CUI1): by default the hierarchy, directed child -> parent.
A row with ``rel='PAR'`` makes cui1 the child of cui2, ``rel='CHD'`` makes cui2 the child of
cui1; rows of any other REL count by their RELA (``inverse_isa`` like PAR, ``isa`` like CHD).
Each child -> parent pair is one edge of type ``BROADER`` whatever the number of rows and
sources stating it; its ``rel``, ``rela`` and ``sab`` attributes list them all. Extra REL/RELA
types chosen by the user become edges ``cui1 -> cui2`` of type REL (read "cui2 is REL of
cui1", as in MRREL), one per pair and REL.

Everything is set-based: two temp tables, ``subontology_nodes`` and ``subontology_edges``,
that exporters read with SQL (COPY for CSV/Parquet) or in Arrow batches (networkx, rdflib,
Neo4j). Components are computed with scipy's sparse-graph routine on the edge list.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb

from umlsgraph.db import prediction_store, stream
from umlsgraph.db.concept_attributes import concept_attributes_sql
from umlsgraph.db.hierarchy import HIERARCHICAL, oriented_rows_sql
from umlsgraph.db.items import ConceptSource, ItemSource
from umlsgraph.db.sql import literal
from umlsgraph.errors import QueryError
from umlsgraph.query import Query
from umlsgraph.selection import Selection, SelectionOptions, select

NODES = "subontology_nodes"
EDGES = "subontology_edges"
HIERARCHY_TYPE = "BROADER"


@dataclass(frozen=True)
class SubontologyOptions(SelectionOptions):
    """The selection (`SelectionOptions`), and what the export adds: which relations join the
    selected items, which components are kept, ancestors, the `--mentioned-in` filter."""

    hierarchy: bool = True
    rels: tuple[str, ...] = ()
    relas: tuple[str, ...] = ()
    drop_isolated: bool = False
    min_component_size: int = 1
    with_ancestors: bool = False
    mentioned_in: str | None = None
    min_mentions: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min_mentions < 1:
            raise QueryError(f"--min-mentions must be at least 1, got {self.min_mentions}")
        if self.min_component_size < 1:
            raise QueryError(f"--min-component-size must be at least 1, got "
                             f"{self.min_component_size}")
        object.__setattr__(self, "rels", tuple(r.upper() for r in self.rels))

    @classmethod
    def of(cls, options: SelectionOptions | None) -> SubontologyOptions:
        """`options` as export options (a plain selection: every export default)."""
        if isinstance(options, SubontologyOptions):
            return options
        base = options or SelectionOptions()
        return cls(source=base.source, threshold=base.threshold, model=base.model,
                   annotator=base.annotator, closure=base.closure, verdicts=base.verdicts)


@dataclass
class Subontology:
    """A built selection: temp tables `subontology_nodes`/`subontology_edges` on `con`.

    Node columns: cui, name, english, semantic_types (list), tuis (list), probability,
    label, selected (False for added ancestors), synonyms (list), definition, component.
    Edge columns: from_cui, to_cui, type ('BROADER' or a REL), rel, rela, sab (lists).
    """

    con: duckdb.DuckDBPyConnection
    query: Query
    source: str
    options: SubontologyOptions
    summary: dict[str, Any] = field(default_factory=dict)
    modified: str = ""

    def node_count(self) -> int:
        return _count(self.con, NODES)

    def edge_count(self) -> int:
        return _count(self.con, EDGES)

    def node_batches(self, size: int, columns: str = "*") -> Iterator[list[dict[str, Any]]]:
        """Nodes as lists of dicts, `size` at a time, ordered by cui."""
        return _batches(self.con, f"SELECT {columns} FROM {NODES} ORDER BY cui", size)

    def edge_batches(self, size: int, columns: str = "*") -> Iterator[list[dict[str, Any]]]:
        """Edges as lists of dicts, `size` at a time, ordered by (from_cui, to_cui, type)."""
        return _batches(self.con, f"SELECT {columns} FROM {EDGES} "
                        "ORDER BY from_cui, to_cui, type", size)

    def to_networkx(self, attributes: bool = True) -> Any:
        """A `networkx.DiGraph` (cui nodes; edges child -> parent), optionally with attributes."""
        import networkx as nx

        graph = nx.DiGraph(query=self.query.name)
        for batch in self.node_batches(50_000, "*" if attributes else "cui"):
            graph.add_nodes_from((row.pop("cui"), row) for row in batch)
        for batch in self.edge_batches(50_000, "*" if attributes else "from_cui, to_cui"):
            graph.add_edges_from((row.pop("from_cui"), row.pop("to_cui"), row) for row in batch)
        return graph


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


def _batches(con: duckdb.DuckDBPyConnection, sql: str,
             size: int) -> Iterator[list[dict[str, Any]]]:
    """Rows of `sql` in batches (see `umlsgraph.db.stream`)."""
    return stream(con, sql, size)


def build(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource | None = None,
          options: SelectionOptions | None = None) -> Subontology:
    """Select the query's items and their relations into temp tables; return the result."""
    items: ItemSource = source if source is not None else ConceptSource()  # type: ignore[assignment]
    options = SubontologyOptions.of(options)
    selection = select(con, query, options, items)
    used = dict(selection.summary)
    is_concepts = isinstance(items, ConceptSource)
    if is_concepts and used["closure"] != "none" and used["labelled"]:
        used["islands"] = selection.island_summary()
    if options.mentioned_in:
        used.update(_keep_mentioned(con, selection, options, is_concepts))
    ancestors = is_concepts and options.with_ancestors
    if ancestors:
        _add_ancestors(con, selection.selected_sql)
    _create_nodes(con, items, query, is_concepts, ancestors, selection)
    _create_edges(con, options, is_concepts)
    components = _components(con, options)
    sub = Subontology(con, query, items.key, options, modified=used.pop("modified"))
    sub.summary = {"query": query.name, "items": items.key, **used, **components,
                   "edges_by_type": dict(con.execute(
                       f"SELECT type, count(*) FROM {EDGES} GROUP BY type ORDER BY type"
                   ).fetchall())}
    return sub


def build_all(con: duckdb.DuckDBPyConnection, options: SelectionOptions | None = None
              ) -> Subontology:
    """Every concept of the store, with each query's predictions as attributes.

    Node columns: those of `build` (label, probability empty; selected true) plus, for each
    query with concept predictions, `<query>_label` and `<query>_probability` from ONE model:
    the one `prediction_store.resolve_model` picks for it (the most recent), as `build` does.
    Edges follow `options` (the hierarchy by default).
    """
    from umlsgraph.db.sql import identifier
    from umlsgraph.query import Query

    options = SubontologyOptions.of(options)
    if options.model is not None:  # a model id belongs to one query; never ignore the flag
        raise QueryError("--model picks one query's predictions; --all takes each query's "
                         "most recent model (export one QUERY to choose its model)")
    concepts = ConceptSource()
    concepts.check(con)
    queries = prediction_store.queries(con, concepts.key)
    chosen = [prediction_store.labels_sql(q, concepts.key, _latest_model(con, q, concepts.key))
              for q in queries]
    joins, columns = [], []
    for k, name in enumerate(queries):
        joins.append(f"LEFT JOIN ({chosen[k]}) p{k} ON p{k}.id = a.cui")
        columns.append(f"p{k}.label AS {identifier(name + '_label')}, "
                       f"p{k}.probability AS {identifier(name + '_probability')}")
    extra = "".join(", " + c for c in columns)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {NODES} AS
        SELECT a.cui, a.name, a.english, a.semantic_types, a.tuis, NULL::DOUBLE AS probability,
               NULL::VARCHAR AS label, TRUE AS selected, a.synonyms, a.definition,
               0 AS component{extra}
        FROM ({concept_attributes_sql("SELECT cui AS id FROM concepts")}) a {" ".join(joins)}
        ORDER BY a.cui""")
    _create_edges(con, options, True)
    components = _components(con, options)
    query = Query(name="all", prompt="{text}", labels={"yes": ("yes",)}, positive="yes",
                  description="Every concept of the store, with each query's predictions.")
    modified = con.execute(f"SELECT strftime(max(created_at), '%Y-%m-%d') FROM ("
                           f"{' UNION ALL '.join(chosen)})").fetchall()[0][0] if chosen else ""
    sub = Subontology(con, query, "concepts", options, modified=modified or "")
    sub.summary = {"query": "all", "items": "concepts", "selection": "all",
                   "queries": queries, "selected": components["nodes"],
                   **components,
                   "edges_by_type": dict(con.execute(
                       f"SELECT type, count(*) FROM {EDGES} GROUP BY type ORDER BY type"
                   ).fetchall())}
    return sub


def _latest_model(con: duckdb.DuckDBPyConnection, query: str, source: str) -> str:
    """The model whose predictions of `query` count: `prediction_store.resolve_model`'s."""
    model = prediction_store.resolve_model(con, query, source, None)
    assert model is not None  # required: a query listed by `queries` has predictions
    return model


# --- selection filters -------------------------------------------------------------------

def _keep_mentioned(con: duckdb.DuckDBPyConnection, selection: Selection,
                    options: SubontologyOptions, is_concepts: bool) -> dict[str, Any]:
    """Keep the selected concepts whose names occur in the corpus `options.mentioned_in`."""
    from umlsgraph.export.mentions import keep_mentioned

    if not is_concepts:
        raise QueryError("--mentioned-in filters UMLS concepts; drop --corpus")
    assert options.mentioned_in is not None
    found = keep_mentioned(con, selection.table, options.mentioned_in, options.min_mentions)
    return {**found, "selected": selection.restrict(selection.selected_sql)}


def _hierarchy_sql(where: str = "TRUE") -> str:
    """SQL of (child, parent, rel, rela, sab): every hierarchy row, oriented child -> parent."""
    return oriented_rows_sql(where)


def _add_ancestors(con: duckdb.DuckDBPyConnection, selected_sql: str) -> None:
    """Add every ancestor of a selected concept (up to the roots) as an unselected item."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE subontology_ancestors AS
        WITH RECURSIVE hier AS (SELECT DISTINCT child, parent FROM ({_hierarchy_sql()})),
        up(cui) AS (
            SELECT id FROM ({selected_sql})
            UNION
            SELECT h.parent FROM up JOIN hier h ON h.child = up.cui)
        SELECT cui AS id FROM up WHERE cui NOT IN ({selected_sql})""")


# --- nodes and edges -------------------------------------------------------------------------

def _create_nodes(con: duckdb.DuckDBPyConnection, source: ItemSource, query: Query,
                  is_concepts: bool, with_ancestors: bool, selection: Selection) -> None:
    """Temp table `subontology_nodes`: members with their attributes and scores."""
    ancestors = "UNION ALL SELECT id, FALSE FROM subontology_ancestors" if with_ancestors else ""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE subontology_members AS
        SELECT id, TRUE AS selected FROM ({selection.selected_sql}) {ancestors}""")
    if is_concepts:
        attrs = concept_attributes_sql("SELECT id FROM subontology_members")
    else:
        attrs = f"""SELECT id AS cui, text AS name, TRUE AS english,
            []::VARCHAR[] AS semantic_types, []::VARCHAR[] AS tuis, []::VARCHAR[] AS synonyms,
            NULL::VARCHAR AS definition
            FROM ({source.texts_sql(query, 'SELECT id FROM subontology_members')})"""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {NODES} AS
        SELECT a.cui, a.name, a.english, a.semantic_types, a.tuis, s.probability, s.label,
               m.selected, a.synonyms, a.definition, 0 AS component
        FROM ({attrs}) a JOIN subontology_members m ON m.id = a.cui
        LEFT JOIN ({selection.scores_sql}) s ON s.id = a.cui
        ORDER BY a.cui""")


def _create_edges(con: duckdb.DuckDBPyConnection, options: SubontologyOptions,
                  is_concepts: bool) -> None:
    empty = (f"CREATE OR REPLACE TEMP TABLE {EDGES} (from_cui VARCHAR, to_cui VARCHAR, "
             "type VARCHAR, rel VARCHAR[], rela VARCHAR[], sab VARCHAR[])")
    if not is_concepts:
        con.execute(empty)
        return
    inside = f"cui1 IN (SELECT cui FROM {NODES}) AND cui2 IN (SELECT cui FROM {NODES})"
    parts = []
    if options.hierarchy:
        parts.append(f"""SELECT child AS from_cui, parent AS to_cui, '{HIERARCHY_TYPE}' AS type,
            {_lists()} FROM ({_hierarchy_sql(inside)}) GROUP BY child, parent""")
    other = _other_filter(options)
    if other:
        parts.append(f"""SELECT cui1 AS from_cui, cui2 AS to_cui, upper(rel) AS type, {_lists()}
            FROM relations WHERE {inside} AND cui1 <> cui2 AND ({other})
            GROUP BY cui1, cui2, upper(rel)""")
    if not parts:
        con.execute(empty)
        return
    con.execute(f"CREATE OR REPLACE TEMP TABLE {EDGES} AS "
                + " UNION ALL ".join(f"({p})" for p in parts)
                + " ORDER BY from_cui, to_cui, type")


def _lists() -> str:
    def agg(col: str) -> str:
        return (f"coalesce(list(DISTINCT {col} ORDER BY {col}) FILTER "
                f"(WHERE coalesce({col}, '') <> ''), []::VARCHAR[]) AS {col}")
    return ", ".join(agg(c) for c in ("rel", "rela", "sab"))


def _other_filter(options: SubontologyOptions) -> str:
    """Rows of the extra REL/RELA types (hierarchy rows are BROADER edges unless disabled)."""
    conds = []
    if options.rels:
        conds.append(f"upper(rel) IN ({', '.join(literal(r) for r in options.rels)})")
    if options.relas:
        conds.append(f"rela IN ({', '.join(literal(r) for r in options.relas)})")
    if not conds:
        return ""
    where = " OR ".join(conds)
    return f"({where}) AND NOT {HIERARCHICAL}" if options.hierarchy else where


# --- components ------------------------------------------------------------------------------

def _components(con: duckdb.DuckDBPyConnection, options: SubontologyOptions) -> dict[str, Any]:
    """Number weakly connected components, drop the small ones, and summarise.

    Components are found with scipy's sparse-graph routine on integer ids (the row numbers of
    the cui-ordered node table): a few arrays of ints, no Python loop over rows, so the whole
    Metathesaurus fits. Numbering: by size descending, then by smallest cui.
    """
    import numpy as np
    import pyarrow as pa
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    con.execute(f"""CREATE OR REPLACE TEMP TABLE subontology_ids AS
        SELECT cui, (row_number() OVER (ORDER BY cui) - 1)::INTEGER AS i FROM {NODES}""")
    n = _count(con, "subontology_ids")
    pairs = con.execute(f"""SELECT a.i AS u, b.i AS v FROM {EDGES} e
        JOIN subontology_ids a ON a.cui = e.from_cui JOIN subontology_ids b ON b.cui = e.to_cui
        """).fetchnumpy()
    u, v = pairs["u"].astype(np.int32), pairs["v"].astype(np.int32)
    matrix = coo_matrix((np.ones(len(u), dtype=np.int8), (u, v)), shape=(n, n))
    _count_found, labels = connected_components(matrix, directed=True, connection="weak")
    sizes = np.bincount(labels) if n else np.zeros(0, dtype=np.int64)
    first = np.full(len(sizes), n, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(n))  # smallest id (= smallest cui) per component
    order = np.lexsort((first, -sizes))          # by size desc, then smallest cui
    number = np.empty(len(sizes), dtype=np.int64)
    number[order] = np.arange(1, len(sizes) + 1)
    min_size = max(options.min_component_size, 2 if options.drop_isolated else 1)
    table = pa.table({"i": pa.array(np.arange(n, dtype=np.int32)),
                      "component": pa.array(number[labels] if n else [], pa.int64()),
                      "size": pa.array(sizes[labels] if n else [], pa.int64())})
    con.register("subontology_components", table)
    con.execute(f"""UPDATE {NODES} SET component = c.component
        FROM subontology_ids s JOIN subontology_components c USING (i)
        WHERE {NODES}.cui = s.cui""")
    con.execute(f"""DELETE FROM {NODES} WHERE cui IN (SELECT s.cui FROM subontology_ids s
        JOIN subontology_components c USING (i) WHERE c.size < {int(min_size)})""")
    con.unregister("subontology_components")
    con.execute("DROP TABLE subontology_ids")
    con.execute(f"""DELETE FROM {EDGES} WHERE from_cui NOT IN (SELECT cui FROM {NODES})
                    OR to_cui NOT IN (SELECT cui FROM {NODES})""").fetchall()
    kept = sizes[sizes >= min_size]
    return {
        "nodes": _count(con, NODES),
        "ancestors_added": int(con.execute(f"SELECT count(*) FROM {NODES} WHERE NOT selected"
                                           ).fetchall()[0][0]),
        "edges": _count(con, EDGES),
        "components": int(len(kept)),
        "largest_component": int(kept.max()) if len(kept) else 0,
        "isolated": int((kept == 1).sum()),
        "dropped": int(n - kept.sum()),
    }
