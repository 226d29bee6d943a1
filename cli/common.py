"""What every command module shares: consoles, the one error path, option parsing helpers."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import click
import typer
from rich.console import Console

from umlsgraph.errors import UmlsgraphError, explain
from umlsgraph.selection import CLOSURES, DEFAULT_CLOSURE, SOURCES, resolve
from umlsgraph.selection.closure import CONFIDENT, SUSPICIOUS_PARENT
from umlsgraph.settings import DEFAULT_DB as DEFAULT_DB  # every `db: DbOption = DEFAULT_DB`
from umlsgraph.settings import TRAIN_DEFAULTS

if TYPE_CHECKING:
    from umlsgraph.selection import SelectionOptions

console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)

F = TypeVar("F", bound=Callable[..., Any])

# --- options every step shares, declared once -------------------------------------------

DbOption = Annotated[Path, typer.Option("--db", help="The DuckDB database file.")]
QueryArg = Annotated[str, typer.Argument(help="A query name (see queries/) or a .toml path.")]
CorpusOption = Annotated[str | None, typer.Option(
    "--corpus", help="Work on the items of this loaded corpus instead of UMLS concepts.")]
SplitOption = Annotated[str | None, typer.Option(
    "--split", help="Only the corpus items of this split (e.g. train, test).")]
DeviceOption = Annotated[str, typer.Option(help="auto (CUDA when present), cpu, cuda, cuda:1…")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
TextOption = Annotated[list[str] | None, typer.Option(
    "--text", help="Parts of the concept text the encoder reads besides the query's: "
    "parents, grandparents, definition, semantic_types, preferred_name (comma-separated or "
    "repeated), or none \\[default: " + ",".join(TRAIN_DEFAULTS.text) + "].")]
BaseModelOption = Annotated[str | None, typer.Option(
    "--base-model", help="Encoder checkpoint: a local folder or a Hugging Face hub name "
    "\\[default: $UMLSGRAPH_BASE_MODEL, else " + TRAIN_DEFAULTS.base_model + "].")]
AnnotatorOption = Annotated[str | None, typer.Option(
    "--annotator", help="Whose labels count (see `umlsgraph annotations`): one annotator, or "
    "several comma-separated in order of priority. Required when several annotators labelled "
    "the query; labels are never mixed silently.")]

# The selection's options (`umlsgraph.selection`), shared by export, check, review and run:
# a value outside the choices exits 2 before any work, as every bad option value does.
SourceChoice = Literal[SOURCES]  # type: ignore[valid-type]
ClosureChoice = Literal[CLOSURES]  # type: ignore[valid-type]
SelectSourceOption = Annotated[SourceChoice, typer.Option(
    "--source", help="Labels to select by: predictions (the encoder's), annotations (the "
    "LLM's) or both (annotations where present).")]
ThresholdOption = Annotated[float | None, typer.Option(
    "--threshold", min=0.0, max=1.0, help="Select predicted items whose positive probability "
    "is at least this, instead of the argmax label.")]
PredictionsModelOption = Annotated[str | None, typer.Option(
    "--model", help="Which model's predictions \\[default: the most recent].")]
ClosureOption = Annotated[ClosureChoice | None, typer.Option(
    "--closure", help="Which selected concepts pass their selection down to their descendants "
    "(a kind of a selected kind; through main parents, never onto a cycle or over an "
    f"annotated answer): confident (those the model selected with probability >= {CONFIDENT}), "
    "guarded (confident, but nothing below a suspicious island: one whose parents the labels "
    f"believe at most {SUSPICIOUS_PARENT}), none (the labels as they are), all (every one) "
    f"\\[default: {DEFAULT_CLOSURE}].")]
VerdictsOption = Annotated[str | None, typer.Option(
    "--verdicts", help="An annotator whose answers decide the selection where they speak "
    "(e.g. the stronger LLM or the human a run re-asked): its answer overrides the label, a "
    "'no' takes out the selected branch hanging from it (unless a selected parent outside it "
    "holds a concept), a 'yes' passes down like a confident prediction.")]


def selection_options(source: str = SOURCES[0], threshold: float | None = None,
                      model: str | None = None, annotator: str | None = None,
                      closure: str | None = None, descendants: bool = False,
                      verdicts: str | None = None) -> SelectionOptions:
    """The selection the shared options ask for (`--descendants` is `--closure all`)."""
    from umlsgraph.selection import SelectionOptions

    return SelectionOptions(source=source, threshold=threshold, model=model,
                            annotator=annotator, closure=resolve(closure, descendants),
                            verdicts=verdicts)


def user_errors(fn: F) -> F:
    """The one error path of every command: any error becomes one line on stderr and a
    non-zero exit, never a traceback (set UMLSGRAPH_DEBUG=1 to see one).

    Library errors, OS errors (naming the path), DuckDB errors (a lock held by another
    process, a file that is not a database) exit 1; Ctrl-C exits 130.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException,
                typer.Exit, typer.Abort, typer.TyperException):  # typer vendors its own click
            raise
        except BaseException as exc:  # noqa: BLE001 - the one place every error ends
            if isinstance(exc, SystemExit | GeneratorExit):
                raise
            report(exc)

    return wrapper  # type: ignore[return-value]


def report(exc: BaseException) -> None:
    """Print `exc` as one line and exit with its code; re-raise under UMLSGRAPH_DEBUG=1."""
    if os.environ.get("UMLSGRAPH_DEBUG", "") not in ("", "0"):
        raise exc
    explained = explain(exc)
    if explained is None:
        first = " ".join(str(exc).split()) or "no message"
        explained = (f"unexpected {type(exc).__name__}: {first} (a bug in umlsgraph: rerun "
                     "with UMLSGRAPH_DEBUG=1 and report the traceback)", 1)
    message, code = explained
    if code == 130:
        err_console.print(message, highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(130) from None
    err_console.print(f"[bold red]Error:[/bold red] {_escape(message)}", highlight=False,
                      markup=True, soft_wrap=True)
    raise typer.Exit(code) from None


def _escape(text: str) -> str:
    """Keep rich from reading `[...]` in a message as markup."""
    return text.replace("[", "\\[")


def split_csv(values: list[str] | None) -> tuple[str, ...]:
    """Accept both `--sab MSH --sab NCI` and `--sab MSH,NCI`."""
    out: list[str] = []
    for value in values or []:
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return tuple(out)


def text_parts(values: list[str] | None) -> tuple[str, ...]:
    """`--text` as TrainConfig wants it: absent is the default, `--text none` the names alone."""
    if values is None:
        return TRAIN_DEFAULTS.text
    parts = split_csv(values)
    return () if parts == ("none",) else parts


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, nothing else."""
    typer.echo(json.dumps(data, indent=2, default=str))


def checked(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A Typer callback running a library check, so a bad option value is a usage error
    naming the option (exit 2), found before any work starts."""

    def callback(value: Any) -> Any:
        if value is None:
            return value
        try:
            return check(value)
        except UmlsgraphError as exc:
            raise typer.BadParameter(str(exc)) from None

    return callback


def int_list(values: list[str] | None) -> list[str] | None:
    """`--seeds 1,2,3` (or repeated): every value must be an integer."""
    for value in split_csv(values):
        try:
            int(value)
        except ValueError:
            raise typer.BadParameter(f"'{value}' is not an integer; give e.g. 1,2,3") from None
    return values


def between(low: float, high: float | None = None) -> Callable[[Any], Any]:
    """A Typer callback for an open range low < value (< high), which `min=`/`max=` can't
    say (a learning rate of 0, a hold-out fraction of 1)."""

    def callback(value: Any) -> Any:
        if value is not None and (value <= low or (high is not None and value >= high)):
            upper = f" and below {high}" if high is not None else ""
            raise typer.BadParameter(f"{value} must be above {low}{upper}")
        return value

    return callback
