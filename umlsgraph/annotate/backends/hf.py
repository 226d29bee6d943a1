"""Hugging Face transformers backend: ``--llm hf:MODEL`` (a local folder, a hub name, or a
``.gguf`` file, loaded through transformers' `gguf_file`).

Two modes:

- ``generate`` (default): batched greedy generation with left padding and the model's chat
  template (system message and few-shot examples as chat turns); answers are parsed.
- ``constrained``: one forward pass per item, comparing the next-token log-likelihoods of
  each category's answer words; never unparseable, and the stored score is the
  probability of the query's positive category.

Loaded models are cached per (model, device) in the process, so several runs (or both modes)
share one load.
"""

from __future__ import annotations

import contextlib
import functools
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from umlsgraph.annotate.backends.base import Annotator, AnnotatorOptions, Prompt, Reply
from umlsgraph.annotate.parsing import answer_word
from umlsgraph.errors import ModelError, missing_extra
from umlsgraph.inference.device import amp_dtype
from umlsgraph.query import Query

_LOADED: dict[tuple[str, str], tuple[Any, Any]] = {}


def cache_argument(model: Any) -> str:
    """`cache` or `past_key_values`, whichever this transformers' forward takes."""
    import inspect

    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


class HFAnnotator(Annotator):
    """Local inference with transformers, on CPU or GPU."""

    backend = "hf"
    modes = ("generate", "constrained")
    default_batch_size = 16

    def __init__(self, model: str, options: AnnotatorOptions | None = None) -> None:
        super().__init__(model, options)
        self.source = resolve_model(model)
        self._tokens: dict[str, list[int]] = {}
        #: Constrained mode runs the prompt part shared by every item (system, few-shot
        #: turns, the question up to the item) once and reuses its KV cache.
        self.prefix_cache = True
        self._prefix: tuple[list[int], Any] | None = None

    def setup(self, query: Query) -> None:
        super().setup(query)
        self.lm, self.tokenizer = load(self.source, self.options.device)
        self._cache_arg = cache_argument(self.lm)
        self._prefix = None
        if self.mode == "constrained":
            self._tokens = category_tokens(self.tokenizer, query.labels)

    def preview(self, prompt: Prompt) -> dict[str, Any]:
        """The messages and the prompt string the model's chat template makes of them."""
        tokenizer = self.offline_tokenizer()
        return {"messages": list(prompt.messages),
                "text": chat_text(tokenizer, prompt.messages) if tokenizer else None}

    def offline_tokenizer(self) -> Any | None:
        return load_tokenizer(self.source)

    def answer(self, prompts: Sequence[Prompt]) -> list[Reply | str]:
        texts = [chat_text(self.tokenizer, p.messages) for p in prompts]
        if self.mode == "constrained":
            return self._replies(self._category_probs(texts))
        return self._generate(texts)

    def _generate(self, texts: list[str]) -> list[Reply | str]:
        """Batched generation (greedy unless `do_sample`), through the prefix cache."""
        import torch

        ids = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        sampling: dict[str, Any] = {"do_sample": self.options.do_sample}
        if not self.options.do_sample:
            sampling.update(temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            inputs = self._inputs(ids)
            out = self.lm.generate(**inputs, max_new_tokens=self.options.max_new_tokens,
                                   pad_token_id=self.tokenizer.pad_token_id, **sampling)
        new = out[:, inputs["input_ids"].shape[1]:]
        return [t.strip() for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]

    def _category_probs(self, texts: list[str]) -> list[list[float]]:
        """Per text, the probability of each category's answer words as the next token,
        normalised over the categories (the full-vocabulary normaliser cancels out)."""
        import torch

        ids = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        with torch.inference_mode():
            logits = self._last_logits(ids).float()
            per_category = torch.stack([torch.logsumexp(logits[:, tok], dim=-1)
                                        for tok in self._tokens.values()], dim=-1)
            return torch.softmax(per_category, dim=-1).cpu().tolist()

    def _last_logits(self, ids: list[list[int]]) -> Any:
        """Next-token logits after each sequence (one forward pass for the batch)."""
        inputs = self._inputs(ids)
        cached = inputs.get(self._cache_arg)
        if cached is not None:
            start = cached.get_seq_length()
            mask = inputs["attention_mask"]
            inputs["input_ids"] = inputs["input_ids"][:, start:]
            inputs["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)[:, start:]
        return self.lm(**inputs, use_cache=cached is not None,
                       logits_to_keep=1).logits[:, -1, :]

    def _inputs(self, ids: list[list[int]]) -> dict[str, Any]:
        """Model inputs for a batch: left-padded ids and mask, plus a copy of the shared
        prefix's KV cache when every sequence starts with that prefix. With the cache the
        padding goes between prefix and item ([prefix][pad…][item]), so the prefix tokens
        keep the positions they were cached at and every row still ends at the last one."""
        import copy

        import torch

        prefix, cache = self._shared_prefix() if self.prefix_cache else ([], None)
        n = len(prefix)
        if cache is None or not all(len(i) > n and i[:n] == prefix for i in ids):
            batch = self.tokenizer.pad({"input_ids": ids}, padding=True, return_tensors="pt")
            return dict(batch.to(self.lm.device))
        tail = self.tokenizer.pad({"input_ids": [i[n:] for i in ids]}, padding=True,
                                  return_tensors="pt").to(self.lm.device)
        head = torch.tensor([prefix] * len(ids), device=self.lm.device)
        past = copy.deepcopy(cache)
        past.batch_repeat_interleave(len(ids))
        return {"input_ids": torch.cat([head, tail["input_ids"]], dim=1),
                "attention_mask": torch.cat([torch.ones_like(head), tail["attention_mask"]],
                                            dim=1),
                self._cache_arg: past}

    def _shared_prefix(self) -> tuple[list[int], Any]:
        """The token ids every prompt of this query starts with, and their KV cache."""
        if self._prefix is None:
            assert self.query is not None
            from umlsgraph.annotate.backends.base import chat_messages

            a, b = (self.tokenizer(chat_text(self.tokenizer, chat_messages(self.query, t)),
                                   add_special_tokens=False)["input_ids"]
                    for t in ("alpha", "zeta omega"))
            common = 0
            while common < min(len(a), len(b)) and a[common] == b[common]:
                common += 1
            prefix = a[:max(0, common - 2)]  # back off: tokens next to the item may merge
            self._prefix = (prefix, self._prefill(prefix) if len(prefix) >= 8 else None)
        return self._prefix

    def _prefill(self, prefix: list[int]) -> Any:
        import torch

        with torch.inference_mode():
            ids = torch.tensor([prefix], device=self.lm.device)
            out = self.lm(input_ids=ids, use_cache=True, logits_to_keep=1)
        return getattr(out, "cache", None) or out.past_key_values

    def _replies(self, probs: list[list[float]]) -> list[Reply | str]:
        assert self.query is not None
        categories = list(self._tokens)
        positive = categories.index(self.query.positive)
        replies: list[Reply | str] = []
        for row in probs:
            best = categories[max(range(len(row)), key=row.__getitem__)]
            replies.append(Reply(answer_word(self.query.labels, best), row[positive], best))
        return replies


def resolve_model(model: str) -> tuple[str, str | None]:
    """(folder or hub name, gguf file name or None); a missing local path is a ModelError."""
    path = Path(model).expanduser()
    if model.lower().endswith(".gguf"):
        if not path.is_file():
            raise ModelError(f"{model}: no such GGUF file")
        return str(path.parent), path.name
    if path.exists():
        return str(path), None
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise ModelError(f"{model}: no such model folder; pass a local folder, a .gguf file "
                         "or a Hugging Face hub name (org/model)")
    return model, None


def load(source: tuple[str, str | None], device: str = "auto") -> tuple[Any, Any]:
    """(model, tokenizer) for a causal LM, loaded once per process and device."""
    device = resolve_device(device)
    key = (f"{source[0]}::{source[1]}", device)
    if key not in _LOADED:
        _LOADED[key] = _load(source, device)
    return _LOADED[key]


_TOKENIZERS: dict[str, Any] = {}


def load_tokenizer(source: tuple[str, str | None]) -> Any | None:
    """The model's tokenizer alone (chat template included), without the weights; None
    when it cannot be loaded here (e.g. a hub name not in the offline cache)."""
    key = f"{source[0]}::{source[1]}"
    loaded = [tok for k, (_, tok) in _LOADED.items() if k[0] == key]
    if loaded:
        return loaded[0]
    if key not in _TOKENIZERS:
        try:
            from transformers import AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
            kwargs: dict[str, Any] = {"gguf_file": source[1]} if source[1] else {}
            with _no_tqdm():
                _TOKENIZERS[key] = AutoTokenizer.from_pretrained(source[0], **kwargs)
        except (ImportError, OSError, ValueError, KeyError):
            _TOKENIZERS[key] = None
    return _TOKENIZERS[key]


def _load(source: tuple[str, str | None], device: str) -> tuple[Any, Any]:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise missing_extra("transformers", "ml") from None
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    folder, gguf = source
    kwargs: dict[str, Any] = {"gguf_file": gguf} if gguf else {}
    # bf16 on a GPU that has it, fp16 on one that has not (bf16 there is emulated or fails)
    dtype = amp_dtype(device) or torch.float32
    # on a GPU, load straight onto it rather than through host memory
    placement = {"device_map": device} if device.startswith("cuda") else {}
    try:
        with _no_tqdm():  # transformers' GGUF converter draws its own bar
            tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, **kwargs,
                                                         **placement)
    except (OSError, ValueError, KeyError, ImportError, EOFError, RuntimeError,
            struct.error) as exc:
        # a truncated GGUF fails deep in the reader with struct.error/EOFError
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        hint = "; is the file complete? download it again" if gguf and isinstance(
            exc, struct.error | EOFError) else ""
        raise ModelError(f"{gguf or folder}: cannot load as a causal language model "
                         f"({first[:200]}){hint}") from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device).eval(), tokenizer  # type: ignore[arg-type]


@contextlib.contextmanager
def _no_tqdm() -> Iterator[None]:
    """Silence the tqdm bar of transformers' GGUF converter (it ignores hf logging)."""
    try:
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # pragma: no cover - a transformers without GGUF support
        yield
        return
    original = getattr(gguf_utils, "tqdm", None)
    if original is not None:
        gguf_utils.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        if original is not None:
            gguf_utils.tqdm = original


def resolve_device(name: str = "auto") -> str:
    """'auto' -> cuda when available, else cpu; a CUDA device that is absent is an error."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"--device {name}: CUDA is not available here; use --device cpu")
    return name


def chat_text(tokenizer: Any, messages: Sequence[dict[str, str]]) -> str:
    """The prompt string: the model's chat template, or a plain transcript without one."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(list(messages), add_generation_prompt=True,
                                             tokenize=False)
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join(lines) + "\n\nAssistant:"


def category_tokens(tokenizer: Any, labels: dict[str, tuple[str, ...]]) -> dict[str, list[int]]:
    """Per category, the first tokens of its answer words (as typed, capitalised, upper
    case, with and without a leading space). A token two categories share is dropped."""
    owner: dict[int, set[str]] = {}
    for category, words in labels.items():
        for word in words or (category,):
            for variant in {word, word.capitalize(), word.upper(), " " + word,
                            " " + word.capitalize()}:
                ids = tokenizer.encode(variant, add_special_tokens=False)
                if ids:
                    owner.setdefault(ids[0], set()).add(category)
    tokens = {c: sorted(t for t, cs in owner.items() if cs == {c}) for c in labels}
    empty = [c for c, ids in tokens.items() if not ids]
    if empty:
        raise ModelError(f"--mode constrained: the answer words of {empty} share their first "
                         "token with another category; use distinct answer words")
    return tokens
