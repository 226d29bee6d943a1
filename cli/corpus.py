"""`umlsgraph corpus …`: load, list and export flat corpora (texts without a graph)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .common import DEFAULT_DB, DbOption, between, console, print_json, split_csv, user_errors

corpus_app = typer.Typer(
    name="corpus", rich_markup_mode="rich", no_args_is_help=True,
    help="Flat corpora (reviews, notes…): load them beside UMLS, then annotate/train/label/eval "
         "with --corpus NAME.")


def register(app: typer.Typer) -> None:
    corpus_app.command("load")(user_errors(load))
    corpus_app.command("list")(user_errors(list_))
    corpus_app.command("export")(user_errors(export))
    app.add_typer(corpus_app)


def load(
    name: Annotated[str, typer.Argument(help="The corpus name (used as --corpus NAME later).")],
    source: Annotated[Path, typer.Option(
        "--from", help="A CSV/TSV (.gz, .bz2), JSONL, Parquet file, or an aclImdb folder.")],
    db: DbOption = DEFAULT_DB,
    text_column: Annotated[str, typer.Option(help="Column holding the text.")] = "text",
    id_column: Annotated[str | None, typer.Option(
        help="Column holding a unique id (default: a column named id, else the row number "
        "from 0; --id-column '' numbers the rows).")] = None,
    label_column: Annotated[str | None, typer.Option(
        help="Column holding a gold label (default: a column named label, if any).")] = None,
    split_column: Annotated[str | None, typer.Option(
        help="Column holding the split name, e.g. train/test (default: a column named "
        "split, if any).")] = None,
    label_map: Annotated[list[str] | None, typer.Option(
        "--label-map", help="Rename gold labels, e.g. fresh=positive,rotten=negative; rows "
        "with other labels are skipped (and counted).")] = None,
    holdout: Annotated[float | None, typer.Option(
        callback=between(0.0, 1.0), help="Without a split column: put this fraction of rows in split 'test', the rest in "
        "'train'.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the --holdout assignment.")] = 0,
    fmt: Annotated[str | None, typer.Option(
        "--format", help="csv, tsv, jsonl, parquet or aclimdb (default: from the extension).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Load a corpus into the database (created if missing), replacing a corpus of the same
    name atomically."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from umlsgraph.corpus.loader import load_corpus
    from umlsgraph.corpus.options import CorpusOptions

    options = CorpusOptions(text_column=text_column, id_column=id_column,
                            label_column=label_column, split_column=split_column, format=fmt,
                            label_map=parse_label_map(label_map), holdout=holdout, seed=seed)
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console, transient=True,
                  disable=json_output) as bar:
        task = bar.add_task(f"loading {name}", total=None)
        result = load_corpus(db, name, source, options,
                             progress=lambda done, total: bar.update(task, completed=done,
                                                                     total=total))
    if json_output:
        print_json(vars(result))
        return
    console.print(f"Loaded corpus '{name}': {result.rows:,} texts into {db}")
    console.print("  splits: " + _counts(result.splits) + "   gold: " + _counts(result.labels))
    if result.columns:
        console.print("  columns: " + ", ".join(f"{k} = {v}" for k, v in result.columns.items()),
                      highlight=False, markup=False)
    for reason, n in result.skipped.items():
        examples = result.examples.get(reason)
        more = f" (e.g. {', '.join(examples)})" if examples else ""
        console.print(f"  [yellow]skipped {n:,} rows: {reason}{more}[/yellow]", highlight=False)


def parse_label_map(values: list[str] | None) -> dict[str, str]:
    """`fresh=positive,rotten=negative` (or repeated options) into a dict."""
    from umlsgraph.errors import InputFileError

    out = {}
    for pair in split_csv(values):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputFileError(f"--label-map '{pair}' must look like FROM=TO, "
                                 "e.g. fresh=positive")
        out[key.strip()] = value.strip()
    return out


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.items()) or "-"


def list_(
    db: DbOption = DEFAULT_DB,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The corpora in the database, with their sizes, splits and gold labels."""
    from umlsgraph.corpus.catalog import list_corpora

    corpora = list_corpora(db)
    if json_output:
        print_json(corpora)
        return
    if not corpora:
        console.print(f"No corpora in {db}; load one with `umlsgraph corpus load NAME --from FILE`")
        return
    table = Table(title=str(db))
    for column in ("corpus", "texts", "with gold", "splits", "gold labels"):
        table.add_column(column, justify="right" if column in ("texts", "with gold") else "left")
    for c in corpora:
        table.add_row(c["corpus"], f"{c['rows']:,}", f"{c['with_gold']:,}", _counts(c["splits"]),
                      _counts(c["labels"]))
    console.print(table)


def export(
    name: Annotated[str, typer.Argument(help="The corpus to export.")],
    out: Annotated[Path, typer.Option(
        "--out", help="Output file: .csv, .tsv, .parquet or .jsonl.")],
    db: DbOption = DEFAULT_DB,
    query: Annotated[str | None, typer.Option(
        "--query", help="Take predictions of this query (needed when there are several).")
    ] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="Take predictions of this model (folder or id) \\[default: the model "
        "that labelled the query most recently].")
    ] = None,
) -> None:
    """Write the corpus with one model's predictions (label, probability) and gold labels."""
    from umlsgraph.corpus.catalog import export_corpus

    n = export_corpus(db, name, out, query=query, model=model)
    console.print(f"Wrote {n:,} rows of corpus '{name}' to {out}")
