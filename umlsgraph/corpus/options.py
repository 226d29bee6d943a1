"""What a corpus load is told (`CorpusOptions`) and what it reports (`LoadResult`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from umlsgraph.errors import InputFileError

FORMATS = ("csv", "tsv", "jsonl", "parquet", "aclimdb")
EXPORT_FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".jsonl": "jsonl",
                  ".json": "jsonl"}
#: Labels the aclImdb folder names stand for (the categories of the `imdb_sentiment` query).
ACLIMDB_LABELS = {"pos": "positive", "neg": "negative", "unsup": None}
ACLIMDB_BATCH = 2000

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class CorpusOptions:
    """How to read a tabular source. Column names are case-sensitive, as in the file.

    `id_column` None numbers the rows from 0 in file order. `label_map` renames gold labels
    (e.g. fresh -> positive) and drops rows whose label is not in it; `holdout` assigns a
    reproducible fraction of the rows to split "test" and the rest to "train" when the source
    has no split column.
    """

    text_column: str = "text"
    id_column: str | None = None
    label_column: str | None = None
    split_column: str | None = None
    format: str | None = None
    label_map: dict[str, str] = field(default_factory=dict)
    holdout: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.format is not None and self.format not in FORMATS:
            raise InputFileError(f"unknown corpus format '{self.format}'; known: "
                                 f"{', '.join(FORMATS)}")
        if self.holdout is not None and not 0 < self.holdout < 1:
            raise InputFileError(f"--holdout must be between 0 and 1, got {self.holdout}")


@dataclass
class LoadResult:
    """What a load kept and what it skipped, and why."""

    corpus: str
    rows: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)

    def skip(self, reason: str, n: int = 1, example: str | None = None) -> None:
        if n <= 0:
            return
        self.skipped[reason] = self.skipped.get(reason, 0) + n
        if example is not None and len(self.examples.setdefault(reason, [])) < 5:
            self.examples[reason].append(example)
