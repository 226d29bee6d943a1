"""Stored concept-mention counts in a flat corpus, so a re-export does not rescan it.

Tables::

    mention_counts(corpus VARCHAR, cui VARCHAR, mentions BIGINT, texts BIGINT,
                   PRIMARY KEY (corpus, cui))        -- one row per scanned concept, zeros too
    mention_scans(corpus VARCHAR PRIMARY KEY, fingerprint VARCHAR, scanned_at TIMESTAMP)

A concept with a row was scanned against that corpus; the corpus's fingerprint (its row
count, an order-independent hash of its ids and texts, and the release's load time) is
stored with the counts, and a different fingerprint (corpus or release reloaded) discards
them.
"""

from __future__ import annotations

import duckdb

from umlsgraph.db.connection import table_exists, transaction
from umlsgraph.db.items import CORPUS_TABLE

COUNTS = "mention_counts"
SCANS = "mention_scans"


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""CREATE TABLE IF NOT EXISTS {COUNTS} (corpus VARCHAR NOT NULL,
        cui VARCHAR NOT NULL, mentions BIGINT NOT NULL, texts BIGINT NOT NULL,
        PRIMARY KEY (corpus, cui))""")
    con.execute(f"""CREATE TABLE IF NOT EXISTS {SCANS} (corpus VARCHAR PRIMARY KEY,
        fingerprint VARCHAR NOT NULL, scanned_at TIMESTAMP DEFAULT current_timestamp)""")


def fingerprint(con: duckdb.DuckDBPyConnection, corpus: str) -> str:
    """What the counts depend on: the corpus's texts and the loaded release."""
    rows, digest = con.execute(
        f"SELECT count(*), coalesce(bit_xor(hash(id, text)), 0) FROM {CORPUS_TABLE} "
        "WHERE corpus = ?", [corpus]).fetchall()[0]
    loaded = ""
    if table_exists(con, "release"):
        found = con.execute("SELECT value FROM release WHERE key = 'loaded_at'").fetchall()
        loaded = found[0][0] if found else ""
    return f"{rows}|{digest}|{loaded}"


def reset_if_stale(con: duckdb.DuckDBPyConnection, corpus: str, current: str) -> bool:
    """Drop the corpus's counts when its fingerprint changed; True when they were dropped."""
    ensure_tables(con)
    row = con.execute(f"SELECT fingerprint FROM {SCANS} WHERE corpus = ?", [corpus]).fetchall()
    if row and row[0][0] == current:
        return False
    with transaction(con):
        con.execute(f"DELETE FROM {COUNTS} WHERE corpus = ?", [corpus])
        con.execute(f"INSERT OR REPLACE INTO {SCANS} (corpus, fingerprint) VALUES (?, ?)",
                    [corpus, current])
    return bool(row)


def unscanned_sql(ids_sql: str) -> str:
    """SQL of the ids in `ids_sql` with no stored count for corpus `$corpus`."""
    return (f"SELECT DISTINCT id FROM ({ids_sql}) WHERE id NOT IN "
            f"(SELECT cui FROM {COUNTS} WHERE corpus = $corpus)")


def write_counts(con: duckdb.DuckDBPyConnection, corpus: str, table: object) -> None:
    """Insert an Arrow table (cui, mentions, texts) of newly scanned concepts."""
    con.register("_mention_batch", table)
    try:
        with transaction(con):
            con.execute(f"INSERT OR REPLACE INTO {COUNTS} SELECT ?, cui, mentions, texts "
                        "FROM _mention_batch", [corpus])
    finally:
        con.unregister("_mention_batch")


def counts_sql() -> str:
    """SQL of (cui, mentions, texts) for corpus `$corpus`."""
    return f"SELECT cui, mentions, texts FROM {COUNTS} WHERE corpus = $corpus"
