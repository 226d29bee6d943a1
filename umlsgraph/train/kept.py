"""Which epoch a trained model keeps, and which epoch scored best on validation: said once.

`keep="last"` (the default, see `settings.TrainConfig`) keeps the final epoch whatever its
validation score; `keep="best"` keeps the best-scoring one. The two can differ, so every
summary of a run (`train`'s printout, `run`'s step line, the report's training section) says
what was done through `describe`, never "best" for a model that is simply the last epoch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def validation_score(metrics: Mapping[str, Any]) -> tuple[float, float, float] | None:
    """The order epochs are compared in: positive-class F1, then macro F1, then lower loss.
    None for an epoch without validation."""
    if "f1" not in metrics:
        return None
    return (float(metrics.get("f1", 0.0)), float(metrics.get("f1_macro", 0.0)),
            -float(metrics.get("loss", 0.0)))


def best_validated(history: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The epoch record that scored best on validation (the first of equals), or None."""
    best, best_score = None, None
    for record in history:
        score = validation_score(record)
        if score is not None and (best_score is None or score > best_score):
            best, best_score = record, score
    return best


def keep_of(meta: Mapping[str, Any]) -> str:
    """The `keep` a model folder's `umlsgraph.json` was trained with (older files lack it:
    then the kept epoch being the last one means "last")."""
    keep = (meta.get("config") or {}).get("keep")
    if keep in ("last", "best"):
        return str(keep)
    run = meta.get("run") or {}
    return "last" if run.get("best_epoch") == run.get("epochs") else "best"


def describe(keep: str, kept_epoch: Any, epochs: Any, history: Sequence[Mapping[str, Any]],
             positive: str | None = None) -> str:
    """What was kept, e.g. "kept the last epoch (3 of 3); epoch 2 scored best on validation
    (F1 of 'yes' 0.720)" or "kept epoch 2 of 3, the best on validation (F1 of 'yes' 0.720)"."""
    best = best_validated(history)
    f1 = "F1" + (f" of '{positive}'" if positive else "")
    if best is None:
        return f"kept the last epoch ({kept_epoch} of {epochs}); no validation split"
    scored = f"{f1} {float(best['f1']):.3f}"
    if keep == "best":
        return f"kept epoch {kept_epoch} of {epochs}, the best on validation ({scored})"
    if best.get("epoch") == kept_epoch:
        return (f"kept the last epoch ({kept_epoch} of {epochs}), also the best on validation "
                f"({scored})")
    return (f"kept the last epoch ({kept_epoch} of {epochs}); epoch {best.get('epoch')} "
            f"scored best on validation ({scored})")
