"""`audit`: find the annotations most likely wrong (k-fold out-of-sample + confident learning)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from umlsgraph.settings import AUDIT_DEFAULTS, FOLD_EPOCHS, TRAIN_DEFAULTS

from .common import (
    DEFAULT_DB,
    BaseModelOption,
    DbOption,
    DeviceOption,
    QueryArg,
    TextOption,
    console,
    err_console,
    print_json,
    text_parts,
    user_errors,
)

if TYPE_CHECKING:
    from umlsgraph.train.audit import AuditResult


def register(app: typer.Typer) -> None:
    app.command("audit")(user_errors(audit))


def audit(
    query: QueryArg,
    db: DbOption = DEFAULT_DB,
    annotator: Annotated[str | None, typer.Option(
        help="Audit this annotator's labels (see `umlsgraph annotations`); default: the only "
        "one.")] = None,
    folds: Annotated[int, typer.Option(help="Folds: each label is predicted by a model "
                                       "trained on the others.")] = AUDIT_DEFAULTS.folds,
    epochs: Annotated[int, typer.Option(help="Epochs per fold model (few: later epochs learn "
                                        "the wrong labels too).")] = FOLD_EPOCHS,
    base_model: BaseModelOption = None,
    lr: Annotated[float, typer.Option(help="Peak learning rate of the fold models.")
                  ] = TRAIN_DEFAULTS.lr,
    max_length: Annotated[int, typer.Option(help="Most tokens per item.")
                          ] = TRAIN_DEFAULTS.max_length,
    text: TextOption = None,
    annotator_weight: Annotated[float, typer.Option(
        help="Weight of the annotator's own stored P(positive), where it has one.")
    ] = AUDIT_DEFAULTS.annotator_weight,
    seed: Annotated[int, typer.Option(help="Seed of the folds and the fold models.")
                    ] = AUDIT_DEFAULTS.seed,
    show: Annotated[int, typer.Option(help="Suspects to list (all are stored).")] = 30,
    keep_models: Annotated[bool, typer.Option(
        "--keep-models", help="Keep the fold models (default: deleted when done).")] = False,
    corpus: Annotated[str | None, typer.Option(
        "--corpus", help="Audit the labels of this loaded corpus instead of concepts.")] = None,
    device: DeviceOption = TRAIN_DEFAULTS.device,
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
    from umlsgraph.settings import AuditConfig, TrainConfig, resolve_base_model
    from umlsgraph.train.audit import audit as run_audit
    from umlsgraph.train.audit import fold_config

    train_config = fold_config(TrainConfig(
        base_model=resolve_base_model(base_model), lr=lr, max_length=max_length, seed=seed,
        device=device, text=text_parts(text)), epochs=epochs)
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
    print_table(table)
    console.print(f"Train without them: umlsgraph train {r.query} --exclude-suspects "
                  f"--annotator '{r.annotator}' ...", soft_wrap=True, markup=False)


#: Wide enough for any row: a table printed to a log or a pipe takes its natural width.
LOG_WIDTH = 100_000


def print_table(table: Table, out: Console | None = None) -> None:
    """Print an audit table: fitted to a terminal; with whole cell values when the output is
    a log or a pipe, where rich would fit it to 80 columns and cut words ("Aggravat… by")."""
    out = out or console
    if out.is_terminal:
        out.print(table)
        return
    Console(file=out.file, width=LOG_WIDTH, emoji=False, color_system=None).print(table)
