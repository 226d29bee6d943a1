"""The `umlsgraph` Typer application: global options and the command modules it gathers."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from umlsgraph import __version__
from umlsgraph.errors import INTERRUPTED

from . import (
    annotate,
    audit,
    check,
    corpus,
    experiment,
    export,
    lookup,
    neo4j,
    ontology,
    pipeline,
    plan,
    queries,
    report,
    review,
    store,
    train,
)

app = typer.Typer(
    name="umlsgraph",
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    help="LlamBERT for the UMLS Metathesaurus: load UMLS, annotate a sample with an LLM, "
    "fine-tune an encoder, label every concept, export the subontology.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"umlsgraph {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """umlsgraph command line."""


for module in (store, queries, plan, annotate, audit, train, export, check, neo4j, corpus,
               experiment, ontology, lookup, report, review, pipeline):
    module.register(app)


def run() -> None:
    """Console-script entry point; Ctrl-C before a command starts is one line too."""
    try:
        app()
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    run()
