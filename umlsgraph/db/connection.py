"""The one way into the DuckDB store: open it, check its tables, run a transaction.

Every step opens the database through `connect` (a missing or non-DuckDB file is a user
error naming the path; an older store is upgraded, one newer than this program refused: see
`umlsgraph.db.migrations`), checks what it needs with `require_tables`/`table_exists`, and
groups writes with `transaction` so a failure leaves nothing half-written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from umlsgraph.errors import StoreError, describe_duckdb_error, describe_os_error

SUPPRESSIBLE = ("O", "E", "Y")
#: ORDER BY over `names` rows that puts a concept's preferred atom first: English, then
#: MRCONSO's TS=P, STT=PF, ISPREF=Y (which follow MRRANK), then the AUI for a stable tie.
PREFERRED_ATOM_ORDER = "(lat <> 'ENG'), (ts <> 'P'), (stt <> 'PF'), (ispref <> 'Y'), aui"


#: Bytes 8-11 of every DuckDB database file; SQLite files start with their own header.
DUCKDB_MAGIC = b"DUCK"
SQLITE_MAGIC = b"SQLite format 3\x00"


def open_file(db: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """The existing DuckDB file at `db`, as it is (`connect` without the version check)."""
    path = Path(db)
    check_database_file(path)
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise StoreError(describe_duckdb_error(exc, path)) from None


def check_database_file(path: Path) -> None:
    """A StoreError naming `path` unless it is an existing DuckDB file: checked by its header
    before DuckDB opens it, since DuckDB reads some names (a .csv) as something else."""
    if not path.exists():
        raise StoreError(
            f"{path}: no such database; create it with `umlsgraph load META --db {path}`"
        )
    if path.is_dir():
        raise StoreError(f"{path}: a folder, not a database file; give the path of a .duckdb "
                         "file (--db)")
    try:
        with path.open("rb") as file:
            head = file.read(16)
    except OSError as exc:
        raise StoreError(describe_os_error(exc)) from None
    if head.startswith(SQLITE_MAGIC):
        raise StoreError(f"{path}: a SQLite database, not a DuckDB one (nothing was changed); "
                         "check --db")
    if head[8:12] != DUCKDB_MAGIC:
        what = "an empty file, not a DuckDB database" if not head else (
            "not a DuckDB database file")
        raise StoreError(f"{path}: {what} (nothing was changed); check --db, or move the "
                         "file away to create a new database there")


def require_tables(con: duckdb.DuckDBPyConnection, *tables: str, hint: str = "") -> None:
    """Raise a StoreError naming the first missing table and the command that creates it."""
    have = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    for table in tables:
        if table not in have:
            raise StoreError(hint or f"{database_path(con)}: the database has no `{table}` "
                             "table (not a umlsgraph store, or nothing loaded yet); run "
                             "`umlsgraph load` first")


def database_path(con: duckdb.DuckDBPyConnection) -> str:
    """The file of the connection's database (':memory:' for an in-memory one)."""
    rows = con.execute("SELECT path FROM duckdb_databases() "
                       "WHERE database_name = current_database()").fetchall()
    return str(rows[0][0]) if rows and rows[0][0] else ":memory:"



def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """True when the store has `table` (in the main schema)."""
    rows = con.execute(  # fetchall: a result left unread blocks the connection's next con.sql()
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]
    ).fetchall()
    return bool(rows[0][0])


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN … COMMIT, or ROLLBACK on any exception (Ctrl-C included), then re-raise."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def stream(con: duckdb.DuckDBPyConnection, sql: str, batch_rows: int = 10_000,
           params: list[Any] | None = None) -> Iterator[list[dict[str, Any]]]:
    """The rows of `sql` as lists of dicts, `batch_rows` at a time, never all in memory.

    The connection itself is used (temp tables are visible only on it), so it must not run
    other statements until the iterator is exhausted.
    """
    con.execute("SELECT NULL").fetchall()  # DuckDB 2 refuses con.sql() while a result is open
    reader = con.sql(sql, params=params or None).to_arrow_reader(batch_rows)
    for batch in reader:
        if batch.num_rows:
            yield batch.to_pylist()
