"""Annotation backends, chosen by name with ``--llm BACKEND:MODEL``.

Built-in backends are registered exactly the way a plugin would register one
(`register_backend`), by a "module:Class" string, so nothing heavy is imported until a
backend is actually used. An unknown name fails with the list of known ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from umlsgraph.annotate.backends.base import (
    Annotator,
    AnnotatorOptions,
    Failure,
    Prompt,
    Reply,
    chat_messages,
    make_prompt,
)
from umlsgraph.errors import ModelError

__all__ = ["Annotator", "AnnotatorOptions", "Failure", "Prompt", "Reply", "chat_messages",
           "make_prompt", "BACKENDS", "register_backend", "create", "split_spec"]

Factory = Callable[[str, AnnotatorOptions], Annotator]

#: backend name -> "module:Class" (imported on first use) or a factory callable.
BACKENDS: dict[str, str | Factory] = {
    "hf": "umlsgraph.annotate.backends.hf:HFAnnotator",
    "vllm": "umlsgraph.annotate.backends.vllm:VLLMAnnotator",
    "openai": "umlsgraph.annotate.backends.openai:OpenAIAnnotator",
    "embed": "umlsgraph.annotate.backends.embed:EmbedAnnotator",
    "labels": "umlsgraph.annotate.backends.labels:LabelsAnnotator",
}

#: Backends whose MODEL part may be left out (they have a default model).
MODEL_OPTIONAL = {"embed"}


def register_backend(name: str, factory: str | Factory) -> None:
    """Make `--llm NAME:MODEL` use `factory` (a class, a callable or "module:Class")."""
    BACKENDS[name] = factory


def split_spec(spec: str) -> tuple[str, str]:
    """``"hf:/models/x"`` -> ``("hf", "/models/x")``; the model may itself contain colons."""
    backend, _, model = spec.partition(":")
    backend = backend.strip().lower()
    if backend not in BACKENDS:
        raise ModelError(f"unknown annotator backend '{backend}' in --llm {spec}; known: "
                         f"{', '.join(sorted(BACKENDS))} (e.g. --llm hf:PATH_OR_HUB_NAME)")
    if not model.strip() and backend not in MODEL_OPTIONAL:
        raise ModelError(f"--llm {spec} names no model; use --llm {backend}:MODEL")
    return backend, model.strip()


def create(spec: str, options: AnnotatorOptions | None = None) -> Annotator:
    """The annotator for an ``--llm BACKEND:MODEL`` spec (nothing is loaded yet)."""
    backend, model = split_spec(spec)
    factory = BACKENDS[backend]
    if isinstance(factory, str):
        module_name, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
    return factory(model, options or AnnotatorOptions())  # type: ignore[operator]
