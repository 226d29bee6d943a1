"""`umlsgraph review`: an offline page to accept or reject the selected and borderline concepts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import (
    DEFAULT_DB,
    AnnotatorOption,
    ClosureOption,
    DbOption,
    console,
    print_json,
    user_errors,
)


def register(app: typer.Typer) -> None:
    app.command("review")(user_errors(review))


def review(
    query: Annotated[str, typer.Argument(help="Query name (see queries/) or path to a .toml file.")],
    db: DbOption = DEFAULT_DB,
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path("review.html"),
    model: Annotated[str | None, typer.Option("--model", help="Whose predictions \\[default: the most recent model].")] = None,
    borderline: Annotated[float, typer.Option("--borderline", help="Also list unselected concepts whose positive probability is at least this.")] = 0.2,
    annotator: AnnotatorOption = None,
    closure: ClosureOption = None,
    order: Annotated[str, typer.Option("--order", help="contradictions: islands and holes of the hierarchy first (`umlsgraph check`), most surprising first, then the most uncertain; uncertain: the most uncertain first.")] = "contradictions",
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Write one self-contained page (works offline, from file://) listing the selected and
    borderline concepts; the reviewer marks accept/reject and downloads a labels CSV for
    `annotate --labels-file FILE --annotator human:NAME`."""
    from umlsgraph.report.review import build_review

    result = build_review(db, query, out, model, borderline, annotator, order, closure)
    if json_output:
        print_json(result.as_dict())
        return
    console.print(f"Wrote {result.path}: {result.selected:,} selected and {result.borderline:,} "
                  f"borderline concepts, {result.contradictions:,} of them islands or holes of "
                  f"the hierarchy{' (listed first)' if order == 'contradictions' else ''} "
                  f"(predictions of {result.model}). Open it in a browser; "
                  f"import the downloaded labels with `umlsgraph annotate QUERY --labels-file FILE "
                  f"--annotator human:NAME`.", markup=False, highlight=False, soft_wrap=True)
