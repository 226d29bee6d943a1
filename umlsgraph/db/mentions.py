"""Stored concept-mention counts in a flat corpus, so a re-export does not rescan it.

Tables (DDL in `umlsgraph.db.schema`)::

    mention_counts(corpus, cui, mentions, texts)   -- one row per scanned concept, zeros too
    mention_scans(corpus, fingerprint, scanned_at)

A concept with a row was scanned against that corpus; the corpus's fingerprint (its row
count, an order-independent hash of its ids and texts, and the release's load time) is
stored with the counts, and a different fingerprint (corpus or release reloaded) discards
them.
"""

from __future__ import annotations

import duckdb

from umlsgraph.db import release_store, schema, versioned
from umlsgraph.db.connection import transaction
from umlsgraph.db.items import CORPUS_TABLE

COUNTS = schema.MENTION_COUNTS
SCANS = schema.MENTION_SCANS


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    versioned.ensure(con, COUNTS)
    versioned.ensure(con, SCANS)


def fingerprint(con: duckdb.DuckDBPyConnection, corpus: str) -> str:
    """What the counts depend on: the corpus's texts and the loaded release."""
    rows, digest = con.execute(
        f"SELECT count(*), coalesce(bit_xor(hash(id, text)), 0) FROM {CORPUS_TABLE} "
        "WHERE corpus = ?", [corpus]).fetchall()[0]
    loaded = release_store.loaded_at(con) or ""
    return f"{rows}|{digest}|{loaded}"


def reset_if_stale(con: duckdb.DuckDBPyConnection, corpus: str, current: str) -> bool:
    """Drop the corpus's counts when its fingerprint changed; True when they were dropped."""
    ensure_tables(con)
    row = con.execute(f"SELECT fingerprint FROM {SCANS} WHERE corpus = ?", [corpus]).fetchall()
    if row and row[0][0] == current:
        return False
    with transaction(con):  # DELETE + INSERT: a carried-over copy has no primary key
        con.execute(f"DELETE FROM {COUNTS} WHERE corpus = ?", [corpus])
        con.execute(f"DELETE FROM {SCANS} WHERE corpus = ?", [corpus])
        con.execute(f"INSERT INTO {SCANS} (corpus, fingerprint) VALUES (?, ?)",
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
            con.execute(f"DELETE FROM {COUNTS} WHERE corpus = ? AND cui IN "
                        "(SELECT cui FROM _mention_batch)", [corpus])
            con.execute(f"INSERT INTO {COUNTS} SELECT ?, cui, mentions, texts "
                        "FROM _mention_batch", [corpus])
    finally:
        con.unregister("_mention_batch")


def counts_sql() -> str:
    """SQL of (cui, mentions, texts) for corpus `$corpus`."""
    return f"SELECT cui, mentions, texts FROM {COUNTS} WHERE corpus = $corpus"
