"""The `release` table: what was loaded, when and how, as key/value rows.

Keys: ``path`` (the release folder, or the OBO file it was converted from), ``loaded_at``,
``files`` and ``options`` (JSON). The loader writes it into each new file; `run` reads it to
skip a load already done, and the search index and mention counts stamp themselves with
``loaded_at``. Every read and write of the table is here.
"""

from __future__ import annotations

import duckdb

from umlsgraph.db.connection import table_exists, transaction

TABLE = "release"


def write(con: duckdb.DuckDBPyConnection, values: dict[str, str]) -> None:
    """Create the table in a freshly loaded file and store `values`."""
    con.execute(f"CREATE TABLE {TABLE} (key VARCHAR, value VARCHAR)")
    con.executemany(f"INSERT INTO {TABLE} VALUES (?, ?)", list(values.items()))


def info(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Every key and value; empty when nothing was loaded (no table)."""
    if not table_exists(con, TABLE):
        return {}
    return dict(con.execute(f"SELECT key, value FROM {TABLE}").fetchall())


def loaded_at(con: duckdb.DuckDBPyConnection) -> str | None:
    """When the release was loaded; None when nothing was."""
    return info(con).get("loaded_at")


def set_value(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    """Replace one key's value (e.g. `path`: the ontology a temporary release came from)."""
    with transaction(con):
        con.execute(f"DELETE FROM {TABLE} WHERE key = ?", [key])
        con.execute(f"INSERT INTO {TABLE} VALUES (?, ?)", [key, value])
