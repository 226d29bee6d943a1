"""The DuckDB contract: connection, the schema of every table, and the queries each table needs.

No pipeline step opens its own connection or writes its own DDL: they come here.
"""

from umlsgraph.db.connection import (
    PREFERRED_ATOM_ORDER,
    SUPPRESSIBLE,
    require_tables,
    stream,
    table_exists,
    transaction,
)
from umlsgraph.db.versioned import connect, ensure

__all__ = ["PREFERRED_ATOM_ORDER", "SUPPRESSIBLE", "connect", "ensure", "require_tables",
           "stream", "table_exists", "transaction"]
