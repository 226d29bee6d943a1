"""`umlsgraph query new`: write a query file from a natural-language question."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import console, user_errors

query_app = typer.Typer(help="Query files: write a new one.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    query_app.command("new")(user_errors(new))
    app.add_typer(query_app, name="query")


def new(
    name: Annotated[str, typer.Argument(help="The query's name: letters, digits, _ and -.")],
    question: Annotated[str, typer.Argument(help="The natural-language question, e.g. \"is this term part of the heart?\"")],
    out: Annotated[Path | None, typer.Option("--out", help="File (or folder) to write \\[default: queries/NAME.toml, found by name].")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a valid query file (system message, prompt, yes/no labels, descriptions for
    embed, sample section, optional sections commented) that plan and annotate accept."""
    from umlsgraph.query_template import write

    path = write(name, question, out, force)
    ref = name if out is None else str(path)
    console.print(f"Wrote {path}; check it with `umlsgraph plan {ref} --llm embed`",
                  markup=False, highlight=False, soft_wrap=True)
