"""The DuckDB contract: connection, the schema of every table, and the queries each table needs.

No pipeline step opens its own connection or writes its own DDL: they come here.
"""

from umlsgraph.db.connection import (
    SUPPRESSIBLE,
    connect,
    require_tables,
    stream,
    table_exists,
    transaction,
)

__all__ = ["SUPPRESSIBLE", "connect", "require_tables", "stream", "table_exists", "transaction"]
