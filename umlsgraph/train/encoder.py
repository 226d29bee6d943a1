"""The encoder model folder that `train` writes and `label` reads, and what both share.

A umlsgraph model folder is a Hugging Face sequence-classification checkpoint
(`save_pretrained` + tokenizer) plus ``umlsgraph.json``, which says what the model answers
(query, categories, positive), how it was made (base model, annotator, training data hash,
config, validation curve) and how to render an item's text for it (text options). `label`
needs nothing else.

torch and transformers are imported inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from umlsgraph.errors import ModelError, missing_extra
from umlsgraph.settings import PRECISIONS

META_FILE = "umlsgraph.json"

# OpenMP threads that spin while waiting make torch on CPU several times slower as soon as
# other processes share the cores (measured: 8.5 s vs 1.2 s per MiniLM step on a busy 2-core
# box). Set before torch is first imported; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


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


def resolve_device(name: str = "auto") -> str:
    """'auto' -> cuda when available, else mps, else cpu; anything else is checked and kept."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"--device {name}: CUDA is not available here; use --device cpu or auto")
    return name


#: What `precision` may be: "auto" is bf16 on a GPU that has it, else fp16; fp32 off CUDA.


def amp_dtype(device: str, precision: str = "auto") -> Any:
    """The half-precision dtype for `device`, or None for plain fp32.

    The one rule for training autocast, the GradScaler (on exactly when this is fp16) and
    labelling in half precision: on CUDA bf16 where the GPU supports it, else fp16; never on
    CPU or MPS, where half precision is slower or unsupported.
    """
    import torch

    if precision not in PRECISIONS:
        raise ModelError(f"--precision {precision}: choose from {', '.join(PRECISIONS)}")
    if not device.startswith("cuda") or precision == "fp32":
        return None
    if precision == "fp16":
        return torch.float16
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise ModelError("--precision bf16: this GPU has no bf16; use --precision fp16 or auto")
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: str, precision: str = "auto") -> contextlib.AbstractContextManager[Any]:
    """Autocast to `amp_dtype(device, precision)` on CUDA; a no-op elsewhere or in fp32."""
    import torch

    dtype = amp_dtype(device, precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)


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


class Progress:
    """What `progress_bar` yields: `advance(n)` moves the bar, `log(text)` prints above it."""

    def __init__(self, bar: Any = None, task: Any = None) -> None:
        self._bar, self._task = bar, task

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def log(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, highlight=False)


@contextlib.contextmanager
def progress_bar(description: str, total: int | None, enabled: bool = True,
                 unit: str = "items", completed: int = 0) -> Iterator[Progress]:
    """A rich progress bar with rate and ETA (nothing at all when not `enabled`)."""
    if not enabled:
        yield Progress()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress
    from rich.text import Text

    class Rate(TextColumn):
        def render(self, task: Any) -> Any:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.1f} {unit}/s" if speed else f"? {unit}/s")

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TaskProgressColumn(), Rate(""), TimeElapsedColumn(), TimeRemainingColumn()]
    from rich.console import Console

    with RichProgress(*columns, transient=False, console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=total, completed=completed)
        yield Progress(bar, task)
