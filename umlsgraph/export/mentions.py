"""`export --mentioned-in CORPUS`: keep the selected concepts whose names occur in a corpus.

The seed kept only the concepts mentioned in PubMed abstracts. Here any flat corpus loaded
with `umlsgraph corpus load` serves: every English, non-suppressed name (at least
`MIN_NAME_CHARS` characters) of the concepts to check goes into one Aho-Corasick automaton
(`pyahocorasick`); the corpus is streamed from DuckDB in Arrow batches and matched
case-insensitively, keeping only whole-word matches (no letter, digit or underscore on
either side).
A concept's `mentions` is the number of distinct (text, start) positions where one of its
names matches; `texts` the number of texts with at least one. Counts go to
`mention_counts` (see `umlsgraph.db.mentions`), zeros included, so a re-export with the
same or a narrower selection reads them instead of rescanning.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import duckdb

from umlsgraph.db import SUPPRESSIBLE, stream
from umlsgraph.db import mentions as store
from umlsgraph.db.items import CORPUS_TABLE, CorpusSource
from umlsgraph.db.sql import in_list, unbar
from umlsgraph.errors import ExportError

#: Shorter names ("ALL", "CA") match common words once case is ignored.
MIN_NAME_CHARS = 3
BATCH = 5000


def ensure_counts(con: duckdb.DuckDBPyConnection, corpus: str, ids_sql: str) -> dict[str, Any]:
    """Scan `corpus` for the concepts of `ids_sql` that have no stored count yet."""
    CorpusSource(corpus).check(con)
    reset = store.reset_if_stale(con, corpus, store.fingerprint(con, corpus))
    todo = [r[0] for r in con.execute(store.unscanned_sql(ids_sql),
                                      {"corpus": corpus}).fetchall()]
    report: dict[str, Any] = {"corpus": corpus, "scanned": len(todo), "rescanned": reset,
                              "texts": 0, "seconds": 0.0}
    if todo:
        started = time.perf_counter()
        counts, report["texts"] = scan(con, corpus, names(con, todo))
        _store(con, corpus, todo, counts)
        report["seconds"] = round(time.perf_counter() - started, 3)
    return report


def names(con: duckdb.DuckDBPyConnection, cuis: list[str]) -> dict[str, list[str]]:
    """Lower-cased name -> the concepts (of `cuis`) that have it."""
    import pyarrow as pa

    con.register("_mention_cuis", pa.table({"cui": pa.array(cuis, pa.string())}))
    try:
        rows = con.execute(f"""
            SELECT lower({unbar('str')}) AS s, list(DISTINCT cui ORDER BY cui)
            FROM names WHERE cui IN (SELECT cui FROM _mention_cuis) AND lat = 'ENG'
              AND coalesce(suppress, '') NOT IN ({in_list(SUPPRESSIBLE)})
              AND length(trim(str)) >= {MIN_NAME_CHARS}
            GROUP BY s""").fetchall()
    finally:
        con.unregister("_mention_cuis")
    return {s.strip(): list(c) for s, c in rows if s.strip()}


def automaton(patterns: dict[str, list[str]]) -> Any:
    """An Aho-Corasick automaton: name -> (length, concepts)."""
    try:
        import ahocorasick
    except ImportError:
        raise ExportError("pyahocorasick is not installed: pip install pyahocorasick") from None
    auto = ahocorasick.Automaton()
    for name, cuis in patterns.items():
        auto.add_word(name, (len(name), tuple(cuis)))
    auto.make_automaton()
    return auto


def scan(con: duckdb.DuckDBPyConnection, corpus: str,
         patterns: dict[str, list[str]]) -> tuple[dict[str, list[int]], int]:
    """cui -> [mentions, texts] over the whole corpus, streamed; and the number of texts."""
    counts: dict[str, list[int]] = {}
    if not patterns:
        return counts, 0
    auto = automaton(patterns)
    seen = 0
    for text in _texts(con, corpus):
        seen += 1
        for cui, positions in mentions_in(auto, text).items():
            entry = counts.setdefault(cui, [0, 0])
            entry[0] += positions
            entry[1] += 1
    return counts, seen


def mentions_in(auto: Any, text: str) -> dict[str, int]:
    """cui -> distinct whole-word match positions in one text (case-insensitive)."""
    lowered = text.lower()
    found: dict[str, set[int]] = {}
    last = len(lowered) - 1
    for end, (length, cuis) in auto.iter(lowered):
        start = end - length + 1
        if (start > 0 and _word(lowered[start - 1])) or (end < last and _word(lowered[end + 1])):
            continue
        for cui in cuis:
            found.setdefault(cui, set()).add(start)
    return {cui: len(starts) for cui, starts in found.items()}


def _word(ch: str) -> bool:
    """A character that continues a word (as regex \\w: letters, digits, underscore)."""
    return ch.isalnum() or ch == "_"


def _texts(con: duckdb.DuckDBPyConnection, corpus: str) -> Iterator[str]:
    """The corpus's texts in Arrow batches (bounded memory whatever the corpus size)."""
    for batch in stream(con, f"SELECT text FROM {CORPUS_TABLE} WHERE corpus = ?", BATCH,
                        [corpus]):
        yield from (row["text"] for row in batch if row["text"])


def _store(con: duckdb.DuckDBPyConnection, corpus: str, cuis: list[str],
           counts: dict[str, list[int]]) -> None:
    """Write a count for every scanned concept, zeros included."""
    import pyarrow as pa

    table = pa.table({
        "cui": pa.array(cuis, pa.string()),
        "mentions": pa.array([counts.get(c, [0, 0])[0] for c in cuis], pa.int64()),
        "texts": pa.array([counts.get(c, [0, 0])[1] for c in cuis], pa.int64())})
    store.write_counts(con, corpus, table)


def keep_mentioned(con: duckdb.DuckDBPyConnection, selected_table: str, corpus: str,
                   min_mentions: int) -> dict[str, Any]:
    """Delete from `selected_table` (a temp table with column `id`) the concepts mentioned
    fewer than `min_mentions` times in `corpus`; none left is an error."""
    before = int(con.execute(f"SELECT count(*) FROM {selected_table}").fetchall()[0][0])
    report = ensure_counts(con, corpus, f"SELECT id FROM {selected_table}")
    con.execute(f"""DELETE FROM {selected_table} WHERE id NOT IN
        (SELECT cui FROM ({store.counts_sql()}) WHERE mentions >= $k)""",
                {"corpus": corpus, "k": int(min_mentions)})
    kept = int(con.execute(f"SELECT count(*) FROM {selected_table}").fetchall()[0][0])
    if before and not kept:
        raise ExportError(f"none of the {before:,} selected concepts is mentioned at least "
                          f"{min_mentions} time(s) in corpus '{corpus}'; lower "
                          "--min-mentions or check the corpus")
    return {"mentioned_in": corpus, "min_mentions": min_mentions,
            "not_mentioned": before - kept, "mention_scan": report}
