"""The `report` command: one self-contained HTML page (and its PNGs) of a query's pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .common import (
    DEFAULT_DB,
    CorpusOption,
    DbOption,
    QueryArg,
    VerdictsOption,
    console,
    print_json,
    user_errors,
)

ModelOption = Annotated[Path | None, typer.Option(
    "--model", help="The model folder `umlsgraph train` wrote: adds the training curve, "
    "validation metrics and confusion matrix, and picks its predictions (default: the model "
    "that labelled last).")]
OutOption = Annotated[Path, typer.Option("--out", help="Folder for report.html and the PNGs.")]
GoldOption = Annotated[Path | None, typer.Option(
    "--gold", help="Gold labels (CSV with id,label, or JSON Lines): scores the annotators, "
    "the encoder (all and held-out items) and what export selects against them, in a "
    "'Quality against gold' section.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print what each section found as JSON.")]


def register(app: typer.Typer) -> None:
    app.command("report")(user_errors(report))


def report(query: QueryArg, db: DbOption = DEFAULT_DB, model: ModelOption = None,
           corpus: CorpusOption = None, out: OutOption = Path("report"),
           gold: GoldOption = None,
           before_model: Annotated[Path | None, typer.Option(
               "--before-model", help="The model folder from before a second opinion (`train "
               "--annotator STRONG,WEAK`, `run --reask-with`): the report shows selection, "
               "contradictions and, with --gold, quality before and after.")] = None,
           verdicts: VerdictsOption = None,
           json_output: JsonOption = False) -> None:
    """Write a self-contained HTML report: class balance, parse failures, training curve,
    confusion matrix, predicted probabilities and the subontology, with PNGs beside it; with
    --gold, the quality of the annotators, the encoder and the export against gold."""
    from umlsgraph.report.page import build_report

    result = build_report(db, query, out, model_dir=model, corpus=corpus, gold=gold,
                          before_model_dir=before_model, verdicts=verdicts)
    if json_output:
        print_json({"html": str(result.html), "images": [str(p) for p in result.images],
                    "sections": result.sections})
        return
    for key, facts in result.sections.items():
        missing = facts.get("missing") if isinstance(facts.get("missing"), str) else None
        mark = "[yellow]–[/yellow]" if missing else "[green]✓[/green]"
        line = f"{mark} {key}" + (f": {escape(missing)}" if missing else "")
        console.print(line, highlight=False, markup=True)
    console.print(f"Report: {result.html} ({len(result.images)} figures beside it)")
