"""The corpora in a store: list them, export one (with one model's predictions)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from umlsgraph.corpus.options import EXPORT_FORMATS
from umlsgraph.db import connect, prediction_store, table_exists
from umlsgraph.db.items import CORPUS_TABLE, CorpusSource
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
    """Write a corpus with one model's predictions (label, probability) and gold to `out`.

    The model is `model`, else the one that labelled `query` most recently on this corpus
    (`prediction_store.resolve_model`); `query` may be left out when only one has
    predictions. The format follows the extension (.csv, .tsv, .parquet, .jsonl). Items
    without a prediction have empty label, probability and model. Returns the rows written.
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
    """Items LEFT JOIN the predictions of ONE model: `model`, else the query's most recent
    (`prediction_store.resolve_model`, the rule eval, export and report follow), never a mix
    of models per item. The query may be left out when only one has predictions here."""
    source = CorpusSource(corpus).key
    items = (f"SELECT rowid AS n, id, text, gold, split FROM {CORPUS_TABLE} "
             f"WHERE corpus = {literal(corpus)}")
    query = query or _only_query(con, corpus, source)
    used = None
    if query is not None:
        used = prediction_store.resolve_model(con, query, source, model, required=False)
    if query is None or used is None:
        if model:
            raise StoreError(f"no predictions by model '{model}' on corpus '{corpus}'; run "
                             f"`umlsgraph label QUERY --corpus {corpus} --model DIR` first")
        return (f"SELECT id, text, gold, split, NULL::VARCHAR AS label, "
                f"NULL::DOUBLE AS probability, NULL::VARCHAR AS model FROM ({items}) ORDER BY n")
    predictions = prediction_store.labels_sql(query, source, used)
    return f"""
    SELECT i.id, i.text, i.gold, i.split, p.label, p.probability,
           CASE WHEN p.id IS NOT NULL THEN {literal(used)} END AS model
    FROM ({items}) i LEFT JOIN ({predictions}) p USING (id) ORDER BY i.n"""


def _only_query(con: duckdb.DuckDBPyConnection, corpus: str, source: str) -> str | None:
    """The one query with predictions on the corpus (None if none); several is an error."""
    found = prediction_store.queries(con, source)
    if len(found) > 1:
        raise ExportError(f"corpus '{corpus}' has predictions of several queries "
                          f"({', '.join(found)}); choose one with --query")
    return found[0] if found else None
