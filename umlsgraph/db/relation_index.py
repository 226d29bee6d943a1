"""The relations sorted for point lookups, so the neighbours of one concept are cheap.

MRREL arrives sorted by CUI1, and a store is read-only to its readers, so "the parents of X"
or "what X is related to" must also read the rows whose CUI2 is X: a scan of every relation
row (56M at full size) per lookup. Two tables fix that, each sorted by its first column so a
lookup of one concept reads one row group through DuckDB's min/max statistics:

- ``hierarchy_index(node, other, up)``: every distinct hierarchy edge of
  `umlsgraph.db.hierarchy.edges_sql` twice, child -> parent (``up``) and parent -> child;
- ``relation_index(cui2, rel, rela, cui1)``: the other relation rows, distinct, by CUI2.

Like the name index (`umlsgraph.db.search`) they are built on first use, stamped with the
release's ``loaded_at`` and the relations count, and rebuilt after a reload.
"""

from __future__ import annotations

import duckdb

from umlsgraph.db import schema, stamp
from umlsgraph.db.connection import transaction

TABLE = schema.HIERARCHY_INDEX
RELATIONS = schema.RELATION_INDEX
STAMP = schema.RELATION_INDEX_STAMP


def is_fresh(con: duckdb.DuckDBPyConnection) -> bool:
    """True when both tables exist and were built from the relations the store holds now."""
    return stamp.is_current(con, STAMP, "relations", TABLE, RELATIONS)


def build(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)build both tables in one transaction (two passes over `relations`, two sorts)."""
    with transaction(con):
        schema.rebuild(con, TABLE)
        schema.rebuild(con, RELATIONS)
        stamp.write(con, STAMP, "relations")
