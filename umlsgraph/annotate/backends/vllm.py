"""vLLM offline batch inference: ``--llm vllm:MODEL`` (needs a GPU and ``umlsgraph[vllm]``).

A thin layer over vLLM's documented API: `vllm.LLM` with `tensor_parallel_size`,
`LLM.chat` (the model's chat template) with greedy `SamplingParams`. ``--mode constrained``
restricts the answer to the query's answer words with vLLM's structured outputs
(`StructuredOutputsParams(choice=...)`; `GuidedDecodingParams` on vLLM < 0.11), so every
answer parses. vLLM batches and schedules internally, so a large `--batch-size` (e.g. 512)
is best; each batch is still written to the store before the next is asked.

Every request asks for the top `TOP_LOGPROBS` log-probabilities of each generated token
(`SamplingParams(logprobs=N)`; vLLM returns, per token, a dict token id -> `Logprob` with
`logprob` and `decoded_token`), from which the annotator's P(positive) is stored as the
score (`parsing.positive_probability`), for `umlsgraph audit`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from umlsgraph.annotate.backends.base import Annotator, AnnotatorOptions, Prompt, Reply
from umlsgraph.annotate.parsing import TokenLogprobs, positive_probability
from umlsgraph.errors import ModelError, missing_extra
from umlsgraph.query import Query

_LOADED: dict[tuple[str, int], Any] = {}
TOP_LOGPROBS = 5


class VLLMAnnotator(Annotator):
    """Offline vLLM engine in this process."""

    backend = "vllm"
    modes = ("generate", "constrained")
    default_batch_size = 512

    def __init__(self, model: str, options: AnnotatorOptions | None = None) -> None:
        super().__init__(model, options)
        if importlib.util.find_spec("vllm") is None:
            raise missing_extra("vllm", "vllm")
        from umlsgraph.annotate.backends.hf import resolve_model

        folder, gguf = resolve_model(model)  # a missing local path fails here, one line
        self.source = f"{folder}/{gguf}" if gguf else folder

    def setup(self, query: Query) -> None:
        super().setup(query)
        self.llm = load(self.source, self.options.tensor_parallel)
        self.params = self._sampling_params(query)

    def _sampling_params(self, query: Query) -> Any:
        from vllm import SamplingParams

        kwargs: dict[str, Any] = {"temperature": 0.0, "max_tokens": self.options.max_new_tokens,
                                  "logprobs": TOP_LOGPROBS}
        if self.mode != "constrained":
            return SamplingParams(**kwargs)
        choices = sorted({w for words in query.labels.values() for w in words})
        try:
            from vllm.sampling_params import StructuredOutputsParams
        except ImportError:  # vLLM < 0.11
            from vllm.sampling_params import GuidedDecodingParams

            return SamplingParams(guided_decoding=GuidedDecodingParams(choice=choices), **kwargs)
        return SamplingParams(structured_outputs=StructuredOutputsParams(choice=choices),
                              **kwargs)

    def preview(self, prompt: Prompt) -> dict[str, Any]:
        """`LLM.chat` applies the model's chat template: the same string as `hf` shows."""
        from umlsgraph.annotate.backends.hf import chat_text

        tokenizer = self.offline_tokenizer()
        return {"messages": list(prompt.messages),
                "text": chat_text(tokenizer, prompt.messages) if tokenizer else None}

    def offline_tokenizer(self) -> Any | None:
        from umlsgraph.annotate.backends.hf import load_tokenizer, resolve_model

        return load_tokenizer(resolve_model(self.model))

    @property
    def answer_tokens(self) -> int:
        return self.options.max_new_tokens  # constrained decoding still generates the word

    def answer(self, prompts: Sequence[Prompt]) -> list[Reply | str]:
        conversations = [list(p.messages) for p in prompts]
        outputs = self.llm.chat(conversations, self.params, use_tqdm=False)
        assert self.query is not None
        return [Reply(o.outputs[0].text.strip(),
                      positive_probability(token_logprobs(o.outputs[0]), self.query.labels,
                                           self.query.positive))
                for o in outputs]


def token_logprobs(completion: Any) -> list[TokenLogprobs]:
    """A vLLM `CompletionOutput`'s tokens as (text, logprob, alternatives); empty without
    logprobs."""
    steps = getattr(completion, "logprobs", None) or []
    out: list[TokenLogprobs] = []
    for token_id, step in zip(completion.token_ids, steps, strict=False):
        chosen = step.get(token_id)
        if chosen is None:
            continue
        alternatives = [(a.decoded_token or "", float(a.logprob)) for a in step.values()]
        out.append((chosen.decoded_token or "", float(chosen.logprob), alternatives))
    return out


def load(model: str, tensor_parallel: int = 1) -> Any:
    """A `vllm.LLM` for `model`, created once per process."""
    try:
        from vllm import LLM
    except ImportError:
        raise missing_extra("vllm", "vllm") from None
    key = (model, tensor_parallel)
    if key not in _LOADED:
        try:
            _LOADED[key] = LLM(model=model, tensor_parallel_size=tensor_parallel)
        except (OSError, ValueError, RuntimeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(f"{model}: vLLM cannot load it ({first[:200]})") from None
    return _LOADED[key]
