"""Which items a query selects: the options every command that reads a selection shares.

`export`, `check`, `eval --source selection`, `review`, `concept`, the report and `run` build
the same `SelectionOptions` (the CLI declares them once, `cli/common.py`), so one concept is
selected or not by one rule wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from umlsgraph.errors import QueryError
from umlsgraph.selection.closure import DEFAULT_CLOSURE, resolve

#: Where the labels come from: the encoder's predictions, the annotators' answers, or both
#: (an annotation overrides the prediction where one exists).
SOURCES = ("predictions", "annotations", "both")


@dataclass(frozen=True)
class SelectionOptions:
    """The selection rule: whose labels, which threshold, which closure."""

    source: str = "predictions"
    #: A probability threshold for predicted items instead of the argmax label.
    threshold: float | None = None
    #: The model whose predictions count (`prediction_store.resolve_model`: the latest).
    model: str | None = None
    #: Whose annotations count (`annotation_store.choose_annotators`).
    annotator: str | None = None
    #: Which selected concepts pass their selection down (`selection.closure.CLOSURES`).
    closure: str = DEFAULT_CLOSURE
    #: An annotator whose answers are verdicts: they override the labels on their items, a
    #: "no" takes out what hangs from it, a "yes" passes down (`selection.verdicts`).
    verdicts: str | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise QueryError(f"unknown selection source '{self.source}'; "
                             f"known: {', '.join(SOURCES)}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise QueryError(f"--threshold must be between 0 and 1, got {self.threshold}")
        resolve(self.closure)  # an unknown rule is the same one-line error as the CLI's
        if self.verdicts is not None and (not self.verdicts.strip() or "," in self.verdicts):
            raise QueryError(f"--verdicts takes one annotator, got '{self.verdicts}'")
