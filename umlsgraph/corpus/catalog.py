"""The corpora in a store: list them, export one (with its latest predictions)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from umlsgraph.corpus.options import EXPORT_FORMATS
from umlsgraph.db import connect, table_exists
from umlsgraph.db.items import CORPUS_TABLE
from umlsgraph.db.sql import literal
from umlsgraph.errors import ExportError, StoreError


def _open_existing(db: str | Path) -> duckdb.DuckDBPyConnection:
    """Open the store read-only; a missing file says how corpus mode creates one."""
    if not Path(db).exists():
        raise StoreError(f"{db}: no such database; load a corpus with `umlsgraph corpus load "
                         f"NAME --db {db} --from FILE`")
    return connect(db, read_only=True)


def list_corpora(db: str | Path) -> list[dict]:
    """One dict per corpus: name, rows, rows with gold, rows per split, rows per gold label."""
    con = _open_existing(db)
    try:
        if not table_exists(con, CORPUS_TABLE):
            return []
        rows = con.execute(f"SELECT corpus, count(*), count(gold) FROM {CORPUS_TABLE} "
                           "GROUP BY corpus ORDER BY corpus").fetchall()
        out = []
        for corpus, n, n_gold in rows:
            splits = dict(con.execute(
                f"SELECT coalesce(split, '(none)'), count(*) FROM {CORPUS_TABLE} "
                "WHERE corpus = ? GROUP BY 1 ORDER BY 1", [corpus]).fetchall())
            labels = dict(con.execute(
                f"SELECT gold, count(*) FROM {CORPUS_TABLE} WHERE corpus = ? "
                "AND gold IS NOT NULL GROUP BY 1 ORDER BY 1", [corpus]).fetchall())
            out.append({"corpus": corpus, "rows": n, "with_gold": n_gold, "splits": splits,
                        "labels": labels})
        return out
    finally:
        con.close()


def export_corpus(db: str | Path, corpus: str, out: str | Path, query: str | None = None,
                  model: str | None = None) -> int:
    """Write a corpus with its latest predictions (label, probability) and gold to `out`.

    The format follows the extension (.csv, .tsv, .parquet, .jsonl). Items without a
    prediction have empty label and probability. Returns the number of rows written.
    """
    out = Path(out)
    fmt = EXPORT_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ExportError(f"{out}: unknown export format '{out.suffix}'; use one of "
                          f"{', '.join(sorted(EXPORT_FORMATS))}")
    con = _open_existing(db)
    try:
        _require_corpus(con, corpus)
        sql = _export_sql(con, corpus, query, model)
        out.parent.mkdir(parents=True, exist_ok=True)
        copy_options = {"csv": "FORMAT csv, HEADER true",
                        "tsv": "FORMAT csv, HEADER true, DELIMITER '\t'",
                        "parquet": "FORMAT parquet", "jsonl": "FORMAT json"}[fmt]
        try:
            con.execute(f"COPY ({sql}) TO {literal(out)} ({copy_options})")
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0]
            raise ExportError(f"{out}: cannot write ({first})") from None
        return int(con.execute(f"SELECT count(*) FROM {CORPUS_TABLE} WHERE corpus = ?",
                               [corpus]).fetchall()[0][0])  # type: ignore[index]
    finally:
        con.close()


def _require_corpus(con: duckdb.DuckDBPyConnection, corpus: str) -> None:
    found = table_exists(con, CORPUS_TABLE) and con.execute(
        f"SELECT count(*) FROM {CORPUS_TABLE} WHERE corpus = ?", [corpus]).fetchall()[0][0]  # type: ignore[index]
    if not found:
        raise StoreError(f"no corpus '{corpus}' in the database; load one with "
                         f"`umlsgraph corpus load {corpus} --from FILE`")


def _export_sql(con: duckdb.DuckDBPyConnection, corpus: str, query: str | None,
                model: str | None) -> str:
    """Items LEFT JOIN their latest prediction (of `query`/`model` when given)."""
    items = (f"SELECT rowid AS n, id, text, gold, split FROM {CORPUS_TABLE} "
             f"WHERE corpus = {literal(corpus)}")
    if not table_exists(con, "predictions"):
        return (f"SELECT id, text, gold, split, NULL::VARCHAR AS label, "
                f"NULL::DOUBLE AS probability, NULL::VARCHAR AS model FROM ({items}) ORDER BY n")
    cond = f"source = {literal('corpus:' + corpus)}"
    if model:
        cond += f" AND model = {literal(model)}"
    if query:
        cond += f" AND query = {literal(query)}"
    else:
        queries = [r[0] for r in con.execute(
            f"SELECT DISTINCT query FROM predictions WHERE {cond} ORDER BY 1").fetchall()]
        if len(queries) > 1:
            raise ExportError(f"corpus '{corpus}' has predictions of several queries "
                              f"({', '.join(queries)}); choose one with --query")
    return f"""
    WITH latest AS (
        SELECT id, arg_max(label, created_at) AS label,
               arg_max(probability, created_at) AS probability,
               arg_max(model, created_at) AS model
        FROM predictions WHERE {cond} GROUP BY id)
    SELECT i.id, i.text, i.gold, i.split, l.label, l.probability, l.model
    FROM ({items}) i LEFT JOIN latest l USING (id) ORDER BY i.n"""
