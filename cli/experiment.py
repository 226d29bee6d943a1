"""`umlsgraph experiment`: the seed's table (baseline, LlamBERT, combined) on a gold corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from umlsgraph.settings import EXPERIMENT_DEFAULTS

from .common import (
    DEFAULT_DB,
    BaseModelOption,
    DbOption,
    DeviceOption,
    between,
    console,
    int_list,
    print_json,
    split_csv,
    user_errors,
)


def register(app: typer.Typer) -> None:
    app.command("experiment")(user_errors(experiment))


def experiment(
    query: Annotated[str, typer.Argument(help="Query name or .toml path, e.g. imdb_sentiment.")],
    corpus: Annotated[str, typer.Option("--corpus", help="A loaded corpus with gold labels "
                                        "and train/test splits.")],
    base_model: BaseModelOption = None,
    db: DbOption = DEFAULT_DB,
    llm_annotator: Annotated[str | None, typer.Option(
        "--llm-annotator", help="Use this annotator's stored labels as the LLM labels "
        "(see `umlsgraph annotations`).")] = None,
    annotate_with: Annotated[str | None, typer.Option(
        "--annotate-with", help="Annotate the sampled train texts first with BACKEND:MODEL "
        "(e.g. embed, hf:PATH); done texts are not asked again.")] = None,
    seeds: Annotated[list[str] | None, typer.Option(
        "--seeds", callback=int_list, help="Training seeds, e.g. 1,2,3 (a 95% CI is shown for 2 or more).")
    ] = None,
    train_split: Annotated[str, typer.Option(help="Split to train on.")
                           ] = EXPERIMENT_DEFAULTS.train_split,
    test_split: Annotated[str, typer.Option(help="Split to score on.")
                          ] = EXPERIMENT_DEFAULTS.test_split,
    train_size: Annotated[int | None, typer.Option(
        min=1, help="Sample this many train texts (default: all).")] = None,
    test_size: Annotated[int | None, typer.Option(
        min=1, help="Sample this many test texts (default: all).")] = None,
    llm_size: Annotated[int | None, typer.Option(
        min=1, help="LLM-label a separate, larger sample of the train split (gold or not) for "
        "LlamBERT and combined (default: the --train-size texts).")] = None,
    sample_seed: Annotated[int, typer.Option(help="Seed of the two samples.")
                           ] = EXPERIMENT_DEFAULTS.sample_seed,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs per training.")
                      ] = EXPERIMENT_DEFAULTS.epochs,
    max_length: Annotated[int, typer.Option(min=2, help="Max tokens per text.")
                          ] = EXPERIMENT_DEFAULTS.max_length,
    batch_size: Annotated[int, typer.Option(min=1, help="Batch size.")
                          ] = EXPERIMENT_DEFAULTS.batch_size,
    lr: Annotated[float, typer.Option(callback=between(0.0), help="Learning rate.")
                  ] = EXPERIMENT_DEFAULTS.lr,
    min_steps: Annotated[int, typer.Option(
        min=0, help="Train at least this many steps (more epochs for small samples).")
    ] = EXPERIMENT_DEFAULTS.min_steps,
    device: DeviceOption = EXPERIMENT_DEFAULTS.device,
    score_llm: Annotated[bool, typer.Option(
        "--score-llm/--no-score-llm", help="With --annotate-with, also annotate the test "
        "sample to score the LLM itself.")] = EXPERIMENT_DEFAULTS.score_llm,
    out: Annotated[Path, typer.Option("--out", help="Folder for the trained models "
                                      "(finished ones are reused).")] = EXPERIMENT_DEFAULTS.out,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table.")] = False,
) -> None:
    """Train the same encoder on gold labels, on LLM labels, and on both; score each on gold."""
    from umlsgraph.query import load_query
    from umlsgraph.settings import ExperimentConfig, resolve_base_model
    from umlsgraph.workflows.experiment import run_experiment, to_markdown

    config = ExperimentConfig(
        base_model=resolve_base_model(base_model), llm_annotator=llm_annotator, annotate_with=annotate_with,
        seeds=tuple(int(s) for s in split_csv(seeds)) or EXPERIMENT_DEFAULTS.seeds, train_split=train_split,
        test_split=test_split, train_size=train_size, test_size=test_size, llm_size=llm_size,
        sample_seed=sample_seed, epochs=epochs, max_length=max_length, batch_size=batch_size,
        lr=lr, min_steps=min_steps, device=device, score_llm=score_llm, out=out)
    quiet = json_output or markdown
    with console.status("experiment", spinner="dots") as status:
        if quiet:
            status.stop()
        result = run_experiment(db, load_query(query), corpus, config,
                                on_step=None if quiet else status.update)
    if json_output:
        print_json({"query": result.query, "corpus": result.corpus,
                    "settings": result.settings, "summary": result.summary,
                    "runs": result.runs})
    elif markdown:
        typer.echo(to_markdown(result))
    else:
        _print_table(result)


def _print_table(result) -> None:  # type: ignore[no-untyped-def]
    from umlsgraph.workflows.experiment import describe_settings, format_cell

    table = Table(title=f"{result.query} on corpus '{result.corpus}' (gold test split)")
    for column in ("model", "accuracy", "F1 (positive)", "macro F1", "seeds"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for condition, entry in result.summary.items():
        table.add_row(condition, format_cell(entry["accuracy"]), format_cell(entry["f1"]),
                      format_cell(entry["f1_macro"]), str(entry["seeds"]))
    console.print(table)
    console.print(describe_settings(result), highlight=False)
