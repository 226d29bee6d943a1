"""`audit`: find the annotations most likely wrong (k-fold out-of-sample + confident learning)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from .common import console, err_console, print_json, split_csv, user_errors

if TYPE_CHECKING:
    from umlsgraph.train.audit import AuditResult

DbOption = Annotated[Path, typer.Option("--db", help="The DuckDB database file.")]
QueryArg = Annotated[str, typer.Argument(help="A query name (see queries/) or a .toml path.")]


def register(app: typer.Typer) -> None:
    app.command("audit")(user_errors(audit))


def audit(
    query: QueryArg,
    db: DbOption = Path("umls.duckdb"),
    annotator: Annotated[str | None, typer.Option(
        help="Audit this annotator's labels (see `umlsgraph annotations`); default: the only "
        "one.")] = None,
    folds: Annotated[int, typer.Option(help="Folds: each label is predicted by a model "
                                       "trained on the others.")] = 5,
    epochs: Annotated[int, typer.Option(help="Epochs per fold model (few: later epochs learn "
                                        "the wrong labels too).")] = 2,
    base_model: Annotated[str | None, typer.Option(
        "--base-model", envvar="UMLSGRAPH_BASE_MODEL",
        help="Encoder checkpoint of the fold models (folder or hub name).")] = None,
    lr: Annotated[float, typer.Option(help="Peak learning rate of the fold models.")] = 5e-5,
    max_length: Annotated[int, typer.Option(help="Most tokens per item.")] = 128,
    text: Annotated[list[str] | None, typer.Option(
        "--text", help="Extra concept text parts, as for `train` (parents, definition, ...).")
    ] = None,
    annotator_weight: Annotated[float, typer.Option(
        help="Weight of the annotator's own stored P(positive), where it has one.")] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed of the folds and the fold models.")] = 42,
    show: Annotated[int, typer.Option(help="Suspects to list (all are stored).")] = 30,
    keep_models: Annotated[bool, typer.Option(
        "--keep-models", help="Keep the fold models (default: deleted when done).")] = False,
    corpus: Annotated[str | None, typer.Option(
        "--corpus", help="Audit the labels of this loaded corpus instead of concepts.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1…")] = "auto",
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON (every suspect).")
                           ] = False,
) -> None:
    """List the labels most likely wrong, with the predicted probability and the item text.

    Each fold model is trained on the other folds with the project's trainer; confident
    learning (cleanlab) flags labels the out-of-sample probabilities contradict. Flags are
    stored in the `label_audit` table: `train --exclude-suspects` leaves them out and
    `annotate --reask suspects --llm OTHER` asks a second annotator about them. Re-running
    resumes at the first fold not yet predicted.
    """
    from umlsgraph.db.items import source_for
    from umlsgraph.settings import DEFAULT_BASE_MODEL, TrainConfig
    from umlsgraph.train.audit import AuditConfig, fold_config
    from umlsgraph.train.audit import audit as run_audit

    train_config = fold_config(TrainConfig(
        base_model=base_model or DEFAULT_BASE_MODEL, lr=lr, max_length=max_length, seed=seed,
        device=device, text=split_csv(text)), epochs=epochs)
    config = AuditConfig(folds=folds, seed=seed, annotator_weight=annotator_weight,
                         keep_models=keep_models)

    def on_fold(fold: int, total: int) -> None:
        if not json_output:
            err_console.print(f"fold {fold}/{total}: out-of-sample probabilities stored")

    result = run_audit(db, query, source_for(corpus), annotator, train_config, config,
                       progress=not json_output, on_fold=on_fold)
    if json_output:
        print_json(result.as_dict())
        return
    _print(result, show)


def _print(r: AuditResult, show: int) -> None:
    share = len(r.suspects) / r.n if r.n else 0.0
    console.print(f"{r.annotator} on {r.query}: {len(r.suspects):,} of {r.n:,} labels flagged "
                  f"({share:.1%}), {r.folds} folds ({r.folds_trained} trained now"
                  + (", resumed" if r.resumed else "") + ")"
                  + ("; the annotator's own scores were used" if r.used_annotator_scores
                     else ""), soft_wrap=True)
    if not r.suspects:
        return
    table = Table(title=f"most likely wrong labels (first {min(show, len(r.suspects))})")
    for column in ("id", "label", "P(positive)", "predicted", "quality", "text"):
        table.add_column(column, justify="right" if column in ("P(positive)", "quality")
                         else "left", overflow="fold")
    for s in r.suspects[:show]:
        table.add_row(s.id, s.label, f"{s.p_positive:.3f}", s.predicted, f"{s.quality:.3f}",
                      s.text[:80])
    console.print(table)
    console.print(f"Train without them: umlsgraph train {r.query} --exclude-suspects "
                  f"--annotator '{r.annotator}' ...", soft_wrap=True, markup=False)
