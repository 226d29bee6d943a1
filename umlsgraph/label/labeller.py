"""Label every candidate item with a fine-tuned encoder (step 5 of LlamBERT).

Items stream from DuckDB in chunks (`chunk_size` ids at a time; their text is rendered for
that chunk only), each chunk is sorted by token length and cut into batches padded to their
own longest item, and the chunk's predictions are written in one transaction. Memory stays
bounded by the chunk, whatever the number of candidates. A re-run skips the ids this model
already labelled, so an interrupted run resumes where it stopped. While one chunk runs through
the model, a background thread fetches and tokenizes the next.

Table ``predictions`` (the shared contract)::

    query VARCHAR, source VARCHAR, id VARCHAR, label VARCHAR, probability DOUBLE,
    model VARCHAR, created_at TIMESTAMP;  PRIMARY KEY (query, source, id, model)

`probability` is the probability of the query's positive category, `label` the argmax.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from umlsgraph.db import connect, prediction_store
from umlsgraph.db.items import ItemSource
from umlsgraph.errors import ModelError
from umlsgraph.inference.model import Chunk, EncoderModel
from umlsgraph.model_folder import model_query, read_meta
from umlsgraph.progress import progress_bar
from umlsgraph.query import Query, no_items_error

TABLE = prediction_store.TABLE
TODO = "_label_todo"


@dataclass(frozen=True)
class LabelResult:
    """What a `label` run did."""

    model: str
    candidates: int
    already: int
    labelled: int
    positives: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.labelled / self.seconds if self.seconds else 0.0


def label(db: str | Path, query: Query, source: ItemSource, model_dir: str | Path,
          batch_size: int | None = None, max_length: int | None = None,
          chunk_size: int = 20_000, device: str = "auto", progress: bool = True,
          on_chunk: Callable[[int], None] | None = None, precision: str = "auto",
          bucketing: bool = True, force: bool = False) -> LabelResult:
    """Classify every candidate item of `query` not yet labelled by this model.

    `batch_size` defaults to 64 on CPU and 1024 on a GPU; `max_length` to the training one.
    `on_chunk(n_written)` is called after each chunk is committed. `precision` and
    `bucketing` are for measuring (see `EncoderModel`); the defaults are the fast ones. A model
    trained for another query is refused unless `force`.
    """
    if chunk_size < 1 or (batch_size is not None and batch_size < 1):
        raise ModelError("--batch-size and --chunk-size must be positive")
    meta = read_meta(model_dir)
    query = model_query(query, meta, model_dir, force)
    max_length = max_length or int(meta.get("max_length", 128))
    started = time.monotonic()
    con = connect(db)
    try:
        source.check(con)
        prediction_store.ensure_table(con)
        candidates, todo = _plan(con, query, source, meta["model_id"])
        if not candidates:
            raise no_items_error(query, source.key)
        labelled = 0
        if todo:
            labeller = EncoderModel(model_dir, meta, device, batch_size, max_length,
                                    precision, bucketing)
            labelled = _run(con, query, source, labeller, todo, chunk_size, progress, on_chunk)
        positives = _count_positives(con, query, source, meta["model_id"])
        con.execute(f"DROP TABLE IF EXISTS {TODO}")
    finally:
        con.close()
    return LabelResult(meta["model_id"], candidates, candidates - todo, labelled, positives,
                       time.monotonic() - started)


def _plan(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
          model: str) -> tuple[int, int]:
    """Number the candidates this model has not labelled yet (a temp table); (total, todo)."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {TODO} AS
        SELECT id, row_number() OVER (ORDER BY id) AS rn FROM (
            SELECT DISTINCT id FROM ({source.candidates_sql(query)}) c
            WHERE NOT EXISTS (SELECT 1 FROM {TABLE} p WHERE p.query = $q AND p.source = $s
                              AND p.model = $m AND p.id = c.id))""",
                {"q": query.name, "s": source.key, "m": model})
    todo = _scalar(con, f"SELECT count(*) FROM {TODO}")
    total = _scalar(con, f"SELECT count(DISTINCT id) FROM ({source.candidates_sql(query)})")
    return total, todo


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> int:
    """One integer, fetched to the end (DuckDB 2 refuses new work while a result is open)."""
    return int(con.execute(sql, params or []).fetchall()[0][0])


def _count_positives(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
                     model: str) -> int:
    return _scalar(con, f"SELECT count(*) FROM {TABLE} WHERE query = ? AND source = ? AND "
                   "model = ? AND label = ?", [query.name, source.key, model, query.positive])


def _run(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
         labeller: EncoderModel, todo: int, chunk_size: int, progress: bool,
         on_chunk: Callable[[int], None] | None) -> int:
    """Stream the todo list chunk by chunk: fetch+tokenize the next while predicting this one."""
    starts = list(range(0, todo, chunk_size))
    reader = con.cursor()
    written = 0
    with ThreadPoolExecutor(max_workers=1) as pool, \
            progress_bar("labelling", todo, progress, unit="items") as bar:
        ids = _chunk_ids(con, starts[0], chunk_size)
        pending = pool.submit(_prepare, reader, query, source, labeller, ids)
        for n in range(len(starts)):
            chunk = pending.result()
            if n + 1 < len(starts):
                ids = _chunk_ids(con, starts[n + 1], chunk_size)
                pending = pool.submit(_prepare, reader, query, source, labeller, ids)
            labels, probs = labeller.predict(chunk, bar.advance)
            prediction_store.write(con, query.name, source.key, labeller.model_id, chunk.ids,
                                   labels, probs)
            written += len(chunk.ids)
            if on_chunk:
                on_chunk(written)
    reader.close()
    return written


def _chunk_ids(con: duckdb.DuckDBPyConnection, start: int, size: int) -> Any:
    """The ids of one chunk as an Arrow table (at most `size` strings)."""
    import pyarrow as pa

    rows = con.execute(f"SELECT id FROM {TODO} WHERE rn > ? AND rn <= ? ORDER BY rn",
                       [start, start + size]).fetchall()
    return pa.table({"id": [str(r[0]) for r in rows]})


def _prepare(reader: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
             labeller: EncoderModel, ids: Any) -> Chunk:
    """Render the chunk's texts in DuckDB, tokenize, sort and pad them (in the prefetch
    thread, while the model works on the previous chunk)."""
    reader.register("_chunk_ids", ids)
    try:
        rows = reader.execute(source.texts_sql(query, "SELECT id FROM _chunk_ids")).fetchall()
    finally:
        reader.unregister("_chunk_ids")
    found = {str(i): t or "" for i, t in rows}
    chunk_ids = [str(i) for i in ids.column("id").to_pylist()]
    texts = [found.get(i, "") for i in chunk_ids]
    return Chunk(chunk_ids, labeller.batches(texts))
