"""Islands and the selection's root: one definition, read by the closure and by `check`.

A query that asks "is this concept an X?" selects a set that should be closed downwards.
An **island** is a selected concept that has parents, none of them selected (over every
hierarchy parent, `db.hierarchy.edges_sql`). One island is expected: the top of what the
query asks for. The **root** of the selection is the island with the most selected
descendants (through selected concepts; the first by id among equals), when they are at
least `ROOT_SHARE` of the selection: a sparse selection of lone concepts (an annotated
sample) has no root. Every other island is a contradiction (`check` lists it), and a
**suspicious** island, one whose parents the labels believe at most 0.2
(`closure.SUSPICIOUS_PARENT`), passes nothing down under the `guarded` closure: a confidently
wrong island would otherwise pull its whole branch in.

The *belief* of a concept is its annotation where the selection reads annotations (1 for the
positive category, 0 for another), else its predicted probability of the positive category,
else 0.5 (unknown). Everything is set-based SQL on the labelled selection (before the closure).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from umlsgraph.db.sql import literal
from umlsgraph.selection.tables import BELIEFS, EDGES, ISLANDS, LABELLED, SCORES, UP

if TYPE_CHECKING:
    import duckdb

#: The island with the most selected descendants is the selection's root when they are at
#: least this share of the selection (a sparse selection of lone concepts has no root).
ROOT_SHARE = 0.1


def create_beliefs(con: duckdb.DuckDBPyConnection, positive: str, uses_annotations: bool
                   ) -> None:
    """Temp table `BELIEFS(id, probability, annotation, belief)` of every scored item."""
    uses = "TRUE" if uses_annotations else "FALSE"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {BELIEFS} AS
        SELECT id, probability, annotated AS annotation,
               CASE WHEN {uses} AND annotated IS NOT NULL
                    THEN (annotated = {literal(positive)})::DOUBLE
                    ELSE coalesce(probability, 0.5) END AS belief
        FROM {SCORES}""")


def create_islands(con: duckdb.DuckDBPyConnection) -> None:
    """Temp tables `EDGES` (the whole hierarchy, one scan of `relations`), `UP` (every
    labelled-selected concept's parents) and `ISLANDS` (scored, the root marked), from the
    labelled selection `LABELLED` and `BELIEFS`."""
    from umlsgraph.db.hierarchy import edges_sql

    con.execute(f"CREATE OR REPLACE TEMP TABLE {EDGES} AS {edges_sql()}")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {UP} AS
        SELECT e.child, e.parent, s.id IS NOT NULL AS parent_selected
        FROM {EDGES} e LEFT JOIN {LABELLED} s ON s.id = e.parent
        WHERE e.child IN (SELECT id FROM {LABELLED})""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {ISLANDS} AS
        WITH RECURSIVE i AS (
            SELECT u.child AS id, count(*) AS n_parents,
                   max(coalesce(b.belief, 0.5)) AS parent_belief
            FROM {UP} u LEFT JOIN {BELIEFS} b ON b.id = u.parent
            GROUP BY u.child HAVING NOT bool_or(u.parent_selected)),
        down(island, id) AS (
            SELECT id, id FROM i
            UNION
            SELECT d.island, u.child FROM down d
            JOIN {UP} u ON u.parent = d.id AND u.parent_selected),
        sizes AS (SELECT island AS id, count(*) - 1 AS descendants FROM down GROUP BY island)
        SELECT i.id, i.n_parents, i.parent_belief, s.descendants,
               row_number() OVER (ORDER BY s.descendants DESC, i.id) = 1
               AND s.descendants >= ? * (SELECT count(*) FROM {LABELLED}) AS is_root
        FROM i JOIN sizes s USING (id)""", [ROOT_SHARE])


def trusted_sql(suspicious_parent: float) -> str:
    """SQL of the labelled-selected concepts not below a suspicious island: those reached,
    through selected concepts, from a selected concept with no selected parent that is not a
    suspicious island (the root, the tops of the hierarchy, islands whose parents the labels
    believe more than `suspicious_parent`). Valid after `create_islands`."""
    return f"""WITH RECURSIVE starts AS (
            SELECT id FROM {LABELLED} WHERE id NOT IN (SELECT child FROM {UP})
            UNION
            SELECT id FROM {ISLANDS}
            WHERE is_root OR parent_belief > {float(suspicious_parent)!r}),
        down(id) AS (
            SELECT id FROM starts
            UNION
            SELECT u.child FROM down d JOIN {UP} u ON u.parent = d.id AND u.parent_selected)
        SELECT id FROM down"""
