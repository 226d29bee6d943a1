"""The errors a user can fix. Each message names the input and says what to do.

The CLI catches `UmlsgraphError`, prints its message on one line and exits non-zero.
"""


class UmlsgraphError(Exception):
    """Base class for every error caused by input the user can fix."""


class ReleaseError(UmlsgraphError):
    """A UMLS release folder or RRF file is missing, empty or malformed."""


class StoreError(UmlsgraphError):
    """The database is missing, not loaded, or lacks a table a step needs."""


class QueryError(UmlsgraphError):
    """A query file is missing or has an unknown, missing or invalid field."""


class ModelError(UmlsgraphError):
    """A model path or name cannot be loaded, or an optional extra is not installed."""


class AnnotationError(UmlsgraphError):
    """An annotator failed in a way the user can act on (server down, bad labels file)."""


class InputFileError(UmlsgraphError):
    """A user-supplied data file (labels, gold, corpus) is missing or malformed."""


class NotFoundError(UmlsgraphError):
    """What was looked up (a concept, a name, predictions to review) does not exist."""


class ExportError(UmlsgraphError):
    """An export format or target is unknown or unreachable."""


def missing_extra(package: str, extra: str) -> ModelError:
    """The error for an optional dependency that is not installed."""
    return ModelError(f"{package} is not installed: pip install 'umlsgraph[{extra}]'")


class TrainingError(UmlsgraphError):
    """Training cannot start with these labels or settings."""


class ExperimentError(UmlsgraphError):
    """The experiment cannot run on this corpus or with these labels."""
