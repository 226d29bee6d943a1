"""Derived tables (indexes) and the stamp that says which release they were built from.

An index built on first use (the name index, the relation indexes) records in a one-row
stamp table the release's ``loaded_at`` and the row count of the table it was built from; a
reload (new ``loaded_at``) or a changed source table makes the stamp stale and the index is
rebuilt. One rule for every such index, so they all go stale together.
"""

from __future__ import annotations

import duckdb

from umlsgraph.db import schema
from umlsgraph.db.connection import table_exists


def release_stamp(con: duckdb.DuckDBPyConnection, source: str) -> str:
    """What an index of `source` (a constant table name) would be built from now."""
    loaded = ""
    if table_exists(con, "release"):
        row = con.execute("SELECT value FROM release WHERE key = 'loaded_at'").fetchall()
        loaded = row[0][0] if row else ""
    rows = con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
    return f"{loaded}|{rows}"


def is_current(con: duckdb.DuckDBPyConnection, stamp_table: str, source: str,
               *tables: str) -> bool:
    """True when `tables` and `stamp_table` exist and the stamp matches `source` now."""
    if not all(table_exists(con, t) for t in (*tables, stamp_table)):
        return False
    row = con.execute(f"SELECT stamp FROM {stamp_table}").fetchall()
    return bool(row) and row[0][0] == release_stamp(con, source)


def write(con: duckdb.DuckDBPyConnection, stamp_table: str, source: str) -> None:
    """Record that the index was just built from `source` (inside the build's transaction)."""
    schema.rebuild(con, stamp_table)
    con.execute(f"INSERT INTO {stamp_table} VALUES (?)", [release_stamp(con, source)])
