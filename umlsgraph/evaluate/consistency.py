"""Where a selection contradicts the hierarchy: its islands and its holes (`umlsgraph check`).

A query that asks "is this concept an X?" selects a set that should be closed downwards: a
kind of X is an X. Two patterns break that, and each points at a label worth reviewing:

- an **island** is a selected concept none of whose parents is selected. One of them is
  expected: the top of what the query asks for. The island that carries the most selected
  descendants (through selected concepts; the first by cui among equals) is reported as the
  selection's **root**, not flagged, when they are at least `ROOT_SHARE` of the selection (a
  sparse selection of lone concepts, such as an annotated sample, has no root); a selection
  that is exactly a subtree has one root and no island. Every other
  island is flagged, however big: a second large subtree is what a whole organ system
  selected under the wrong question looks like (a query with two true tops sees the smaller
  one flagged, and the reviewer confirms it once). An island whose parents are all holes
  is not listed on its own: the hole above it explains it (counted as `under_holes`). A
  selected concept with no parent at all (outside the hierarchy, or one of its tops)
  contradicts nothing (counted as `no_parents`).
- a **hole** is an unselected concept all of whose parents are selected (it has at least one)
  and at least one of whose children is selected.

`check` reads the labels as they are (`closure="none"`): export's closure selects descendants
of selected concepts, so it fills the holes this lists below the concepts its rule lets pass
their selection down (every one under `--closure all`).

Surprise, the order of each list (higher first), multiplies how strongly the labels disagree
by how much of the selection hangs on the disagreement. The *belief* of a concept is its
annotation where the selection uses annotations (1 for the positive category, 0 for another),
else its predicted probability of the positive category, else 0.5 (unknown):

- island: ``b × (1 − q) × log2(2 + d)``: b its belief, q the highest belief among its
  parents, d its selected descendants. A confident concept under confidently negative parents,
  heading a large selected subtree (a whole organ system under the wrong question), comes first.
- hole: ``(1 − b) × m × s × log2(2 + k)``: b its belief, m the lowest belief among its
  (selected) parents, k its selected children and s the share of its children they are. A
  confidently negative concept between confident parents and mostly selected children comes
  first.

Everything is set-based SQL on the selection's temp tables (`export.selection.select`) and
the one hierarchy rule (`db.hierarchy.edges_sql`, read once); only the top `limit` rows of
each list reach Python. `bench/check.py` measures it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb

from umlsgraph.db import connect
from umlsgraph.db.hierarchy import edges_sql
from umlsgraph.db.sql import literal
from umlsgraph.errors import NotFoundError, QueryError
from umlsgraph.export.selection import SelectionOptions, select
from umlsgraph.query import Query, load_query

#: The island with the most selected descendants is the selection's root when they are at
#: least this share of the selection (a sparse selection of lone concepts has no root).
ROOT_SHARE = 0.1
#: How many neighbours (parents, children) each row lists; the counts say how many there are.
NEIGHBOURS = 5
SELECTED = "subontology_selected"


@dataclass(frozen=True)
class Contradictions:
    """What `check` found: counts per kind, and the top rows of each list by surprise."""

    query: str
    selection: dict[str, Any]
    counts: dict[str, int]
    roots: list[dict[str, Any]]
    islands: list[dict[str, Any]]
    holes: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"query": self.query, "selection": self.selection, "counts": self.counts,
                "roots": self.roots, "islands": self.islands, "holes": self.holes}


def check(db: str | Path, query: str | Path | Query, options: SelectionOptions | None = None,
          limit: int | None = 20) -> Contradictions:
    """Open the store read-only and find where `query`'s selection contradicts the hierarchy."""
    q = query if isinstance(query, Query) else load_query(query)
    con = connect(db, read_only=True)
    try:
        return find_contradictions(con, q, options, limit)
    finally:
        con.close()


def find_contradictions(con: duckdb.DuckDBPyConnection, query: Query,
                        options: SelectionOptions | None = None,
                        limit: int | None = 20) -> Contradictions:
    """Islands and holes of the selection `options` makes (see the module docstring).

    `limit` caps each list (None: all); the counts are always complete."""
    options = options or SelectionOptions()
    if limit is not None and limit < 0:
        raise QueryError(f"--limit must be 0 or more, got {limit}")
    # The labels as they are: export's closure fills (some of) these holes.
    summary = select(con, query, replace(options, closure="none"))
    if not summary["selected"]:
        raise NotFoundError(f"the {options.source} of '{query.name}' select no concept"
                            f"{_by_model(summary)}; nothing to check (try a lower --threshold "
                            "or another --source)")
    _beliefs(con, query, options.source)
    _parent_edges(con)
    _holes(con)
    _islands(con)
    counts = _counts(con)
    return Contradictions(
        query=query.name, selection=summary, counts=counts,
        roots=_island_rows(con, "is_root", None),
        islands=_island_rows(con, "NOT is_root", limit), holes=_hole_rows(con, limit))


def flagged_sql() -> str:
    """SQL of (id, kind, surprise) of every island ('island') and hole ('hole'), roots and
    islands under holes left out; valid on the connection `find_contradictions` just ran on."""
    return ("SELECT id, 'island' AS kind, surprise FROM check_islands WHERE NOT is_root "
            "UNION ALL SELECT id, 'hole' AS kind, surprise FROM check_holes")


def _by_model(summary: dict[str, Any]) -> str:
    return f" (model {summary['model']})" if summary.get("model") else ""


# --- the tables, each one set-based statement ---------------------------------------------

def _beliefs(con: duckdb.DuckDBPyConnection, query: Query, source: str) -> None:
    """Temp table `check_scores(id, probability, annotation, belief)` of every scored item."""
    uses = "TRUE" if source != "predictions" else "FALSE"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE check_scores AS
        SELECT id, probability, annotated AS annotation,
               CASE WHEN {uses} AND annotated IS NOT NULL
                    THEN (annotated = {literal(query.positive)})::DOUBLE
                    ELSE coalesce(probability, 0.5) END AS belief
        FROM subontology_scores""")


def _parent_edges(con: duckdb.DuckDBPyConnection) -> None:
    """Temp tables `check_edges(child, parent)`, the whole hierarchy read in one scan of
    `relations` (cheaper than one filtered scan per question below), and `check_up(child,
    parent, parent_selected)`: every selected concept's parents."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE check_edges AS {edges_sql()}")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE check_up AS
        SELECT e.child, e.parent, s.id IS NOT NULL AS parent_selected
        FROM check_edges e LEFT JOIN {SELECTED} s ON s.id = e.parent
        WHERE e.child IN (SELECT id FROM {SELECTED})""")


def _holes(con: duckdb.DuckDBPyConnection) -> None:
    """Temp tables `check_hole_up` (the candidates' parents) and `check_holes` (scored)."""
    con.execute("""CREATE OR REPLACE TEMP TABLE check_candidates AS
        SELECT DISTINCT parent AS id FROM check_up WHERE NOT parent_selected""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE check_hole_up AS
        SELECT e.child, e.parent, s.id IS NOT NULL AS parent_selected
        FROM check_edges e LEFT JOIN {SELECTED} s ON s.id = e.parent
        WHERE e.child IN (SELECT id FROM check_candidates)""")
    con.execute("""CREATE OR REPLACE TEMP TABLE check_holes AS
        WITH h AS (SELECT child AS id, min(coalesce(b.belief, 0.5)) AS parent_belief,
                          count(*) AS n_parents
                   FROM check_hole_up LEFT JOIN check_scores b ON b.id = parent
                   GROUP BY child HAVING bool_and(parent_selected)),
        kids AS (SELECT parent AS id, count(*) AS n_selected_children FROM check_up
                 WHERE parent IN (SELECT id FROM h) GROUP BY parent),
        every AS (SELECT parent AS id, count(*) AS n_children FROM check_edges
                  WHERE parent IN (SELECT id FROM h) GROUP BY parent)
        SELECT h.id, h.n_parents, k.n_selected_children, e.n_children,
               (1 - coalesce(b.belief, 0.5)) * h.parent_belief
                 * k.n_selected_children / e.n_children
                 * log2(2 + k.n_selected_children) AS surprise
        FROM h JOIN kids k USING (id) JOIN every e USING (id)
        LEFT JOIN check_scores b ON b.id = h.id""")


def _islands(con: duckdb.DuckDBPyConnection) -> None:
    """Temp table `check_islands`: the islands not explained by a hole, scored, roots marked."""
    con.execute("""CREATE OR REPLACE TEMP TABLE check_island_parents AS
        SELECT u.child AS id, count(*) AS n_parents,
               max(coalesce(b.belief, 0.5)) AS parent_belief,
               bool_and(h.id IS NOT NULL) AS under_hole
        FROM check_up u LEFT JOIN check_scores b ON b.id = u.parent
        LEFT JOIN check_holes h ON h.id = u.parent
        GROUP BY u.child HAVING NOT bool_or(u.parent_selected)""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE check_islands AS
        WITH RECURSIVE i AS (SELECT * FROM check_island_parents WHERE NOT under_hole),
        down(island, cui) AS (
            SELECT id, id FROM i
            UNION
            SELECT d.island, u.child FROM down d
            JOIN check_up u ON u.parent = d.cui AND u.parent_selected),
        sizes AS (SELECT island AS id, count(*) - 1 AS descendants FROM down GROUP BY island),
        scored AS (
            SELECT i.id, i.n_parents, s.descendants,
                   coalesce(b.belief, 0.5) * (1 - i.parent_belief)
                     * log2(2 + s.descendants) AS surprise
            FROM i JOIN sizes s USING (id) LEFT JOIN check_scores b ON b.id = i.id)
        SELECT *, row_number() OVER (ORDER BY descendants DESC, id) = 1
                  AND descendants >= ? * (SELECT count(*) FROM {SELECTED}) AS is_root
        FROM scored""", [ROOT_SHARE])


def _counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    row = con.execute(f"""SELECT
        (SELECT count(*) FROM {SELECTED}),
        (SELECT count(*) FROM check_islands WHERE NOT is_root),
        (SELECT count(*) FROM check_holes),
        (SELECT count(*) FROM check_islands WHERE is_root),
        (SELECT count(*) FROM check_island_parents WHERE under_hole),
        (SELECT count(*) FROM {SELECTED} WHERE id NOT IN (SELECT child FROM check_up))
        """).fetchone()
    assert row is not None
    keys = ("selected", "islands", "holes", "roots", "under_holes", "no_parents")
    return dict(zip(keys, (int(v) for v in row), strict=True))


# --- the rows that reach Python --------------------------------------------------------------

def _neighbours(edges: str, key: str, other: str, rows: str) -> str:
    """SQL of (id, list, count): the `other` ends of `edges` whose `key` end is in `rows`,
    the most believed first, at most NEIGHBOURS of them, each {cui, name, probability}."""
    return f"""SELECT e.{key} AS id, count(*) AS n, list({{'cui': e.{other},
            'name': replace(c.name, '&#x7C;', '|'), 'probability': round(b.probability, 4)}}
            ORDER BY coalesce(b.belief, 0.5) DESC, e.{other})[1:{NEIGHBOURS}] AS list
        FROM {edges} e JOIN concepts c ON c.cui = e.{other}
        LEFT JOIN check_scores b ON b.id = e.{other}
        WHERE e.{key} IN (SELECT id FROM {rows}) GROUP BY e.{key}"""


def _rows(con: duckdb.DuckDBPyConnection, table: str, where: str, limit: int | None,
          columns: str, parents: str, parent_edges: str) -> list[dict[str, Any]]:
    """The top rows of `table` by surprise with names, scores and neighbours, as dicts."""
    cap = f"LIMIT {int(limit)}" if limit is not None else ""
    sql = f"""
    WITH top AS (SELECT * FROM {table} WHERE {where} ORDER BY surprise DESC, id {cap}),
    par AS ({_neighbours(parent_edges, "child", "parent", "top")}),
    kids AS ({_neighbours("check_up", "parent", "child", "top")})
    SELECT t.id AS cui, replace(c.name, '&#x7C;', '|') AS name,
           round(b.probability, 4) AS probability, b.annotation,
           round(t.surprise, 4) AS surprise, {columns},
           coalesce(par.list, []) AS {parents}, coalesce(kids.list, []) AS selected_children
    FROM top t JOIN concepts c ON c.cui = t.id LEFT JOIN check_scores b ON b.id = t.id
    LEFT JOIN par ON par.id = t.id LEFT JOIN kids ON kids.id = t.id
    ORDER BY t.surprise DESC, t.id"""
    result = con.execute(sql)
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _island_rows(con: duckdb.DuckDBPyConnection, where: str,
                 limit: int | None) -> list[dict[str, Any]]:
    """Islands: their (unselected) parents and selected children."""
    return _rows(con, "check_islands", where, limit,
                 "t.descendants AS selected_descendants, t.n_parents",
                 "unselected_parents", "check_up")


def _hole_rows(con: duckdb.DuckDBPyConnection, limit: int | None) -> list[dict[str, Any]]:
    """Holes: their (selected) parents and selected children."""
    return _rows(con, "check_holes", "TRUE", limit,
                 "t.n_parents, t.n_children, t.n_selected_children",
                 "selected_parents", "check_hole_up")


# --- rows as text (the CLI's and the report's "why" column) ------------------------------------

def explain_island(row: dict[str, Any]) -> str:
    """Why an island row is suspicious, in one line."""
    below = row["selected_descendants"]
    return (f"parents not selected: {_names(row['unselected_parents'])}"
            + (f"; {below:,} selected below it" if below else ""))


def explain_hole(row: dict[str, Any]) -> str:
    """Why a hole row is suspicious, in one line."""
    return (f"parents selected: {_names(row['selected_parents'])}; "
            f"{row['n_selected_children']:,} of {row['n_children']:,} children selected: "
            f"{_names(row['selected_children'])}")


def probability(value: float | None) -> str:
    """A probability as the rows print it ('?' where none was predicted)."""
    return "?" if value is None else f"{value:.2f}"


def _names(neighbours: list[dict[str, Any]], shown: int = 3) -> str:
    """`name (0.12); …` for the first `shown` neighbours."""
    text = "; ".join(f"{n['name']} ({probability(n['probability'])})" for n in neighbours[:shown])
    return text + ("; …" if len(neighbours) > shown else "")
