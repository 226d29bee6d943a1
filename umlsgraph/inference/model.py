"""A fine-tuned encoder loaded for inference: the model object of a umlsgraph model folder.

Like setfit's model object: `EncoderModel(folder)` loads it (on the best device, in half
precision on a GPU), `predict_proba(texts)` gives class probabilities, `embed(texts)`
sentence embeddings, and `batches` + `predict` are the two halves `label` streams through
(tokenize and pad on the CPU in one thread, predict on the device in another).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from umlsgraph.errors import ModelError
from umlsgraph.inference.device import amp_dtype, autocast, resolve_device
from umlsgraph.inference.loading import load_classifier
from umlsgraph.inference.tokens import encode, length_batches, pad, pad_id
from umlsgraph.model_folder import read_meta

#: Items per forward pass. Concept texts are short (~12 tokens), so on a GPU a batch of 256
#: is launch-bound (measured on an H200: 37.7k items/s forward, and the Python launching
#: competed with tokenization for the GIL); 1,024 gives each kernel 4x the work.
GPU_BATCH = 1024
CPU_BATCH = 64


@dataclass
class Chunk:
    """One chunk ready for the model: ids, and batches of (positions, padded CPU tensors)."""

    ids: list[str]
    batches: list[tuple[list[int], dict[str, Any]]]


class EncoderModel:
    """A loaded umlsgraph model folder: tokenizes texts, predicts (label, P(positive)) and
    class probabilities (`predict_proba`), and embeds (`embed`).

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

    def predict_proba(self, texts: list[str]) -> list[list[float]]:
        """Each text's probabilities of the model's categories (in its umlsgraph.json order).

        For a few thousand texts held in memory (an audit fold, an uncertainty pool); whole
        candidate sets go through `label`, which streams and stores.
        """
        import torch

        out: list[list[float]] = [[] for _ in texts]
        with torch.inference_mode(), autocast(self.device, self.precision):
            for positions, cpu_batch in self.batches(texts):
                batch = {k: v.to(self.device) for k, v in cpu_batch.items()}
                p = torch.softmax(self.model(**batch).logits.float(), dim=-1).cpu().tolist()
                for row, i in enumerate(positions):
                    out[i] = p[row]
        return out

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Each text's embedding by the model's encoder (last hidden layer, mean-pooled over
        tokens, L2-normalised), in order: for grouping similar items, e.g. a diverse
        annotation round."""
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
