"""The one hierarchy rule: which `relations` rows say "child is a kind of parent", and which way.

MRREL's REL is the relation of CUI2 to CUI1. A row with ``rel='PAR'`` makes cui1 the child of
cui2, ``rel='CHD'`` makes cui2 the child of cui1. Rows of any other REL (RB, RN, RO, ...) count
by their RELA: ``inverse_isa`` reads like PAR, ``isa`` like CHD, since several sources state
their is-a links that way. Every reader of the hierarchy (the encoder's concept text, gold
subtrees, the subontology's edges, `concept`, the review page, `check`, the OBO/OWL writers,
the OAK adapter) builds on the SQL here, so "parent" means one thing everywhere.
"""

from __future__ import annotations

#: SQL predicates on a `relations` row: which rows state a hierarchy, and in which direction.
CHILD_IS_CUI1 = "(rel = 'PAR' OR (rel NOT IN ('PAR', 'CHD') AND rela = 'inverse_isa'))"
CHILD_IS_CUI2 = "(rel = 'CHD' OR (rel NOT IN ('PAR', 'CHD') AND rela = 'isa'))"
HIERARCHICAL = f"({CHILD_IS_CUI1} OR {CHILD_IS_CUI2})"


def oriented_rows_sql(where: str = "TRUE", columns: str = "rel, rela, sab") -> str:
    """SQL of (child, parent, <columns>): every hierarchy row, oriented child -> parent.

    One row per MRREL row (several sources stating one pair give several rows); `where` is a
    further predicate on the raw `relations` row, `columns` any of its other columns."""
    extra = f", {columns}" if columns else ""
    return f"""
        SELECT CASE WHEN {CHILD_IS_CUI1} THEN cui1 ELSE cui2 END AS child,
               CASE WHEN {CHILD_IS_CUI1} THEN cui2 ELSE cui1 END AS parent{extra}
        FROM relations WHERE {HIERARCHICAL} AND cui1 <> cui2 AND ({where})"""


def edges_sql() -> str:
    """SQL of distinct (child, parent) pairs over the whole store."""
    return f"SELECT DISTINCT child, parent FROM ({oriented_rows_sql(columns='')})"


def parent_edges_sql(children_sql: str) -> str:
    """Distinct (child, parent) pairs of the children that `children_sql` (one column) selects
    (`parent_rows_sql` without the source, each pair once)."""
    return f"SELECT DISTINCT child, parent FROM ({parent_rows_sql(children_sql)})"


def parent_rows_sql(children_sql: str) -> str:
    """(child, parent, sab) of the children that `children_sql` (one column) selects: one row
    per MRREL row, so a pair several sources state comes once per source.

    Written as two index-friendly halves rather than one CASE so DuckDB can push the
    `IN (children)` filter onto the stored column of each direction."""
    return (f"SELECT cui1 AS child, cui2 AS parent, sab FROM relations WHERE {CHILD_IS_CUI1} "
            f"AND cui1 <> cui2 AND cui1 IN ({children_sql}) "
            f"UNION ALL SELECT cui2, cui1, sab FROM relations WHERE {CHILD_IS_CUI2} "
            f"AND cui1 <> cui2 AND cui2 IN ({children_sql})")


def child_edges_sql(parents_sql: str) -> str:
    """Distinct (child, parent) pairs whose parent `parents_sql` (one column) selects."""
    return (f"SELECT cui1 AS child, cui2 AS parent FROM relations WHERE {CHILD_IS_CUI1} "
            f"AND cui1 <> cui2 AND cui2 IN ({parents_sql}) "
            f"UNION SELECT cui2, cui1 FROM relations WHERE {CHILD_IS_CUI2} "
            f"AND cui1 <> cui2 AND cui1 IN ({parents_sql})")


def descendants_sql(root_sql: str = "?") -> str:
    """SQL of column `cui`: the root (a parameter or a literal) and every concept below it."""
    return f"""
        WITH RECURSIVE edges AS ({edges_sql()}),
        sub(cui) AS (
            SELECT {root_sql}
            UNION
            SELECT e.child FROM edges e JOIN sub ON e.parent = sub.cui)
        SELECT cui FROM sub"""
