"""Texts to model input: tokenize without padding, group by length, pad each batch to its own
longest item. Shared by training, labelling and in-memory prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def pad(encodings: Sequence[dict[str, list[int]]], pad_id: int, device: str) -> dict[str, Any]:
    """Pad one batch to its own longest item (dynamic padding, right side) on `device`.

    Plain torch, not `tokenizer.pad`, so a second thread may tokenize meanwhile.
    """
    import torch

    width = max(len(e["input_ids"]) for e in encodings)
    ids = [e["input_ids"] + [pad_id] * (width - len(e["input_ids"])) for e in encodings]
    mask = [[1] * len(e["input_ids"]) + [0] * (width - len(e["input_ids"])) for e in encodings]
    batch = {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}
    if "token_type_ids" in encodings[0]:
        batch["token_type_ids"] = torch.zeros_like(batch["input_ids"])
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def pad_id(tokenizer: Any) -> int:
    """The tokenizer's padding id (0 when it has none, as for some GPT-style vocabularies)."""
    value = tokenizer.pad_token_id
    return int(value) if value is not None else 0


def encode(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[dict[str, list[int]]]:
    """Tokenize without padding (one dict of lists per text), truncated to `max_length`."""
    if not texts:
        return []
    enc = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    return [{k: enc[k][i] for k in keys} for i in range(len(texts))]


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first (least padding)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
