"""Label every candidate item with a fine-tuned encoder (step 5 of LlamBERT).

Items stream from DuckDB in chunks (`chunk_size` ids at a time; their text is rendered for
that chunk only), each chunk is sorted by token length and cut into batches padded to their
own longest item, and the chunk's predictions are written in one transaction. Memory stays
bounded by the chunk, whatever the number of candidates. A re-run skips the ids this model
already labelled, so an interrupted run resumes where it stopped. While one chunk runs through
the model, the next ones are fetched and tokenized (`umlsgraph.label.pipeline`).

Table ``predictions`` (the shared contract)::

    query VARCHAR, source VARCHAR, id VARCHAR, label VARCHAR, probability DOUBLE,
    model VARCHAR, created_at TIMESTAMP;  PRIMARY KEY (query, source, id, model)

`probability` is the probability of the query's positive category, `label` the argmax.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from umlsgraph.db import connect, prediction_store
from umlsgraph.db.items import ItemSource
from umlsgraph.errors import ModelError
from umlsgraph.inference.model import EncoderModel
from umlsgraph.label import pipeline
from umlsgraph.model_folder import model_query, read_meta
from umlsgraph.query import Query, no_items_error
from umlsgraph.settings import LABEL_CHUNK

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
          chunk_size: int = LABEL_CHUNK, device: str = "auto", progress: bool = True,
          on_chunk: Callable[[int], None] | None = None, precision: str = "auto",
          bucketing: bool = True, force: bool = False, workers: int | None = None,
          worker_kind: str = "process") -> LabelResult:
    """Classify every candidate item of `query` not yet labelled by this model.

    `batch_size` defaults to 64 on CPU and 1024 on a GPU; `max_length` to the training one.
    `on_chunk(n_written)` is called after each chunk is committed. `precision` and
    `bucketing` are for measuring (see `EncoderModel`); the defaults are the fast ones. A model
    trained for another query is refused unless `force`. `workers` prepare the next chunks
    (render, tokenize, pad) beside the model: default 0 on CPU, 4 processes on CUDA (see
    `umlsgraph.label.pipeline`); `worker_kind="thread"` uses threads instead.
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
            labelled = pipeline.run(con, TODO, query, source, labeller, todo, chunk_size,
                                    progress, on_chunk, workers, worker_kind)
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
