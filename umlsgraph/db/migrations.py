"""The schema version of a store, and the ordered migrations that bring an older store up to it.

Shaped like llm's `migrations.py`: `MIGRATIONS` is a list of functions, `@migration` appends
one, and `upgrade` applies, in order, each one the store's `umlsgraph_schema` table does not
record yet, and records it (version, name, when, which umlsgraph) — all in ONE transaction,
so a failure leaves the store exactly as it was. A store's version is the number of
migrations it has had; this program's is `len(MIGRATIONS)`.

Where it runs:

- `versioned.connect` upgrades every store it opens for writing, and checks, without
  writing, every store it opens read-only: a store newer than this program is a one-line
  `StoreError` that names both versions and says to upgrade umlsgraph.
- `versioned.ensure` upgrades too, and stamps a file that had no umlsgraph table yet: the table
  it is about to create has the current shape.
- A new load (`load.release`) upgrades the file it replaces before carrying its pipeline
  tables over, then `stamp`s the new file, so the carried tables and their history go along.
- A store written before versions were recorded (umlsgraph tables, no `umlsgraph_schema`) is
  version 0, laid out as version 1: `m001_initial` only records it.
- A DuckDB file without any umlsgraph table is left alone.

Writing a migration: append a function `mNNN_what(con)`; never edit, rename, reorder or
remove one that has shipped. It must not depend on today's DDL in `schema.py` (a later
migration may change that): it carries the SQL of its own step. It changes only tables that
exist (a missing one is created later by `versioned.ensure` in the newest shape, so change the
DDL there in the same commit). It never commits. When read-only commands can no longer read
the shape before it, raise `READABLE_FROM` to its version: they then ask for `umlsgraph
upgrade`, because a read-only open never writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import duckdb

from umlsgraph import __version__
from umlsgraph.db import schema
from umlsgraph.db.connection import table_exists, transaction

# Every query here fetches all its rows: DuckDB 2 refuses `con.sql()` and Arrow readers on a
# connection whose last result was not read to the end, and `connect` hands this one on.
from umlsgraph.errors import StoreError

Migration = Callable[[duckdb.DuckDBPyConnection], None]

MIGRATIONS: list[Migration] = []
migration = MIGRATIONS.append

#: The oldest version read-only commands read as it is (0: every store umlsgraph wrote).
READABLE_FROM = 0

UPGRADE_UMLSGRAPH = "pip install -U umlsgraph"


def version(con: duckdb.DuckDBPyConnection) -> int:
    """The store's schema version: the highest migration recorded, 0 when none is."""
    if not table_exists(con, schema.VERSION_TABLE):
        return 0
    rows = con.execute(f"SELECT max(version) FROM {schema.VERSION_TABLE}").fetchall()
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


def is_store(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the file holds at least one table umlsgraph writes."""
    rows = con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                       "AND database_name = current_database()").fetchall()
    return any(r[0] in schema.KNOWN_TABLES for r in rows)


def check(con: duckdb.DuckDBPyConnection, where: object = "the database",
          migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """The store's version, after refusing one newer than this program (one line, no write)."""
    have, known = version(con), len(migrations)
    if have > known:
        rows = con.execute(f"SELECT program_version FROM {schema.VERSION_TABLE} "
                           "ORDER BY version DESC LIMIT 1").fetchall()
        written = f", written by umlsgraph {rows[0][0]}" if rows else ""
        raise StoreError(
            f"{where}: this database has schema version {have}{written}; umlsgraph "
            f"{__version__} knows versions up to {known}: upgrade umlsgraph "
            f"({UPGRADE_UMLSGRAPH}) to use it")
    return have


def check_readable(con: duckdb.DuckDBPyConnection, where: object = "the database") -> int:
    """`check`, and refuse a store too old to read without upgrading it (which would write)."""
    have = check(con, where)
    if have < READABLE_FROM and is_store(con):
        raise StoreError(f"{where}: this database has schema version {have}; this umlsgraph "
                         f"reads version {READABLE_FROM} or later: run `umlsgraph upgrade "
                         f"--db {where}` once (it upgrades the file in place), then rerun")
    return have


def upgrade(con: duckdb.DuckDBPyConnection, where: object = "the database",
            migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply, in one transaction, the migrations the store has not had; their names.

    A file without umlsgraph tables is left alone. A failing migration rolls everything back
    and is a StoreError naming it.
    """
    have = check(con, where, migrations)
    if have == len(migrations) or (have == 0 and not is_store(con)):
        return []
    pending = list(enumerate(migrations, start=1))[have:]
    step = pending[0][1]
    try:
        with transaction(con):
            con.execute(schema.VERSION_DDL)
            for number, step in pending:
                step(con)
                _record(con, number, step)
    except Exception as exc:  # rolled back; Ctrl-C (BaseException) goes through as it is
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(
            f"{where}: upgrading the database from schema version {have} to "
            f"{len(migrations)} failed in {step.__name__} ({first}); nothing was changed "
            "(keep the file and report this as a bug)") from exc
    return [step.__name__ for _, step in pending]


def stamp(con: duckdb.DuckDBPyConnection,
          migrations: Sequence[Migration] = MIGRATIONS) -> None:
    """Record the current version on a store whose tables this program wrote (no migration
    runs); a store that records a version already keeps its history."""
    if table_exists(con, schema.VERSION_TABLE):
        return
    with transaction(con):
        con.execute(schema.VERSION_DDL)
        for number, step in enumerate(migrations, start=1):
            _record(con, number, step)


def _record(con: duckdb.DuckDBPyConnection, number: int, step: Migration) -> None:
    con.execute(f"INSERT INTO {schema.VERSION_TABLE} (version, name, program_version) "
                "VALUES (?, ?, ?)", [number, step.__name__, __version__])


def upgrade_file(db: str | Path) -> tuple[int, list[str]]:
    """`umlsgraph upgrade`: bring the store at `db` to this program's version in place.

    Returns the version it had and the migrations applied (none when it was current).
    """
    from umlsgraph.db.connection import open_file

    con = open_file(db)
    try:
        if not is_store(con):
            raise StoreError(f"{db}: holds no umlsgraph table, so there is nothing to "
                             "upgrade; check --db")
        return version(con), upgrade(con, db)
    finally:
        con.close()


@migration
def m001_initial(con: duckdb.DuckDBPyConnection) -> None:
    """The layout umlsgraph wrote before versions were recorded (commit 97c4c3b): recorded
    as it is; nothing to change."""


#: The keys of the pipeline tables as commit 97c4c3b declared them, and the column each
#: stamped with the time of writing (frozen here: later DDL changes are later migrations).
_V1_KEYS: dict[str, tuple[str, str | None]] = {
    "annotations": ("query, source, id, annotator, prompt_hash", "created_at"),
    "predictions": ("query, source, id, model", "created_at"),
    "corpus_items": ("corpus, id", None),
    "label_audit": ("query, source, annotator, id", "created_at"),
    "annotation_rounds": ("query, source, round_key, id", "created_at"),
    "mention_counts": ("corpus, cui", None),
    "mention_scans": ("corpus", "scanned_at"),
}


@migration
def m002_restore_keys(con: duckdb.DuckDBPyConnection) -> None:
    """Give back the primary keys and defaults that a reload before this fix dropped.

    `load` copied pipeline tables with CREATE TABLE AS, which keeps no constraint, so the
    next `annotate` or `label` failed (INSERT OR REPLACE needs the key). Each such table is
    rebuilt with its declared DDL; a key held twice (impossible without the key, in
    practice) keeps its newest row, a NULL time counting as newest (written after the
    reload, whose copy had lost the default).
    """
    for table, (key, stamped) in _V1_KEYS.items():
        if not table_exists(con, table) or _has_primary_key(con, table):
            continue
        newest = f"{stamped} DESC NULLS FIRST" if stamped else "1"
        con.execute(f"ALTER TABLE {table} RENAME TO {table}__v1")
        con.execute(_V1_DDL[table])
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {table}__v1 QUALIFY "
                    f"row_number() OVER (PARTITION BY {key} ORDER BY {newest}) = 1")
        con.execute(f"DROP TABLE {table}__v1")


def _has_primary_key(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    rows = con.execute("SELECT count(*) FROM duckdb_constraints() WHERE table_name = ? AND "
                       "schema_name = 'main' AND constraint_type = 'PRIMARY KEY'",
                       [table]).fetchall()
    return bool(rows[0][0])


#: The pipeline tables' DDL at commit 97c4c3b, frozen for m002.
_V1_DDL: dict[str, str] = {
    "annotations": """CREATE TABLE annotations (
        query VARCHAR NOT NULL, source VARCHAR NOT NULL, id VARCHAR NOT NULL,
        annotator VARCHAR NOT NULL, prompt_hash VARCHAR NOT NULL, label VARCHAR,
        raw VARCHAR, score DOUBLE, created_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (query, source, id, annotator, prompt_hash))""",
    "predictions": """CREATE TABLE predictions (
        query VARCHAR NOT NULL, source VARCHAR NOT NULL, id VARCHAR NOT NULL,
        label VARCHAR, probability DOUBLE, model VARCHAR NOT NULL,
        created_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (query, source, id, model))""",
    "corpus_items": """CREATE TABLE corpus_items (
        corpus VARCHAR NOT NULL, id VARCHAR NOT NULL, text VARCHAR NOT NULL, gold VARCHAR,
        split VARCHAR, PRIMARY KEY (corpus, id))""",
    "label_audit": """CREATE TABLE label_audit (
        query VARCHAR NOT NULL, source VARCHAR NOT NULL, annotator VARCHAR NOT NULL,
        id VARCHAR NOT NULL, audit_key VARCHAR NOT NULL, fold INTEGER NOT NULL,
        label VARCHAR NOT NULL, probabilities DOUBLE[], p_out_of_sample DOUBLE,
        annotator_score DOUBLE, quality DOUBLE, suspect BOOLEAN,
        created_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (query, source, annotator, id))""",
    "annotation_rounds": """CREATE TABLE annotation_rounds (
        query VARCHAR NOT NULL, source VARCHAR NOT NULL, round_key VARCHAR NOT NULL,
        strategy VARCHAR NOT NULL, id VARCHAR NOT NULL, rank INTEGER NOT NULL, score DOUBLE,
        created_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (query, source, round_key, id))""",
    "mention_counts": """CREATE TABLE mention_counts (
        corpus VARCHAR NOT NULL, cui VARCHAR NOT NULL, mentions BIGINT NOT NULL,
        texts BIGINT NOT NULL, PRIMARY KEY (corpus, cui))""",
    "mention_scans": """CREATE TABLE mention_scans (
        corpus VARCHAR PRIMARY KEY, fingerprint VARCHAR NOT NULL,
        scanned_at TIMESTAMP DEFAULT current_timestamp)""",
}
