"""Turn one chunk of texts into length-bucketed, padded batches of token ids (numpy arrays).

This is the CPU half of labelling: tokenizing with the fast tokenizer's batch API (Rust,
which releases the GIL), sorting by token length, and padding each batch to its own longest
item. It imports neither torch nor DuckDB, so it runs as well in a worker process (started by
`umlsgraph.label.pipeline`, handed the tokenizer as its JSON) as in a thread of the labelling
process. The batches are exactly those of `EncoderModel.batches`: same ids, same grouping.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from umlsgraph.inference.tokens import encode, length_batches


@dataclass(frozen=True)
class Batch:
    """One padded batch: the chunk positions of its rows, token ids and attention mask."""

    positions: list[int]
    input_ids: np.ndarray
    attention_mask: np.ndarray


@dataclass(frozen=True)
class TokenizerSpec:
    """Everything a worker process needs to tokenize as the labeller does (picklable)."""

    tokenizer_json: str
    max_length: int
    truncation_side: str
    pad_id: int
    batch_size: int
    bucketing: bool


def pad_rows(rows: Sequence[Sequence[int]], positions: list[int], pad_id: int) -> Batch:
    """Right-pad `rows` to the longest of them; the mask marks the real tokens."""
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    width = int(lengths.max())
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
    mask = (np.arange(width) < lengths[:, None]).astype(np.int64)
    return Batch(positions, ids, mask)


def group(lengths: Sequence[int], batch_size: int, bucketing: bool) -> list[list[int]]:
    """Batches of chunk positions: by token length (longest first) or in the chunk's order."""
    if bucketing:
        return length_batches(lengths, batch_size)
    return [list(range(i, min(i + batch_size, len(lengths))))
            for i in range(0, len(lengths), batch_size)]


class FastPreparer:
    """Tokenizes with the `tokenizers` backend directly (no transformers in the loop)."""

    def __init__(self, spec: TokenizerSpec) -> None:
        from tokenizers import Tokenizer

        self.spec = spec
        self.tokenizer = Tokenizer.from_str(spec.tokenizer_json)
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(spec.max_length, direction=spec.truncation_side)
        self._encode = getattr(self.tokenizer, "encode_batch_fast", self.tokenizer.encode_batch)

    def __call__(self, texts: list[str]) -> list[Batch]:
        if not texts:
            return []
        encodings = self._encode(texts)
        rows = [e.ids for e in encodings]
        groups = group([len(r) for r in rows], self.spec.batch_size, self.spec.bucketing)
        return [pad_rows([rows[i] for i in g], g, self.spec.pad_id) for g in groups]


class TransformersPreparer:
    """The fallback for a tokenizer without a Rust backend: transformers' own call."""

    def __init__(self, tokenizer: Any, max_length: int, pad_id: int, batch_size: int,
                 bucketing: bool) -> None:
        self.tokenizer, self.max_length, self.pad_id = tokenizer, max_length, pad_id
        self.batch_size, self.bucketing = batch_size, bucketing

    def __call__(self, texts: list[str]) -> list[Batch]:
        rows = [e["input_ids"] for e in encode(self.tokenizer, texts, self.max_length)]
        groups = group([len(r) for r in rows], self.batch_size, self.bucketing)
        return [pad_rows([rows[i] for i in g], g, self.pad_id) for g in groups]


Preparer = Callable[[list[str]], list[Batch]]


def spec_of(tokenizer: Any, max_length: int, pad_id: int, batch_size: int,
            bucketing: bool) -> TokenizerSpec | None:
    """The worker spec of a transformers tokenizer; None when it has no fast backend."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    return TokenizerSpec(backend.to_str(), max_length,
                         str(getattr(tokenizer, "truncation_side", "right")), pad_id,
                         batch_size, bucketing)


def chunk_texts(ids: list[str], rendered: Any) -> list[str]:
    """The texts of `ids` in their order, from DuckDB's (id, text) Arrow table; '' if absent."""
    found = {str(i): t for i, t in zip(rendered.column(0).to_pylist(),
                                       rendered.column(1).to_pylist(), strict=True)}
    return [found.get(i) or "" for i in ids]


# ---------------------------------------------------------------------------- worker process

_PREPARER: FastPreparer | None = None


def init_worker(spec: TokenizerSpec, parent: int) -> None:
    """Worker start-up: build the tokenizer once, leave Ctrl-C to the parent (which stops the
    workers itself), and exit when the parent is gone (even after a kill -9)."""
    global _PREPARER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _PREPARER = FastPreparer(spec)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def prepare_in_worker(ids: list[str], rendered: Any) -> list[Batch]:
    """The task a worker process runs for one chunk."""
    if _PREPARER is None:
        raise RuntimeError("init_worker was not called in this process")
    return _PREPARER(chunk_texts(ids, rendered))
