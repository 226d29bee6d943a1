"""The model folder that `train` writes and `label`, `annotate --strategy` and `audit` read.

A umlsgraph model folder is a Hugging Face sequence-classification checkpoint
(`save_pretrained` + tokenizer) plus ``umlsgraph.json``, which says what the model answers
(query, categories, positive), how it was made (base model, annotator, training data hash,
config, validation curve) and how to render an item's text for it (text options). `label`
needs nothing else.

This module reads and writes that file only (plain JSON, no torch), so the stores in
`umlsgraph.db` can name a folder's model as well as the steps that load it.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from umlsgraph.errors import ModelError
from umlsgraph.query import Query, TextOptions

META_FILE = "umlsgraph.json"


def read_meta(model_dir: str | Path) -> dict[str, Any]:
    """The umlsgraph.json of a model folder; a folder without one is a one-line error."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such model folder; train one with `umlsgraph train`")
    path = folder / META_FILE
    if not path.is_file():
        raise ModelError(f"{folder}: not a umlsgraph model folder (no {META_FILE}); train one "
                         "with `umlsgraph train`")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: unreadable ({exc})") from None
    if not meta.get("complete"):
        raise ModelError(f"{folder}: training has not finished; re-run `umlsgraph train` with "
                         "the same --out to resume it")
    return meta


def write_meta(model_dir: Path, meta: dict[str, Any]) -> None:
    """Write umlsgraph.json atomically (a kill never leaves half a file)."""
    tmp = model_dir / (META_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, model_dir / META_FILE)


def model_key(model: str | Path) -> str:
    """The id predictions are stored under: a model folder's `model_id`, or the string itself."""
    folder = Path(model)
    if folder.is_dir():
        return str(read_meta(folder)["model_id"])
    return str(model)


def model_query(query: Query, meta: dict[str, Any], model_dir: str | Path,
                force: bool = False) -> Query:
    """The query with the text options the model was trained on; categories must match, and
    the model must have been trained for this query (unless forced)."""
    if meta["categories"] != query.categories:
        raise ModelError(f"{model_dir}: trained for categories {meta['categories']}, but query "
                         f"'{query.name}' has {query.categories}")
    trained_for = meta.get("query")
    if trained_for and trained_for != query.name and not force:
        raise ModelError(f"{model_dir}: trained for query '{trained_for}', not '{query.name}'; "
                         "train a model for this query, or pass --force to label with it anyway")
    return replace(query, text=TextOptions(**meta["text"])) if "text" in meta else query
