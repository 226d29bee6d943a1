"""`umlsgraph check`: where a query's selection contradicts the hierarchy (islands and holes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from .common import (
    DEFAULT_DB,
    AnnotatorOption,
    ClosureOption,
    DbOption,
    JsonOption,
    PredictionsModelOption,
    QueryArg,
    SelectSourceOption,
    ThresholdOption,
    VerdictsOption,
    console,
    print_json,
    selection_options,
    user_errors,
)


def register(app: typer.Typer) -> None:
    app.command("check")(user_errors(check))


def check(
    query: QueryArg,
    db: DbOption = DEFAULT_DB,
    source: SelectSourceOption = "predictions",
    threshold: ThresholdOption = None,
    model: PredictionsModelOption = None,
    annotator: AnnotatorOption = None,
    closure: ClosureOption = None,
    verdicts: VerdictsOption = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Rows of each list to show (0: all); the counts are always complete.")] = 20,
    json_output: JsonOption = False,
) -> None:
    """List where the selection contradicts the hierarchy, most surprising first: islands
    (selected concepts none of whose parents is selected) and holes (unselected concepts
    with a selected parent and a selected child)."""
    from umlsgraph.evaluate.consistency import check as run_check
    from umlsgraph.evaluate.consistency import explain_hole, explain_island

    options = selection_options(source, threshold, model, annotator, closure,
                                verdicts=verdicts)
    found = run_check(db, query, options, limit=limit or None)
    if json_output:
        print_json(found.as_dict())
        return
    counts = found.counts
    console.print(f"{found.query}: {counts['selected']:,} selected ({counts['labelled']:,} by "
                  f"their labels, {counts['closure_added']:,} added by the closure "
                  f"{found.selection['closure']}); {counts['islands']:,} "
                  f"islands, {counts['holes']:,} holes ({counts['under_holes']:,} islands "
                  f"under a hole; {counts['no_parents']:,} selected concepts have no parent)",
                  markup=False, highlight=False, soft_wrap=True)
    for root in found.roots:
        console.print(f"root of the selection: {root['cui']} {root['name']} "
                      f"({root['selected_descendants']:,} selected below)",
                      markup=False, highlight=False, soft_wrap=True)
    _print(found.islands, "Islands: selected, no parent selected", explain_island)
    _print(found.holes, "Holes: not selected, between a selected parent and a selected child", explain_hole)


def _print(rows: list[dict[str, Any]], title: str, why: Callable[[dict[str, Any]], str]) -> None:
    from umlsgraph.evaluate.consistency import probability

    if not rows:
        return
    annotated = any(row["annotation"] for row in rows)
    table = Table(title=title, title_justify="left")
    for column in ("#", "cui", "name", "P", *(["annotation"] if annotated else []),
                   "surprise", "why"):
        table.add_column(column, justify="right" if column in ("#", "P", "surprise") else "left")
    for rank, row in enumerate(rows, 1):
        annotation = [Text(row["annotation"] or "")] if annotated else []
        table.add_row(str(rank), Text(row["cui"]), Text(row["name"] or ""),
                      probability(row["probability"]), *annotation, f"{row['surprise']:.2f}",
                      Text(why(row)))
    console.print(table)
