"""Settings, declared once: training, the audit, the whole run, and the seed's experiment.

The CLI's options, `umlsgraph run`'s project file and flags, the experiment and the demo all
build these dataclasses; a default lives here and nowhere else (the CLI shows it by reading
`TRAIN_DEFAULTS`, `AUDIT_DEFAULTS`, `EXPERIMENT_DEFAULTS`, `DEFAULT_DB`). Each validates
itself in `__post_init__`, so a bad value is a one-line error naming the flag, whichever way
it arrived. Settings resolve in one order: defaults < query/project file < environment
(`ENVIRONMENT`) < flags.
"""

from __future__ import annotations

import os
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from umlsgraph.errors import (
    AnnotationError,
    AuditError,
    ExperimentError,
    InputFileError,
    TrainingError,
)

#: The database every command opens unless given --db.
DEFAULT_DB = Path("umls.duckdb")

#: Training precisions: auto (bf16 where the GPU has it, else fp16; fp32 off CUDA) or fixed.
PRECISIONS = ("auto", "bf16", "fp16", "fp32")

#: `umlsgraph demo`'s training epochs: the demo stays under ~10 minutes on 2 cores.
DEMO_EPOCHS = 3
DEFAULT_BASE_MODEL = "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext"
TEXT_PARTS = ("preferred_name", "semantic_types", "definition", "parents", "other_parents",
              "grandparents")
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

#: Environment variables that set a default for every command (above a project file, below
#: a flag): setting name -> variable.
ENVIRONMENT = {"base_model": "UMLSGRAPH_BASE_MODEL"}


def from_environment() -> dict[str, str]:
    """The settings the environment sets (`ENVIRONMENT`); an empty variable sets nothing."""
    return {name: os.environ[var] for name, var in ENVIRONMENT.items() if os.environ.get(var)}


def resolve_base_model(flag: str | None = None, configured: str | None = None) -> str:
    """The encoder to fine-tune: the flag, else $UMLSGRAPH_BASE_MODEL, else `configured` (a
    project file's), else `DEFAULT_BASE_MODEL` — the one order every command uses."""
    return flag or from_environment().get("base_model") or configured or DEFAULT_BASE_MODEL


#: The annotator `run` asks when neither an LLM nor a labels file is given (offline, zero-shot).
DEFAULT_LLM = "embed"
#: `label`: items read, predicted and committed together (bounds memory).
LABEL_CHUNK = 20_000
#: DuckDB's memory limit for an export (`--memory-limit`): it spills to disk beyond it.
EXPORT_MEMORY_LIMIT = "1GB"
#: Neo4j: where and how to write unless NEO4J_* or a flag says otherwise.
NEO4J_URI = "bolt://localhost:7687"
NEO4J_USER = "neo4j"
NEO4J_BATCH = 1000
NEO4J_PARALLEL = 1


def annotation_input(llm: str | None, labels_file: Path | None,
                     default_llm: str | None = None) -> str | None:
    """THE rule for where a query's labels come from: an annotator backend or a labels file.

    Giving both is an error (never a silent preference); a labels file returns None (import
    it); otherwise the backend given, else `default_llm`, else an error saying what to give.
    `annotate` and `run` both call it, so both refuse the same way.
    """
    if llm and labels_file is not None:
        raise AnnotationError("give either --llm or --labels-file, not both")
    if labels_file is not None:
        return None
    if not (llm or default_llm):
        raise AnnotationError("say which annotator to use: --llm hf:MODEL, openai:MODEL, "
                              "vllm:MODEL, embed or labels:FILE (or --labels-file FILE)")
    return llm or default_llm


#: Epochs of each audit fold model: few, since later epochs learn the wrong labels too.
FOLD_EPOCHS = 2
#: The filters confident learning can flag labels by (cleanlab's `filter_by`).
AUDIT_FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
                 "predicted_neq_given")


@dataclass(frozen=True)
class AuditConfig:
    """How to audit. Fold models are cheap by default (see `train.audit.fold_config`)."""

    folds: int = 5
    seed: int = 42
    annotator_weight: float = 0.3
    filter_by: str = "prune_by_noise_rate"
    keep_models: bool = False
    work_dir: Path | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.folds, int) or self.folds < 2:
            raise AuditError(f"--folds {self.folds}: need at least 2 folds")
        if not 0 <= self.annotator_weight < 1:
            raise AuditError(f"--annotator-weight {self.annotator_weight}: must be in [0, 1)")
        if self.filter_by not in AUDIT_FILTERS:
            raise AuditError(f"--filter-by {self.filter_by}: choose from "
                             f"{', '.join(AUDIT_FILTERS)}")


#: The audit defaults, for help texts.
AUDIT_DEFAULTS = AuditConfig()


@dataclass(frozen=True)
class RunSettings:
    """Everything `umlsgraph run` needs; each field is also a flag and a project-file key."""

    query: str
    db: Path = DEFAULT_DB
    release: Path | None = None
    corpus: str | None = None
    llm: str | None = None
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
    #: After `label`: re-ask this many of the first model's contradictions (islands and
    #: holes) with `reask_with`, a stronger annotator, then retrain on its answers over the
    #: first annotator's, relabel and export from the retrained model.
    reask_with: str | None = None
    reask_budget: int | None = None
    #: With `reask_with`: spend what the first re-ask left of the budget on the retrained
    #: model's contradictions, and export with all its answers as verdicts (`export
    #: --verdicts`). Off until the encoder study pre-registered in
    #: bench/results/verdicts_preregistered.md decides.
    reask_verdicts: bool = False

    def __post_init__(self) -> None:
        """Counts from flags or a project file: 0 or less is an error, never "the default"."""
        for name in ("n", "annotate_batch_size", "epochs", "max_length", "batch_size",
                     "reask_budget"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < 1):
                raise InputFileError(f"setting '{name}' is {value!r}; it must be a whole "
                                     "number of at least 1")
        annotation_input(self.llm, self.labels_file, DEFAULT_LLM)
        self._check_reask()

    def _check_reask(self) -> None:
        """A re-ask needs its annotator and its budget, another annotator, and a hierarchy."""
        if (self.reask_with is None) != (self.reask_budget is None):
            raise InputFileError("give --reask-with LLM and --reask-budget N together (re-ask "
                                 "N contradictions with a stronger annotator)")
        if self.reask_with is None:
            if self.reask_verdicts:
                raise InputFileError("--verdicts exports with the answers of --reask-with; "
                                     "give --reask-with LLM --reask-budget N too")
            return
        if self.corpus:
            raise InputFileError("--reask-with re-asks the hierarchy's contradictions; a "
                                 "--corpus has no hierarchy")
        if self.labels_file is None and self.reask_with == self.backend:
            raise InputFileError(f"--reask-with {self.reask_with} is the annotator that "
                                 "labelled the sample; re-ask with a stronger one")

    @property
    def backend(self) -> str:
        """The annotator backend asked when no labels file is given (`DEFAULT_LLM` unless
        `llm` is set; `__post_init__` refuses both)."""
        return self.llm or DEFAULT_LLM

    @property
    def model_dir(self) -> Path:
        from umlsgraph.outputs import safe_filename

        return self.out or Path("runs") / safe_filename(Path(self.query).stem, "query")

    @property
    def exports(self) -> Path:
        return self.export_dir or self.model_dir / "export"

    @property
    def reask_model_dir(self) -> Path:
        """Where the model retrained after a re-ask goes (inside the first one's folder)."""
        return self.model_dir / "reask"


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


def field_defaults(cls: type) -> SimpleNamespace:
    """The declared defaults of a settings dataclass, by field name: what the CLI shows for a
    class it cannot instantiate bare (`ExperimentConfig` needs its LLM labels named)."""
    return SimpleNamespace(**{f.name: f.default for f in fields(cls)
                              if f.default is not MISSING})


#: The experiment's defaults, for help texts.
EXPERIMENT_DEFAULTS = field_defaults(ExperimentConfig)
