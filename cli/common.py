"""What every command module shares: consoles, the one error path, option parsing helpers."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from umlsgraph.errors import UmlsgraphError

console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)

F = TypeVar("F", bound=Callable[..., Any])

# --- options every step shares, declared once -------------------------------------------

DEFAULT_DB = Path("umls.duckdb")
DbOption = Annotated[Path, typer.Option("--db", help="The DuckDB database file.")]
QueryArg = Annotated[str, typer.Argument(help="A query name (see queries/) or a .toml path.")]
CorpusOption = Annotated[str | None, typer.Option(
    "--corpus", help="Work on the items of this loaded corpus instead of UMLS concepts.")]
SplitOption = Annotated[str | None, typer.Option(
    "--split", help="Only the corpus items of this split (e.g. train, test).")]
DeviceOption = Annotated[str, typer.Option(help="auto (CUDA when present), cpu, cuda, cuda:1…")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
AnnotatorOption = Annotated[str | None, typer.Option(
    "--annotator", help="Whose labels count (see `umlsgraph annotations`): one annotator, or "
    "several comma-separated in order of priority. Required when several annotators labelled "
    "the query; labels are never mixed silently.")]


def fail(message: str) -> None:
    """Print one error line to stderr and exit 1: the only way a command reports user errors."""
    err_console.print(f"[bold red]Error:[/bold red] {message}", highlight=False, markup=True,
                      soft_wrap=True)
    raise typer.Exit(1)


def user_errors(fn: F) -> F:
    """Turn library errors into one line on stderr and a non-zero exit, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UmlsgraphError as exc:
            fail(_escape(str(exc)))
        except KeyboardInterrupt:
            err_console.print("Interrupted: work already written is kept; re-run to resume.")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def split_csv(values: list[str] | None) -> tuple[str, ...]:
    """Accept both `--sab MSH --sab NCI` and `--sab MSH,NCI`."""
    out: list[str] = []
    for value in values or []:
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return tuple(out)


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, nothing else."""
    typer.echo(json.dumps(data, indent=2, default=str))
