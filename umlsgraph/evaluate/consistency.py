"""Where a selection contradicts the hierarchy: its islands and its holes (`umlsgraph check`).

A query that asks "is this concept an X?" selects a set that should be closed downwards: a
kind of X is an X. Two patterns break that, and each points at a label worth reviewing:

- an **island** is a selected concept none of whose parents is selected; the one that heads
  most of the selection is its **root**, not flagged (`selection.root`: one definition, which
  the `guarded` closure reads too). Every other island is flagged, however big: a second
  large subtree is what a whole organ system selected under the wrong question looks like.
  An island whose parents are all holes is not listed on its own: the hole above it explains
  it (counted as `under_holes`). A selected concept with no parent at all (outside the
  hierarchy, or one of its tops) contradicts nothing (counted as `no_parents`).
- a **hole** is an unselected concept between selected ones: at least one of its parents and
  at least one of its children are selected. (Not "every parent": in a polyhierarchy a
  concept inside what the query asks about often has a parent outside it.)

Both are found on the labels as they are (the selection before its closure); the counts
report the whole selection as export makes it (`selection.select`: labels, then the
closure), and each island says how many concepts the closure adds below it, since that is
what one wrong island costs the export.

Surprise, the order of each list (higher first), multiplies how strongly the labels disagree
by how much of the selection hangs on the disagreement. The *belief* of a concept is its
annotation where the selection uses annotations (1 for the positive category, 0 for another),
else its predicted probability of the positive category, else 0.5 (unknown):

- island: ``b × (1 − q) × log2(2 + d)``: b its belief, q the highest belief among its
  parents, d its selected descendants plus what the closure adds below it. A confident
  concept under confidently negative parents, heading a large selected subtree (a whole organ
  system under the wrong question, or what the closure would pull in below it), comes first.
- hole: ``(1 − b) × m × r × s × log2(2 + k)``: b its belief, m the lowest belief among its
  selected parents, r the share of its parents that are selected, k its selected children
  and s the share of its children they are. A confidently negative concept between confident
  parents and mostly selected children comes first.

Everything is set-based SQL on what `selection.Selection` gives (its beliefs, islands and
hierarchy, read once); only the top `limit` rows of each list reach Python. `bench/check.py`
measures it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from umlsgraph.db import connect
from umlsgraph.db.sql import unbar
from umlsgraph.errors import NotFoundError, QueryError
from umlsgraph.query import Query, load_query
from umlsgraph.selection import Selection, SelectionOptions, select

#: How many neighbours (parents, children) each row lists; the counts say how many there are.
NEIGHBOURS = 5


@dataclass(frozen=True)
class Contradictions:
    """What `check` found: counts per kind, and the top rows of each list by surprise."""

    query: str
    selection: dict[str, Any]
    counts: dict[str, int]
    roots: list[dict[str, Any]]
    islands: list[dict[str, Any]]
    holes: list[dict[str, Any]]
    #: SQL of the selected ids (valid on the connection while it is open).
    selected_sql: str = ""

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
    selection = select(con, query, options)
    summary = selection.summary
    if not summary["labelled"]:
        raise NotFoundError(f"the {options.source} of '{query.name}' select no concept"
                            f"{_by_model(summary)}; nothing to check (try a lower --threshold "
                            "or another --source)")
    _views(con, selection)
    _holes(con)
    _islands(con, selection)
    counts = _counts(con, summary)
    return Contradictions(
        query=query.name, selection=summary, counts=counts,
        roots=_island_rows(con, "is_root", None),
        islands=_island_rows(con, "NOT is_root", limit), holes=_hole_rows(con, limit),
        selected_sql=selection.selected_sql)


def flagged_sql() -> str:
    """SQL of (id, kind, surprise) of every island ('island') and hole ('hole'), roots and
    islands under holes left out; valid on the connection `find_contradictions` just ran on."""
    return ("SELECT id, 'island' AS kind, surprise FROM check_islands "
            "WHERE NOT is_root AND NOT under_hole "
            "UNION ALL SELECT id, 'hole' AS kind, surprise FROM check_holes")


def _by_model(summary: dict[str, Any]) -> str:
    return f" (model {summary['model']})" if summary.get("model") else ""


# --- the tables, each one set-based statement ---------------------------------------------

def _views(con: duckdb.DuckDBPyConnection, selection: Selection) -> None:
    """Temp views `check_scores` (every scored item's belief), `check_edges` (the whole
    hierarchy) and `check_up` (every labelled-selected concept's parents), from the selection."""
    edges, up = selection.labelled_edges()
    con.execute(f"CREATE OR REPLACE TEMP VIEW check_scores AS {selection.belief_sql()}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW check_edges AS SELECT * FROM {edges}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW check_up AS SELECT * FROM {up}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW check_labelled AS {selection.labelled_sql}")


def _holes(con: duckdb.DuckDBPyConnection) -> None:
    """Temp tables `check_hole_up` (the candidates' parents) and `check_holes` (scored)."""
    con.execute("""CREATE OR REPLACE TEMP TABLE check_candidates AS
        SELECT DISTINCT parent AS id FROM check_up WHERE NOT parent_selected""")
    con.execute("""CREATE OR REPLACE TEMP TABLE check_hole_up AS
        SELECT e.child, e.parent, s.id IS NOT NULL AS parent_selected
        FROM check_edges e LEFT JOIN check_labelled s ON s.id = e.parent
        WHERE e.child IN (SELECT id FROM check_candidates)""")
    con.execute("""CREATE OR REPLACE TEMP TABLE check_holes AS
        WITH h AS (SELECT child AS id,
                          min(coalesce(b.belief, 0.5)) FILTER (WHERE parent_selected)
                              AS parent_belief,
                          count(*) AS n_parents,
                          count(*) FILTER (WHERE parent_selected) AS n_selected_parents
                   FROM check_hole_up LEFT JOIN check_scores b ON b.id = parent
                   GROUP BY child HAVING bool_or(parent_selected)),
        kids AS (SELECT parent AS id, count(*) AS n_selected_children FROM check_up
                 WHERE parent IN (SELECT id FROM h) GROUP BY parent),
        every AS (SELECT parent AS id, count(*) AS n_children FROM check_edges
                  WHERE parent IN (SELECT id FROM h) GROUP BY parent)
        SELECT h.id, h.n_parents, h.n_selected_parents, k.n_selected_children, e.n_children,
               (1 - coalesce(b.belief, 0.5)) * h.parent_belief
                 * h.n_selected_parents / h.n_parents
                 * k.n_selected_children / e.n_children
                 * log2(2 + k.n_selected_children) AS surprise
        FROM h JOIN kids k USING (id) JOIN every e USING (id)
        LEFT JOIN check_scores b ON b.id = h.id""")


def _islands(con: duckdb.DuckDBPyConnection, selection: Selection) -> None:
    """Temp table `check_islands`: the selection's islands (`selection.root`), each with what
    the closure adds below it, scored; `under_hole` where every parent is a hole."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE check_islands AS
        WITH i AS ({selection.islands_sql()}),
        holed AS (SELECT u.child AS id, bool_and(h.id IS NOT NULL) AS under_hole
                  FROM check_up u LEFT JOIN check_holes h ON h.id = u.parent
                  WHERE u.child IN (SELECT id FROM i) GROUP BY u.child)
        SELECT i.id, i.n_parents, i.descendants, i.closure_adds, i.is_root,
               coalesce(h.under_hole, FALSE) AND NOT i.is_root AS under_hole,
               coalesce(b.belief, 0.5) * (1 - i.parent_belief)
                 * log2(2 + i.descendants + i.closure_adds) AS surprise
        FROM i LEFT JOIN holed h USING (id) LEFT JOIN check_scores b USING (id)""")


def _counts(con: duckdb.DuckDBPyConnection, summary: dict[str, Any]) -> dict[str, int]:
    row = con.execute("""SELECT
        (SELECT count(*) FROM check_islands WHERE NOT is_root AND NOT under_hole),
        (SELECT count(*) FROM check_holes),
        (SELECT count(*) FROM check_islands WHERE is_root),
        (SELECT count(*) FROM check_islands WHERE under_hole),
        (SELECT count(*) FROM check_labelled WHERE id NOT IN (SELECT child FROM check_up))
        """).fetchone()
    assert row is not None
    keys = ("islands", "holes", "roots", "under_holes", "no_parents")
    return {"selected": int(summary["selected"]), "labelled": int(summary["labelled"]),
            "closure_added": int(summary["descendants_added"]),
            **dict(zip(keys, (int(v) for v in row), strict=True))}


# --- the rows that reach Python --------------------------------------------------------------

def _neighbours(edges: str, key: str, other: str, rows: str) -> str:
    """SQL of (id, list, count): the `other` ends of `edges` whose `key` end is in `rows`,
    the most believed first, at most NEIGHBOURS of them, each {cui, name, probability}."""
    return f"""SELECT e.{key} AS id, count(*) AS n, list({{'cui': e.{other},
            'name': {unbar('c.name')}, 'probability': round(b.probability, 4)}}
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
    SELECT t.id AS cui, {unbar('c.name')} AS name,
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
    return _rows(con, "check_islands", f"({where}) AND NOT under_hole", limit,
                 "t.descendants AS selected_descendants, t.closure_adds, t.n_parents",
                 "unselected_parents", "check_up")


def _hole_rows(con: duckdb.DuckDBPyConnection, limit: int | None) -> list[dict[str, Any]]:
    """Holes: their (selected) parents and selected children."""
    return _rows(con, "check_holes", "TRUE", limit,
                 "t.n_parents, t.n_selected_parents, t.n_children, t.n_selected_children",
                 "selected_parents", "(SELECT * FROM check_hole_up WHERE parent_selected)")


# --- rows as text (the CLI's and the report's "why" column) ------------------------------------

def explain_island(row: dict[str, Any]) -> str:
    """Why an island row is suspicious, in one line."""
    below, adds = row["selected_descendants"], row["closure_adds"]
    return (f"parents not selected: {_names(row['unselected_parents'])}"
            + (f"; {below:,} selected below it" if below else "")
            + (f"; the closure adds {adds:,} more below it" if adds else ""))


def explain_hole(row: dict[str, Any]) -> str:
    """Why a hole row is suspicious, in one line."""
    parents = (f"{row['n_selected_parents']:,} of {row['n_parents']:,} parents selected"
               if row["n_selected_parents"] < row["n_parents"] else "parents selected")
    return (f"{parents}: {_names(row['selected_parents'])}; "
            f"{row['n_selected_children']:,} of {row['n_children']:,} children selected: "
            f"{_names(row['selected_children'])}")


def probability(value: float | None) -> str:
    """A probability as the rows print it ('?' where none was predicted)."""
    return "?" if value is None else f"{value:.2f}"


def _names(neighbours: list[dict[str, Any]], shown: int = 3) -> str:
    """`name (0.12); …` for the first `shown` neighbours."""
    text = "; ".join(f"{n['name']} ({probability(n['probability'])})" for n in neighbours[:shown])
    return text + ("; …" if len(neighbours) > shown else "")
