"""The input pipeline of `label`: keep the model busy while the next chunks are prepared.

Three stages overlap:

1. **render** (a thread of this process, with its own DuckDB cursor): the next chunk's ids
   are read from the todo table and their texts rendered by SQL into an Arrow table; DuckDB
   releases the GIL while it works. Only this process may open the store, so this stays here.
2. **prepare** (`umlsgraph.label.prepare`): tokenize with the fast tokenizer's batch API,
   sort by token length, pad each batch to its own longest item, as numpy arrays. With
   `workers=0` it runs in the render thread (one chunk ahead, what a CPU wants: its cores
   are busy with the model); with `workers=N` in N worker processes (the default on CUDA:
   no GIL shared with the thread that launches the GPU work) or, with `kind="thread"`, N
   threads. Up to N+1 chunks are prepared ahead, no more (memory stays bounded).
3. **forward** (the calling thread): each batch goes from pinned memory to the device with a
   non-blocking copy; at most `IN_FLIGHT` forward passes are queued on the GPU, waited for
   on CUDA events (which release the GIL). A chunk's probabilities come back in one
   non-blocking copy, and the chunk is written (its own transaction) only after the next
   chunk's batches have been launched, so the GPU computes while DuckDB writes.

Worker processes ignore Ctrl-C (the parent stops them) and exit by themselves when the
parent is gone, even after a kill -9: no orphan is left either way. They are started with
"spawn" (no fork of a process that holds CUDA and DuckDB threads), so a script that calls
`label()` with worker processes needs Python's `if __name__ == "__main__":` guard, as every
multiprocessing script does; the CLI has it.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb

from umlsgraph.db import prediction_store
from umlsgraph.db.items import ItemSource
from umlsgraph.errors import ModelError
from umlsgraph.inference.device import autocast
from umlsgraph.label.prepare import (
    Batch,
    FastPreparer,
    Preparer,
    TransformersPreparer,
    chunk_texts,
    init_worker,
    prepare_in_worker,
    spec_of,
)
from umlsgraph.progress import progress_bar
from umlsgraph.query import Query

if TYPE_CHECKING:
    from umlsgraph.inference.model import EncoderModel

#: Forward passes queued on the GPU at most: enough that it never waits for Python, few
#: enough that the launching thread blocks on an event (GIL released), not in the driver.
IN_FLIGHT = 6
#: Worker processes on CUDA by default: tokenizing runs ~40k items/s per worker, so four
#: keep ahead of a BERT-base forward pass on an H200 (~55k items/s) with cores to spare.
CUDA_WORKERS = 4
KINDS = ("process", "thread")


def default_workers(device: str) -> int:
    """0 off CUDA (the model already uses every core), else up to `CUDA_WORKERS`."""
    if not device.startswith("cuda"):
        return 0
    return max(1, min(CUDA_WORKERS, (os.cpu_count() or 2) - 2))


def run(con: duckdb.DuckDBPyConnection, todo_table: str, query: Query, source: ItemSource,
        labeller: EncoderModel, todo: int, chunk_size: int, progress: bool,
        on_chunk: Callable[[int], None] | None, workers: int | None = None,
        kind: str = "process") -> int:
    """Label the `todo` items of `todo_table` (id, rn) chunk by chunk; returns the number
    written. Each chunk is committed in its own transaction, then `on_chunk(written)`."""
    n_workers = default_workers(labeller.device) if workers is None else workers
    if n_workers < 0 or kind not in KINDS:
        raise ModelError(f"--workers {workers} ({kind}): give 0 or more worker "
                         f"{' or '.join(KINDS)}es")
    feed = Feed(con, todo_table, query, source, labeller, todo, chunk_size, n_workers, kind)
    forward = Forward(labeller)
    written = 0
    previous: Launched | None = None
    with feed, progress_bar("labelling", todo, progress, unit="items") as bar:
        for _ in range(0, todo, chunk_size):
            ids, batches = feed.next()
            try:
                current = forward.launch(ids, batches, bar.advance)
            except BaseException:
                if previous is not None:  # computed already: keep it
                    written = _store(con, query, source, labeller, forward, previous, written,
                                     on_chunk)
                raise
            if previous is not None:
                written = _store(con, query, source, labeller, forward, previous, written,
                                 on_chunk)
            previous = current
        if previous is not None:
            written = _store(con, query, source, labeller, forward, previous, written, on_chunk)
    return written


def _store(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
           labeller: EncoderModel, forward: Forward, launched: Launched, written: int,
           on_chunk: Callable[[int], None] | None) -> int:
    """Wait for a chunk's probabilities, write them in one transaction, report."""
    labels, probs = forward.finish(launched)
    prediction_store.write(con, query.name, source.key, labeller.model_id, launched.ids,
                           labels, probs)
    written += len(launched.ids)
    if on_chunk:
        on_chunk(written)
    return written


# ------------------------------------------------------------------------- render + prepare


def chunk_ids(con: duckdb.DuckDBPyConnection, todo_table: str, start: int, size: int) -> Any:
    """The ids of one chunk of the todo table, as an Arrow table (at most `size` rows)."""
    return con.sql(f"SELECT CAST(id AS VARCHAR) AS id FROM {todo_table} "
                   "WHERE rn > ? AND rn <= ? ORDER BY rn",
                   params=[start, start + size]).to_arrow_table()


class Feed:
    """Prepared chunks in order, with up to `workers + 1` of them under way."""

    def __init__(self, con: duckdb.DuckDBPyConnection, todo_table: str, query: Query,
                 source: ItemSource, labeller: EncoderModel, todo: int, chunk_size: int,
                 workers: int, kind: str) -> None:
        self.con, self.todo_table, self.todo, self.chunk_size = con, todo_table, todo, chunk_size
        self.sql = source.texts_sql(query, "SELECT id FROM _chunk_ids")
        self.reader = con.cursor()
        self.renderer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="label-render")
        self.pending: deque[Future[Any]] = deque()
        self.start = 0
        self.preparer, self.pool = _workers(labeller, workers, kind)
        self.depth = workers + 1

    def __enter__(self) -> Feed:
        for _ in range(self.depth):
            self._submit()
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        for future in self.pending:
            future.cancel()
        self.renderer.shutdown(wait=True, cancel_futures=True)
        self.reader.close()
        if self.pool is not None:
            _stop(self.pool, failed=error is not None)

    def next(self) -> tuple[list[str], list[Batch]]:
        """The next chunk's ids and batches (waits for it; queues the one after)."""
        ids, batches = self.pending.popleft().result()
        if isinstance(batches, Future):
            batches = batches.result()
        self._submit()
        return ids, batches

    def _submit(self) -> None:
        """Queue the next chunk, if any is left, for rendering and preparing."""
        if self.start >= self.todo:
            return
        table = chunk_ids(self.con, self.todo_table, self.start, self.chunk_size)
        self.start += self.chunk_size
        self.pending.append(self.renderer.submit(self._render, table))

    def _render(self, table: Any) -> tuple[list[str], Any]:
        """In the render thread: the chunk's texts from DuckDB, then prepared or dispatched."""
        ids = [str(i) for i in table.column(0).to_pylist()]
        self.reader.register("_chunk_ids", table)
        try:
            rendered = self.reader.sql(self.sql).to_arrow_table()
        finally:
            self.reader.unregister("_chunk_ids")
        if self.pool is None:
            return ids, self.preparer(chunk_texts(ids, rendered))
        if isinstance(self.pool, ProcessPoolExecutor):
            return ids, self.pool.submit(prepare_in_worker, ids, rendered)
        return ids, self.pool.submit(lambda: self.preparer(chunk_texts(ids, rendered)))


def _workers(labeller: EncoderModel, workers: int, kind: str) -> tuple[Preparer, Executor | None]:
    """The in-process preparer, and the pool that runs it elsewhere (None for workers=0)."""
    spec = spec_of(labeller.tokenizer, labeller.max_length, labeller.pad_id,
                   labeller.batch_size, labeller.bucketing)
    if spec is None:  # no Rust backend to hand to a process: transformers, in this one
        preparer: Preparer = TransformersPreparer(labeller.tokenizer, labeller.max_length,
                                                  labeller.pad_id, labeller.batch_size,
                                                  labeller.bucketing)
    else:
        preparer = FastPreparer(spec)
    if workers == 0:
        return preparer, None
    if kind == "thread" or spec is None:
        return preparer, ThreadPoolExecutor(workers, thread_name_prefix="label-prepare")
    spawn = multiprocessing.get_context("spawn")  # no fork of a process holding CUDA/DuckDB
    return preparer, ProcessPoolExecutor(workers, mp_context=spawn, initializer=init_worker,
                                         initargs=(spec, os.getpid()))


def _stop(pool: Executor, failed: bool) -> None:
    """Shut the pool down; after an error or Ctrl-C, end its worker processes at once."""
    if not failed or not isinstance(pool, ProcessPoolExecutor):
        pool.shutdown(wait=True, cancel_futures=True)
        return
    # Python < 3.14 has no public terminate_workers(); the pool's process table it is.
    processes = list(getattr(pool, "_processes", {}).values())
    # A chunk still being fed to the workers' pipe must not hold up the exit: once they are
    # gone nobody reads it, and the queue's feeder thread would block the interpreter's
    # shutdown on it (the class of hang CPython gh-94777 and gh-107219 are about).
    calls = getattr(pool, "_call_queue", None)
    if calls is not None:
        calls.cancel_join_thread()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():  # ignored SIGTERM while stuck: no orphan either way
            process.kill()
            process.join(timeout=5)


# ----------------------------------------------------------------------------------- forward


@dataclass
class Launched:
    """A chunk whose forward passes are queued: its ids, the row order of `host`, and the
    probabilities on their way back (complete once `ready` has fired)."""

    ids: list[str]
    order: list[int]
    host: Any
    ready: Any


class Forward:
    """Runs prepared batches through the labeller's model on its device."""

    def __init__(self, labeller: EncoderModel) -> None:
        import torch

        self.torch, self.labeller = torch, labeller
        self.device = labeller.device
        self.cuda = self.device.startswith("cuda")
        self.token_types = "token_type_ids" in getattr(labeller.tokenizer, "model_input_names",
                                                       [])
        self.queued: deque[Any] = deque()

    def launch(self, ids: list[str], batches: list[Batch],
               advance: Callable[[int], None]) -> Launched:
        """Queue every batch of a chunk (on a CPU: compute them) and the copy back."""
        torch, labeller = self.torch, self.labeller
        outputs = []
        with torch.inference_mode(), autocast(self.device, labeller.precision):
            for batch in batches:
                logits = labeller.model(**self._inputs(batch)).logits
                outputs.append(torch.softmax(logits.float(), dim=-1))
                self._pace()
                advance(len(batch.positions))
            order = [i for batch in batches for i in batch.positions]
            if not outputs:
                return Launched(ids, order, None, None)
            return Launched(ids, order, *self._to_host(torch.cat(outputs)))

    def finish(self, launched: Launched) -> tuple[list[str], list[float]]:
        """Labels and P(positive) in the chunk's order (waits for the copy back)."""
        labels: list[str] = [""] * len(launched.ids)
        probs: list[float] = [0.0] * len(launched.ids)
        if launched.host is None:
            return labels, probs
        if launched.ready is not None:
            launched.ready.synchronize()
        p = launched.host
        best, positive = p.argmax(-1).tolist(), p[:, self.labeller.positive].tolist()
        categories = self.labeller.categories
        for row, i in enumerate(launched.order):
            labels[i] = categories[best[row]]
            probs[i] = positive[row]
        return labels, probs

    def _inputs(self, batch: Batch) -> dict[str, Any]:
        torch = self.torch
        tensors = {"input_ids": torch.from_numpy(batch.input_ids),
                   "attention_mask": torch.from_numpy(batch.attention_mask)}
        if self.cuda:
            tensors = {k: v.pin_memory().to(self.device, non_blocking=True)
                       for k, v in tensors.items()}
        elif self.device != "cpu":
            tensors = {k: v.to(self.device) for k, v in tensors.items()}
        if self.token_types:
            tensors["token_type_ids"] = torch.zeros_like(tensors["input_ids"])
        return tensors

    def _pace(self) -> None:
        """On CUDA, wait (GIL released) while more than `IN_FLIGHT` passes are queued."""
        if not self.cuda:
            return
        event = self.torch.cuda.Event()
        event.record()
        self.queued.append(event)
        while len(self.queued) > IN_FLIGHT:
            self.queued.popleft().synchronize()

    def _to_host(self, p: Any) -> tuple[Any, Any]:
        """(host tensor, event): a non-blocking copy into pinned memory on CUDA."""
        torch = self.torch
        if not self.cuda:
            return p.cpu(), None
        host = torch.empty(p.shape, dtype=p.dtype, pin_memory=True)
        host.copy_(p, non_blocking=True)
        ready = torch.cuda.Event()
        ready.record()
        return host, ready
