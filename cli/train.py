"""Commands for steps 4-5 of LlamBERT and their scoring: `train`, `label`, `eval`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from umlsgraph.settings import LABEL_CHUNK, TRAIN_DEFAULTS
from umlsgraph.train.second_opinion import DEFAULT_RULE as DEFAULT_SECOND_OPINION
from umlsgraph.train.second_opinion import RULES as SECOND_OPINION_RULES

from .common import (
    DEFAULT_DB,
    AnnotatorOption,
    BaseModelOption,
    ClosureOption,
    CorpusOption,
    DbOption,
    DeviceOption,
    JsonOption,
    QueryArg,
    SplitOption,
    TextOption,
    VerdictsOption,
    between,
    console,
    print_json,
    text_parts,
    user_errors,
)

SecondOpinion = Literal[SECOND_OPINION_RULES]  # type: ignore[valid-type]


def register(app: typer.Typer) -> None:
    app.command("train")(user_errors(train))
    app.command("label")(user_errors(label))
    app.command("eval")(user_errors(eval_))


def train(
    query: QueryArg,
    db: DbOption = DEFAULT_DB,
    out: Annotated[Path, typer.Option(help="The model folder to write (and resume in).")] = Path(
        "model"),
    base_model: BaseModelOption = None,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs (raised for small label sets, see "
                                        "--min-steps).")] = TRAIN_DEFAULTS.epochs,
    lr: Annotated[float, typer.Option(callback=between(0.0), help="Peak learning rate (AdamW).")] = TRAIN_DEFAULTS.lr,
    batch_size: Annotated[int, typer.Option(min=1, help="Items per optimisation step.")] = TRAIN_DEFAULTS.batch_size,
    max_length: Annotated[int, typer.Option(min=2, help="Most tokens per item.")] = TRAIN_DEFAULTS.max_length,
    seed: Annotated[int, typer.Option(help="Seed of the split, the shuffles and the head.")] = TRAIN_DEFAULTS.seed,
    class_weighting: Annotated[str, typer.Option(
        help="none, sqrt (tempered) or balanced (inverse class frequency; with noisy labels "
        "it multiplies the weight of the wrong minority labels).")
    ] = TRAIN_DEFAULTS.class_weighting,
    label_smoothing: Annotated[float, typer.Option(
        help="Cross-entropy label smoothing, in [0, 0.5).")] = TRAIN_DEFAULTS.label_smoothing,
    keep: Annotated[str, typer.Option(
        help="The epoch the model folder keeps: last, or best on the validation split (a "
        "small split of noisy labels picks by noise).")] = TRAIN_DEFAULTS.keep,
    min_steps: Annotated[int, typer.Option(
        min=0, help="At least this many optimisation steps (more epochs for small label sets).")
    ] = TRAIN_DEFAULTS.min_steps,
    val_fraction: Annotated[float, typer.Option(
        min=0.0, callback=between(-1.0, 1.0), help="Share of each class held out to score each "
        "epoch (and, with --keep best, to pick one; 0: none).")
    ] = TRAIN_DEFAULTS.val_fraction,
    patience: Annotated[int, typer.Option(
        min=1, help="With --keep best: stop after this many epochs without a better "
        "validation F1.")
    ] = TRAIN_DEFAULTS.patience,
    text: TextOption = None,
    annotator: AnnotatorOption = None,
    init_model: Annotated[Path | None, typer.Option(
        help="Combined mode: continue training this umlsgraph model folder on these labels.")
    ] = None,
    second_opinion: Annotated[SecondOpinion, typer.Option(
        help="With several --annotator (STRONG,WEAK): how STRONG's answers overrule WEAK's "
        "labels below them in the hierarchy when most of that branch disagrees with them. "
        "closure: a positive answer relabels the branch's disagreeing labels, another answer "
        "leaves them out; flip: relabel; drop: leave out; off: STRONG wins on its own items "
        "only.")] = DEFAULT_SECOND_OPINION,
    exclude_suspects: Annotated[bool, typer.Option(
        "--exclude-suspects", help="Leave out the labels `umlsgraph audit` flagged as likely "
        "wrong (needs a finished audit of the annotator).")] = False,
    corpus: CorpusOption = None,
    split: SplitOption = None,
    device: DeviceOption = TRAIN_DEFAULTS.device,
    no_resume: Annotated[bool, typer.Option(
        "--no-resume", help="Start over instead of resuming from OUT's checkpoint.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Fine-tune an encoder on a query's stored labels (defaults made for noisy LLM labels).

    Re-running the same command resumes an interrupted run and skips a finished one.
    """
    from umlsgraph.db.items import source_for
    from umlsgraph.query import load_query
    from umlsgraph.settings import TrainConfig, resolve_base_model
    from umlsgraph.train.trainer import train as run_train

    config = TrainConfig(
        base_model=resolve_base_model(base_model), epochs=epochs, lr=lr,
        batch_size=batch_size, max_length=max_length, seed=seed,
        class_weighting=class_weighting, label_smoothing=label_smoothing, keep=keep,
        min_steps=min_steps, val_fraction=val_fraction, patience=patience, device=device,
        text=text_parts(text))
    the_query, source = load_query(query), source_for(corpus, split)
    labels_sql = None
    if exclude_suspects:
        from umlsgraph.train.audit import labels_without_suspects

        labels_sql, name = labels_without_suspects(db, the_query, source, annotator)
        annotator = f"{name} (audit suspects excluded)"
    result = run_train(db, the_query, source, config, out, labels_sql=labels_sql,
                       annotator=annotator, init_model=init_model, resume=not no_resume,
                       progress=not json_output, second_opinion=second_opinion)
    if json_output:
        print_json({k: getattr(result, k) for k in result.__dataclass_fields__})
        return
    state = "already trained" if result.already_done else (
        "resumed and finished" if result.resumed else "trained")
    console.print(f"{out}: {state} on {result.n_train:,} items ({result.n_val:,} validation); "
                  f"{result.kept(the_query.positive)}, "
                  f"{result.seconds:.0f} s. Model id {result.model_id}")


def label(
    query: QueryArg,
    db: DbOption = DEFAULT_DB,
    model: Annotated[Path, typer.Option(help="The model folder `umlsgraph train` wrote.")] = Path(
        "model"),
    batch_size: Annotated[int | None, typer.Option(
        min=1, help="Items per forward pass \\[default: 64 on CPU, 1024 on a GPU].")] = None,
    max_length: Annotated[int | None, typer.Option(
        min=2, help="Most tokens per item \\[default: the training one].")] = None,
    chunk_size: Annotated[int, typer.Option(
        min=1, help="Items read, predicted and committed together (bounds memory).")] = LABEL_CHUNK,
    corpus: CorpusOption = None,
    split: SplitOption = None,
    device: DeviceOption = "auto",
    force: Annotated[bool, typer.Option(
        "--force", help="Label even with a model trained for another query.")] = False,
    workers: Annotated[int | None, typer.Option(
        min=0, help="Processes that tokenize the next chunks beside the model "
        "\\[default: 0 on CPU, 4 on a GPU].")] = None,
    json_output: JsonOption = False,
) -> None:
    """Label every candidate item with a fine-tuned model; resumes where a run stopped."""
    from dataclasses import asdict

    from umlsgraph.db.items import source_for
    from umlsgraph.label.labeller import label as run_label
    from umlsgraph.query import load_query

    result = run_label(db, load_query(query), source_for(corpus, split), model,
                       batch_size=batch_size, max_length=max_length, chunk_size=chunk_size,
                       device=device, progress=not json_output, force=force, workers=workers)
    if json_output:
        print_json({**asdict(result), "per_second": result.per_second})
        return
    console.print(f"Labelled {result.labelled:,} items ({result.already:,} already done) in "
                  f"{result.seconds:.0f} s ({result.per_second:,.0f}/s); "
                  f"{result.positives:,} positive of {result.candidates:,}. "
                  f"Model id {result.model}")


def eval_(
    query: QueryArg,
    db: DbOption = DEFAULT_DB,
    gold: Annotated[Path | None, typer.Option(
        help="Gold labels: CSV (header id,label) or JSONL ({\"id\": …, \"label\": …}).")] = None,
    source: Annotated[str, typer.Option(
        "--source", help="What to score: predictions (the encoder's), selection (what "
        "export selects from them, with --closure) or annotations (the LLM's).")] = "predictions",
    closure: ClosureOption = None,
    verdicts: VerdictsOption = None,
    model: Annotated[str | None, typer.Option(
        help="Model folder or id whose predictions to score \\[default: the latest].")] = None,
    annotator: AnnotatorOption = None,
    corpus: CorpusOption = None,
    split: SplitOption = None,
    gold_column: Annotated[str | None, typer.Option(
        help="With --corpus: take gold labels from this column of the corpus (e.g. gold).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Accuracy, precision, recall, F1 (positive class and macro) and the confusion matrix."""
    from umlsgraph.db.items import source_for
    from umlsgraph.evaluate.evaluation import evaluate
    from umlsgraph.query import load_query

    metrics = evaluate(db, load_query(query), source_for(corpus, split), gold, what=source,
                       model=model, annotator=annotator, gold_column=gold_column,
                       closure=closure, verdicts=verdicts)
    if json_output:
        print_json(metrics)
        return
    _print_metrics(metrics)


def _print_metrics(metrics: dict[str, Any]) -> None:
    who = metrics.get("model") or metrics.get("annotator")
    table = Table(title=f"{metrics['what']} ({who}) vs gold, positive = '{metrics['positive']}'")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("accuracy", "precision", "recall", "f1", "f1_macro"):
        table.add_row(key, f"{metrics[key]:.4f}")
    table.add_row("n", f"{metrics['n']:,}")
    table.add_row("gold ids without a label", f"{metrics['n_missing']:,}")
    console.print(table)
    confusion = metrics["confusion"]
    if confusion:
        matrix = Table(title="confusion (rows: gold, columns: predicted)")
        matrix.add_column("")
        for predicted in confusion:
            matrix.add_column(predicted, justify="right")
        for gold, row in confusion.items():
            matrix.add_row(gold, *(f"{row[p]:,}" for p in confusion))
        console.print(matrix)
