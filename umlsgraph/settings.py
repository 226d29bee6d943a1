"""Settings, declared once: training, the whole run, and the seed's experiment.

The CLI's options, `umlsgraph run`'s project file and flags, the experiment and the demo all
build these dataclasses; a default lives here and nowhere else (the CLI shows it by reading
`TRAIN_DEFAULTS`). Each validates itself in `__post_init__`, so a bad value is a one-line
error naming the flag, whichever way it arrived.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from umlsgraph.errors import ExperimentError, InputFileError, TrainingError

#: Training precisions: auto (bf16 where the GPU has it, else fp16; fp32 off CUDA) or fixed.
PRECISIONS = ("auto", "bf16", "fp16", "fp32")

DEFAULT_BASE_MODEL = "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext"
TEXT_PARTS = ("preferred_name", "semantic_types", "definition", "parents", "grandparents")
#: Class weighting of the loss: none, tempered (sqrt of balanced), inverse frequency.
WEIGHTINGS = ("none", "sqrt", "balanced")
#: Which weights a training run keeps: the last epoch's, or the best on validation.
KEEP = ("last", "best")


@dataclass
class TrainConfig:
    """How to fine-tune. The defaults are meant to work on a few hundred to many thousand labels.

    The defaults are chosen for LLM labels, which are 5-20% wrong (issue 11; measured by
    `bench/quality.py`, see README "Selection quality"): no class weighting, the last epoch,
    and for concepts the hierarchy in the encoder's text (parents' and grandparents' names).

    `min_steps` raises the number of epochs for small label sets (up to `max_epochs`).
    `keep="last"` keeps the final weights; `keep="best"` keeps the epoch with the best
    validation score (positive F1, then macro F1, then loss) and stops early after `patience`
    epochs without one once `min_steps` were taken. `class_weighting` is none, sqrt or
    balanced; `label_smoothing` is cross-entropy's. `text` switches on extra parts of the
    concept text (parents, grandparents, definition, semantic_types, preferred_name) for the
    encoder; item sources without a hierarchy (corpora) ignore them.
    """

    base_model: str = DEFAULT_BASE_MODEL
    epochs: int = 4
    lr: float = 5e-5
    batch_size: int = 16
    max_length: int = 128
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    seed: int = 42
    class_weighting: str = "none"
    label_smoothing: float = 0.0
    keep: str = "last"
    min_steps: int = 300
    max_epochs: int = 40
    val_fraction: float = 0.1
    patience: int = 3
    device: str = "auto"
    checkpoint_steps: int = 500
    text: tuple[str, ...] = ("parents", "grandparents")
    precision: str = "auto"

    def __post_init__(self) -> None:
        positive_ints = ("epochs", "batch_size", "max_length", "max_epochs", "checkpoint_steps",
                         "patience")
        for name in positive_ints:
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise TrainingError(f"--{name.replace('_', '-')} must be a positive integer")
        if self.min_steps < 0:
            raise TrainingError("--min-steps must be 0 or more")
        if not 0 < self.lr < 1:
            raise TrainingError(f"--lr {self.lr}: must be between 0 and 1 (e.g. 5e-5)")
        if not 0 <= self.val_fraction < 0.9:
            raise TrainingError(f"--val-fraction {self.val_fraction}: must be in [0, 0.9)")
        if not 0 <= self.warmup_ratio < 1 or self.weight_decay < 0:
            raise TrainingError("--warmup-ratio must be in [0, 1) and --weight-decay >= 0")
        if self.class_weighting not in WEIGHTINGS:
            raise TrainingError(f"--class-weighting {self.class_weighting}: choose "
                                f"{', '.join(WEIGHTINGS)}")
        if not 0 <= self.label_smoothing < 0.5:
            raise TrainingError(f"--label-smoothing {self.label_smoothing}: must be in [0, 0.5)")
        if self.keep not in KEEP:
            raise TrainingError(f"--keep {self.keep}: choose {' or '.join(KEEP)}")
        if self.precision not in PRECISIONS:
            raise TrainingError(f"--precision {self.precision}: choose from "
                                f"{', '.join(PRECISIONS)}")
        self.text = tuple(self.text)
        for part in self.text:
            if part not in TEXT_PARTS:
                raise TrainingError(f"--text {part}: choose from {', '.join(TEXT_PARTS)}")

    def fingerprint(self) -> dict[str, Any]:
        """The settings that change the result (not the device or checkpoint cadence)."""
        skip = {"device", "checkpoint_steps"}
        if self.precision == "auto":  # device-dependent like `device`; keeps older resume keys
            skip.add("precision")
        return {k: v for k, v in asdict(self).items() if k not in skip}


#: The training defaults, for help texts and for settings that override only some fields.
TRAIN_DEFAULTS = TrainConfig()


@dataclass(frozen=True)
class RunSettings:
    """Everything `umlsgraph run` needs; each field is also a flag and a project-file key."""

    query: str
    db: Path = Path("umls.duckdb")
    release: Path | None = None
    corpus: str | None = None
    llm: str = "embed"
    labels_file: Path | None = None
    n: int | None = None
    annotate_batch_size: int | None = None
    base_model: str | None = None
    out: Path | None = None
    epochs: int | None = None
    max_length: int | None = None
    batch_size: int | None = None
    seed: int | None = None
    min_steps: int | None = None
    formats: tuple[str, ...] = ("graphml", "ttl")
    export_dir: Path | None = None
    report: bool = False
    device: str = "auto"

    def __post_init__(self) -> None:
        """Counts from flags or a project file: 0 or less is an error, never "the default"."""
        for name in ("n", "annotate_batch_size", "epochs", "max_length", "batch_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < 1):
                raise InputFileError(f"setting '{name}' is {value!r}; it must be a whole "
                                     "number of at least 1")

    @property
    def model_dir(self) -> Path:
        from umlsgraph.outputs import safe_filename

        return self.out or Path("runs") / safe_filename(Path(self.query).stem, "query")

    @property
    def exports(self) -> Path:
        return self.export_dir or self.model_dir / "export"


@dataclass(frozen=True)
class ExperimentConfig:
    """What to run. `train_size`/`test_size` sample that many texts of each split (None: all).

    `llm_size` draws a separate (usually larger) sample of the train split, gold or not, for
    the LLM labels (the seed's setting: many LLM labels, few gold ones); by default the LLM
    labels the same texts as the gold baseline. The samples are fixed by `sample_seed`, so
    the seeds vary only the training (head initialisation, batch order, validation split),
    as in the seed's repeated runs.
    `score_llm` also annotates the test sample with `annotate_with`, to score the LLM itself.
    """

    base_model: str
    llm_annotator: str | None = None
    annotate_with: str | None = None
    seeds: tuple[int, ...] = (1,)
    train_split: str = "train"
    test_split: str = "test"
    train_size: int | None = None
    test_size: int | None = None
    llm_size: int | None = None
    sample_seed: int = 0
    epochs: int = 2
    max_length: int = TRAIN_DEFAULTS.max_length
    batch_size: int = TRAIN_DEFAULTS.batch_size
    lr: float = TRAIN_DEFAULTS.lr
    min_steps: int = 0
    device: str = "auto"
    score_llm: bool = True
    out: Path = Path("runs/experiment")

    def runs_dir(self, query: str, corpus: str) -> Path:
        """`out/QUERY-CORPUS-HASH`: one folder per setting (seeds and device aside), so a
        changed setting never reuses models trained for another (combined mode would)."""
        import hashlib
        import json

        keep = {k: str(v) for k, v in asdict(self).items()
                if k not in ("seeds", "device", "out", "score_llm")}
        digest = hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:8]
        return self.out / f"{query}-{corpus}-{digest}"

    def __post_init__(self) -> None:
        if bool(self.llm_annotator) == bool(self.annotate_with):
            raise ExperimentError("give the LLM labels: --llm-annotator NAME (labels already "
                                  "stored) or --annotate-with BACKEND:MODEL (one of them)")
        if not self.seeds:
            raise ExperimentError("--seeds needs at least one seed, e.g. 1,2,3")
        for name in ("train_size", "test_size", "llm_size"):
            value = getattr(self, name)
            if value is not None and value < 4:
                raise ExperimentError(f"--{name.replace('_', '-')} must be at least 4")
