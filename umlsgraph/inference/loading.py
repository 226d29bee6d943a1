"""Loading a sequence-classification encoder: a umlsgraph model folder or a base model.

torch and transformers are imported inside the functions that need them; a missing one is
the one-line 'install the extra' error.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from umlsgraph.errors import ModelError, missing_extra


def require_ml() -> None:
    """Raise the one-line 'install the extra' error when torch or transformers is missing."""
    for package in ("torch", "transformers"):
        try:
            __import__(package)
        except ImportError:
            raise missing_extra(package, "ml") from None


def quiet_transformers() -> None:
    """Silence transformers' load reports and download bars; umlsgraph shows its own."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def looks_like_path(name: str) -> bool:
    """True when `name` is meant as a local folder rather than a hub name like `org/model`."""
    windows_path = os.sep != "/" and os.sep in name
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or windows_path


def check_source(name: str | Path) -> str:
    """The model name as a string; a local path that does not exist is a one-line error."""
    text = str(name)
    if Path(text).expanduser().exists():
        return str(Path(text).expanduser())
    if looks_like_path(text):
        raise ModelError(f"{text}: no such model folder; pass a local checkpoint folder or a "
                         "Hugging Face hub name with --base-model")
    return text


def load_classifier(name: str | Path, categories: Sequence[str] | None = None) -> tuple[Any, Any]:
    """Load (model, tokenizer) from a folder or hub name.

    With `categories`, the classification head is (re)built for them; without, the folder's
    own head and label map are kept (a umlsgraph model folder).
    """
    require_ml()
    quiet_transformers()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = check_source(name)
    kwargs: dict[str, Any] = {}
    if categories is not None:
        kwargs = {"num_labels": len(categories), "ignore_mismatched_sizes": True,
                  "id2label": dict(enumerate(categories)),
                  "label2id": {c: i for i, c in enumerate(categories)}}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForSequenceClassification.from_pretrained(source, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{source}: cannot load as a sequence-classification encoder "
                         f"({first[:200]})") from None
    return model, tokenizer
