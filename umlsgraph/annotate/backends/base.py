"""What every annotator is: a class with one core method that answers a batch of prompts.

The driver (`umlsgraph.annotate.driver.annotate`) owns everything else: sampling, batching,
progress, parsing, writing each batch to DuckDB as it arrives, and resuming. A backend only
says how to answer a batch (`Annotator.answer`), and optionally how to get ready for a query
(`setup`, e.g. load the model once, embed the category descriptions).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from umlsgraph.annotate.parsing import answer_word
from umlsgraph.errors import ModelError
from umlsgraph.query import Query


@dataclass(frozen=True)
class AnnotatorOptions:
    """Every backend's settings in one place; each backend reads the ones it knows."""

    mode: str | None = None
    device: str = "auto"
    max_new_tokens: int = 8
    tensor_parallel: int = 1
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 4
    timeout: float = 60.0
    max_retries: int = 5
    backoff: float = 1.0
    do_sample: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Prompt:
    """One item to ask about: its id, its text, and the chat messages that ask it."""

    id: str
    text: str
    messages: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class Reply:
    """One answer. `label` is set by backends that choose a category directly (constrained
    scoring, embeddings); otherwise the driver parses `raw`. `score` is P(positive) or a
    margin, when the backend has one."""

    raw: str
    score: float | None = None
    label: str | None = None


@dataclass(frozen=True)
class Failure:
    """An item the backend could not get an answer for (e.g. the server gave up): nothing is
    stored for it, so the next run asks it again."""

    reason: str


class Annotator(ABC):
    """Base class of the annotation backends. Subclasses implement `answer` only."""

    backend: ClassVar[str] = ""
    modes: ClassVar[tuple[str, ...]] = ("generate",)
    default_batch_size: ClassVar[int] = 16

    def __init__(self, model: str, options: AnnotatorOptions | None = None) -> None:
        self.model = model
        self.options = options or AnnotatorOptions()
        self.query: Query | None = None
        self.mode = self.options.mode or self.modes[0]
        if self.mode not in self.modes:
            raise ModelError(f"--mode {self.mode} is not supported by the '{self.backend}' "
                             f"backend; use one of: {', '.join(self.modes)}")

    @property
    def name(self) -> str:
        """The key answers are stored under: ``backend:model`` plus ``#mode`` when not the
        default, since a different mode gives different answers."""
        base = f"{self.backend}:{self.model}" if self.model else self.backend
        return base if self.mode == self.modes[0] else f"{base}#{self.mode}"

    def prompt_hash(self, query: Query) -> str:
        """The hash answers are keyed by: whatever changes this backend's answers."""
        return query.prompt_hash()

    def setup(self, query: Query) -> None:
        """Get ready to answer `query` (called once per run before the first batch)."""
        self.query = query

    def preview(self, prompt: Prompt) -> dict[str, Any]:
        """What this backend would send for `prompt`, built without loading a model or
        calling a server (`umlsgraph plan` shows it). Backends that format the messages
        into one string (a chat template) add it as `text`."""
        return {"messages": list(prompt.messages)}

    def offline_tokenizer(self) -> Any | None:
        """A tokenizer for exact token counts, loaded offline without the model; None when
        this backend has none (then `plan` states an approximation)."""
        return None

    @property
    def answer_tokens(self) -> int:
        """The most tokens one answer costs: `max_new_tokens` when generating, 0 when the
        backend scores the categories in one forward pass."""
        return self.options.max_new_tokens if self.mode == "generate" else 0

    @abstractmethod
    def answer(self, prompts: Sequence[Prompt]) -> Sequence[Reply | Failure | str | tuple]:
        """Answer a batch: one reply per prompt, in order (a str is a raw answer, a tuple is
        (raw, score))."""

    def secrets(self) -> tuple[str, ...]:
        """Values that must never be stored or shown, such as an API key: `ask` removes them
        from every answer and failure reason (a server may echo the key back)."""
        return ()

    def close(self) -> None:  # noqa: B027 - optional hook, deliberately empty
        """Release what `setup` took (servers, GPU memory); the default does nothing."""

    def ask(self, prompts: Sequence[Prompt]) -> list[Reply | Failure]:
        """`answer`, checked and normalised to `Reply`/`Failure` objects."""
        replies = self.answer(prompts)
        if len(replies) != len(prompts):
            raise ModelError(f"the {self.backend} backend returned {len(replies)} answers for "
                             f"{len(prompts)} prompts")
        secrets = tuple(s for s in self.secrets() if s)
        return [_redacted(_as_reply(r), secrets) for r in replies]


REDACTED = "***"


def redact(text: str, secrets: Sequence[str]) -> str:
    """`text` with every secret replaced by ***."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def _redacted(reply: Reply | Failure, secrets: tuple[str, ...]) -> Reply | Failure:
    if not secrets:
        return reply
    if isinstance(reply, Failure):
        return Failure(redact(reply.reason, secrets))
    raw = redact(reply.raw, secrets)
    return reply if raw == reply.raw else Reply(raw, reply.score, reply.label)


def _as_reply(value: Reply | Failure | str | tuple) -> Reply | Failure:
    if isinstance(value, (Reply, Failure)):
        return value
    if isinstance(value, tuple):
        raw, score = value
        return Reply(str(raw), None if score is None else float(score))
    return Reply(str(value))


def chat_messages(query: Query, text: str) -> tuple[dict[str, str], ...]:
    """The conversation that asks about `text`: system, few-shot turns, then the question.

    Few-shot examples become real chat turns (the question, then the category's first
    answer word as the assistant's reply), which is how instruct models learn a format.
    """
    messages: list[dict[str, str]] = []
    if query.system:
        messages.append({"role": "system", "content": query.system})
    for example in query.examples:
        messages.append({"role": "user", "content": query.render(example.text)})
        messages.append({"role": "assistant",
                         "content": answer_word(query.labels, example.label)})
    messages.append({"role": "user", "content": query.render(text)})
    return tuple(messages)


def make_prompt(query: Query, item_id: str, text: str) -> Prompt:
    """A `Prompt` for one item of `query`."""
    return Prompt(item_id, text, chat_messages(query, text))
