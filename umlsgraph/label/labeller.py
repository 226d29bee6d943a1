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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb

from umlsgraph.db import connect, prediction_store
from umlsgraph.db.items import ItemSource
from umlsgraph.errors import ModelError
from umlsgraph.label import pipeline
from umlsgraph.query import Query, TextOptions, no_items_error
from umlsgraph.train.encoder import (
    amp_dtype,
    autocast,
    encode,
    length_batches,
    load_classifier,
    pad,
    pad_id,
    read_meta,
    resolve_device,
)

TABLE = prediction_store.TABLE
#: Items per forward pass. Concept texts are short (~12 tokens), so on a GPU a batch of 256
#: is launch-bound (measured on an H200: 37.7k items/s forward, and the Python launching
#: competed with tokenization for the GIL); 1,024 gives each kernel 4x the work.
GPU_BATCH = 1024
CPU_BATCH = 64
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


@dataclass
class Chunk:
    """One chunk ready for the model: ids, and batches of (positions, padded CPU tensors)."""

    ids: list[str]
    batches: list[tuple[list[int], dict[str, Any]]]


def label(db: str | Path, query: Query, source: ItemSource, model_dir: str | Path,
          batch_size: int | None = None, max_length: int | None = None,
          chunk_size: int = 20_000, device: str = "auto", progress: bool = True,
          on_chunk: Callable[[int], None] | None = None, precision: str = "auto",
          bucketing: bool = True, force: bool = False, workers: int | None = None,
          worker_kind: str = "process") -> LabelResult:
    """Classify every candidate item of `query` not yet labelled by this model.

    `batch_size` defaults to 64 on CPU and 1024 on a GPU; `max_length` to the training one.
    `on_chunk(n_written)` is called after each chunk is committed. `precision` and
    `bucketing` are for measuring (see `Labeller`); the defaults are the fast ones. A model
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
            labeller = Labeller(model_dir, meta, device, batch_size, max_length, precision,
                                bucketing)
            labelled = pipeline.run(con, TODO, query, source, labeller, todo, chunk_size,
                                    progress, on_chunk, workers, worker_kind)
        positives = _count_positives(con, query, source, meta["model_id"])
        con.execute(f"DROP TABLE IF EXISTS {TODO}")
    finally:
        con.close()
    return LabelResult(meta["model_id"], candidates, candidates - todo, labelled, positives,
                       time.monotonic() - started)


def model_query(query: Query, meta: dict[str, Any], model_dir: str | Path,
                 force: bool = False) -> Query:
    """The query with the text options the model was trained on; categories must match, and
    the model must have been trained for this query (unless forced)."""
    if meta["categories"] != query.categories:
        raise ModelError(f"{model_dir}: trained for categories {meta['categories']}, but query "
                         f"'{query.name}' has {query.categories}")
    trained_for = meta.get("query")
    if trained_for and trained_for != query.name and not force:
        raise ModelError(f"{model_dir}: trained for query '{trained_for}', not '{query.name}'; "
                         "train a model for this query, or pass --force to label with it anyway")
    return replace(query, text=TextOptions(**meta["text"])) if "text" in meta else query


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


def predict_texts(model_dir: str | Path, texts: list[str], device: str = "auto",
                  batch_size: int | None = None) -> list[list[float]]:
    """Each text's probabilities of the model's categories (in its umlsgraph.json order).

    For a few thousand texts held in memory (an audit fold, an uncertainty pool); whole
    candidate sets go through `label`, which streams and stores.
    """
    return Labeller(model_dir, device=device, batch_size=batch_size).probabilities(texts)


def embed_texts(model_dir: str | Path, texts: list[str], device: str = "auto",
                batch_size: int | None = None) -> list[list[float]]:
    """Each text's embedding by the model's encoder (last hidden layer, mean-pooled over
    tokens, L2-normalised): for grouping similar items, e.g. a diverse annotation round."""
    return Labeller(model_dir, device=device, batch_size=batch_size).embeddings(texts)


class Labeller:
    """The loaded model: tokenizes texts and predicts (label, P(positive)) for encodings.

    On CUDA the whole model is cast to `amp_dtype` (bf16 where the GPU has it). With
    `bucketing` (the default) a chunk's items are sorted by token length before batching, so
    each batch is padded only to items of about its own length; without, batches follow the
    chunk's order (what a naive loop does; kept to measure what bucketing buys).
    """

    def __init__(self, model_dir: str | Path, meta: dict[str, Any] | None = None,
                 device: str = "auto", batch_size: int | None = None,
                 max_length: int | None = None, precision: str = "auto",
                 bucketing: bool = True) -> None:
        meta = meta if meta is not None else read_meta(model_dir)
        self.device = resolve_device(device)
        self.precision, self.bucketing = precision, bucketing
        self.model, self.tokenizer = load_classifier(model_dir)
        if self.model.config.num_labels != len(meta["categories"]):
            raise ModelError(f"{model_dir}: the model has {self.model.config.num_labels} outputs "
                             f"but umlsgraph.json lists {len(meta['categories'])} categories")
        half = amp_dtype(self.device, precision)
        if half is not None:
            self.model.to(half)
        self.model.to(self.device).eval()
        self.categories = list(meta["categories"])
        self.positive = self.categories.index(meta["positive"])
        self.model_id = str(meta["model_id"])
        self.batch_size = batch_size or (GPU_BATCH if self.device.startswith("cuda") else CPU_BATCH)
        self.max_length = max_length or int(meta.get("max_length", 128))
        self.pad_id = pad_id(self.tokenizer)

    def batches(self, texts: list[str]) -> list[tuple[list[int], dict[str, Any]]]:
        """Tokenized and padded batches on the CPU (length-sorted, longest first, when
        bucketing)."""
        encodings = encode(self.tokenizer, texts, self.max_length)
        if self.bucketing:
            groups = length_batches([len(e["input_ids"]) for e in encodings], self.batch_size)
        else:
            groups = [list(range(i, min(i + self.batch_size, len(texts))))
                      for i in range(0, len(texts), self.batch_size)]
        return [(ids, pad([encodings[i] for i in ids], self.pad_id, "cpu")) for ids in groups]

    def probabilities(self, texts: list[str]) -> list[list[float]]:
        """Full probability vectors of `texts`, in order."""
        import torch

        out: list[list[float]] = [[] for _ in texts]
        with torch.inference_mode(), autocast(self.device, self.precision):
            for positions, cpu_batch in self.batches(texts):
                batch = {k: v.to(self.device) for k, v in cpu_batch.items()}
                p = torch.softmax(self.model(**batch).logits.float(), dim=-1).cpu().tolist()
                for row, i in enumerate(positions):
                    out[i] = p[row]
        return out

    def embeddings(self, texts: list[str]) -> list[list[float]]:
        """Mean-pooled, L2-normalised last hidden states of `texts`, in order."""
        import torch

        out: list[list[float]] = [[] for _ in texts]
        with torch.inference_mode(), autocast(self.device, self.precision):
            for positions, cpu_batch in self.batches(texts):
                batch = {k: v.to(self.device) for k, v in cpu_batch.items()}
                hidden = self.model(**batch, output_hidden_states=True).hidden_states[-1].float()
                mask = batch["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                pooled = torch.nn.functional.normalize(pooled, dim=-1).cpu().tolist()
                for row, i in enumerate(positions):
                    out[i] = pooled[row]
        return out

    def predict(self, chunk: Chunk,
                advance: Callable[[int], None] = lambda n: None) -> tuple[list[str], list[float]]:
        """Labels and P(positive) of a chunk's items, in the chunk's order.

        The probabilities stay on the device until the chunk is done: one copy back per
        chunk, not one per batch, so the GPU never waits for the host between batches.
        """
        import torch

        outputs = []
        with torch.inference_mode(), autocast(self.device, self.precision):
            for positions, cpu_batch in chunk.batches:
                batch = {k: v.to(self.device, non_blocking=True) for k, v in cpu_batch.items()}
                outputs.append(torch.softmax(self.model(**batch).logits.float(), dim=-1))
                advance(len(positions))
        labels: list[str] = [""] * len(chunk.ids)
        probs: list[float] = [0.0] * len(chunk.ids)
        if not outputs:
            return labels, probs
        p = torch.cat(outputs).cpu()
        best, positive = p.argmax(-1).tolist(), p[:, self.positive].tolist()
        order = [i for positions, _ in chunk.batches for i in positions]
        for row, i in enumerate(order):
            labels[i] = self.categories[best[row]]
            probs[i] = positive[row]
        return labels, probs

    def predict_texts(self, texts: list[str]) -> tuple[list[str], list[float]]:
        """Labels and P(positive) of `texts`, in order (no database involved)."""
        return self.predict(Chunk([str(i) for i in range(len(texts))], self.batches(texts)))
