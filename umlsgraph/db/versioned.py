"""Opening a store at this program's schema version, and creating its tables in that shape.

The version-aware layer of `db/`: below it, `connection.py` opens files and runs
transactions, `schema.py` holds the DDL and `migrations.py` upgrades; every caller that opens
a store for pipeline work, or creates one of its tables, comes through here so the recorded
version and the tables' shape always agree.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from umlsgraph.db import migrations, schema
from umlsgraph.db.connection import open_file


def connect(db: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open an existing store; a missing file is a user error, not a new empty database.

    Opened for writing, an older store is upgraded in place (one transaction); opened
    read-only, it is only checked (never written). Either way a store newer than this
    program is a one-line StoreError.
    """
    con = open_file(db, read_only)
    try:
        if read_only:
            migrations.check_readable(con, db)
        else:
            migrations.upgrade(con, db)
    except BaseException:
        con.close()
        raise
    return con


def ensure(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Create `table` if the store does not have it yet.

    The store is first brought to the current version (`migrations.upgrade`), or stamped
    with it when this is its first umlsgraph table, so the table's shape and the recorded
    version agree. Call it outside a transaction.
    """
    migrations.upgrade(con)
    migrations.stamp(con)
    con.execute(schema.DDL[table])
