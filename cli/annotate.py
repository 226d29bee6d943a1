"""Commands for steps 2-3 of LlamBERT: `annotate` (sample + ask an LLM) and `annotations`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from .common import (
    DEFAULT_DB,
    CorpusOption,
    DbOption,
    QueryArg,
    console,
    err_console,
    print_json,
    user_errors,
)

if TYPE_CHECKING:
    from umlsgraph.annotate.driver import AnnotateResult, ImportResult



def register(app: typer.Typer) -> None:
    app.command("annotate")(user_errors(annotate))
    app.command("annotations")(user_errors(show_annotations))


def annotate(
    query: QueryArg,
    db: DbOption = DEFAULT_DB,
    llm: Annotated[str | None, typer.Option(
        "--llm", help="BACKEND:MODEL: hf:PATH|HUB_NAME|FILE.gguf, vllm:MODEL, openai:MODEL, "
        "embed[:ENCODER], labels:FILE (a labels file that answers only what it is asked).")
    ] = None,
    n: Annotated[int | None, typer.Option(
        "-n", "--sample-size", min=1, help="Sample size (a target: items already answered count "
        "towards it); --strategy uncertainty/diverse and --reask contradictions: new items to "
        "ask. Default: the query's \\[sample] size.")] = None,
    batch_size: Annotated[int | None, typer.Option(
        min=1, help="Items per batch; each batch is stored before the next is asked.")] = None,
    mode: Annotated[str | None, typer.Option(
        help="generate (free text, parsed) or constrained (hf: answer-word likelihoods; "
        "vllm: structured choice).")] = None,
    tensor_parallel: Annotated[int, typer.Option(min=1, help="vllm: GPUs to split the model over.")] = 1,
    base_url: Annotated[str | None, typer.Option(
        help="openai: the server's base URL, e.g. http://127.0.0.1:8000/v1 "
        "(default: $OPENAI_BASE_URL or OpenAI).")] = None,
    api_key_env: Annotated[str, typer.Option(
        help="openai: environment variable that holds the API key.")] = "OPENAI_API_KEY",
    concurrency: Annotated[int, typer.Option(min=1, help="openai: requests in flight at once.")] = 4,
    timeout: Annotated[float, typer.Option(min=0.001, help="openai: seconds per request.")] = 60.0,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Most tokens an answer may have.")] = 8,
    labels_file: Annotated[Path | None, typer.Option(
        help="Import labels made elsewhere (CSV/JSONL with id and label) instead of asking "
        "an LLM.")] = None,
    annotator: Annotated[str | None, typer.Option(
        "--annotator", help="With --labels-file: store the labels under this annotator name, "
        "e.g. human:alice (default: labels:FILENAME).")] = None,
    corpus: CorpusOption = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed (default: the query's).")] = None,
    stratify: Annotated[bool | None, typer.Option(
        "--stratify/--no-stratify", help="Stratify the sample by semantic type.")] = None,
    device: Annotated[str, typer.Option(help="hf/embed: auto, cpu, cuda, cuda:1…")] = "auto",
    strategy: Annotated[str, typer.Option(
        help="random (the seeded sample; -n is its size), uncertainty (the -n unlabelled items "
        "--model is least sure of) or diverse (uncertain, one per cluster of similar items).")
    ] = "random",
    model: Annotated[Path | None, typer.Option(
        help="uncertainty/diverse: the current encoder (a folder `umlsgraph train` wrote); "
        "--reask contradictions from predictions: whose predictions (default: the latest).")
    ] = None,
    reask: Annotated[str | None, typer.Option(
        help="suspects: ask --llm about the items `umlsgraph audit` flagged, only those; "
        "contradictions: about the -n most surprising islands and holes `umlsgraph check` "
        "finds (chosen once and stored, so a re-run resumes). Train on both with "
        "`umlsgraph train --annotator STRONG,WEAK`.")
    ] = None,
    reask_from: Annotated[str, typer.Option(
        help="--reask contradictions: whose selection is checked: predictions (after `label`), "
        "annotations (before training), or auto (predictions where the query has some).")
    ] = "auto",
    audited: Annotated[str | None, typer.Option(
        help="--reask: whose labels are second-guessed, when several annotators labelled: "
        "suspects: whose audit; contradictions from annotations: whose annotations "
        "(comma-separated in order of priority).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Sample items and have an LLM (or embeddings, or a labels file) annotate them.

    Every batch is stored as it arrives; re-running the same command resumes.
    """
    from umlsgraph.annotate.backends import AnnotatorOptions
    from umlsgraph.annotate.driver import annotate as run_annotate
    from umlsgraph.annotate.driver import import_labels
    from umlsgraph.db.items import source_for
    from umlsgraph.errors import UmlsgraphError
    from umlsgraph.settings import annotation_input

    source = source_for(corpus)
    if annotator is not None and labels_file is None:
        raise UmlsgraphError("--annotator names imported labels; use it with --labels-file")
    backend = annotation_input(llm, labels_file)
    if backend is None:
        assert labels_file is not None
        _print_import(import_labels(db, query, labels_file, source, annotator), json_output)
        return
    options = AnnotatorOptions(
        mode=mode, device=device, max_new_tokens=max_new_tokens, tensor_parallel=tensor_parallel,
        base_url=base_url, api_key_env=api_key_env, concurrency=concurrency, timeout=timeout)
    result = run_annotate(db, query, source, backend, n=n, batch_size=batch_size, seed=seed,
                          stratify=stratify, progress=not json_output, options=options,
                          strategy=strategy, model=model, reask=reask, audited=audited,
                          reask_from=reask_from)
    if json_output:
        print_json(result.as_dict())
        return
    _print_run(result)


def _print_run(r: AnnotateResult) -> None:
    if r.reask.get("reask") == "contradictions":
        _print_contradictions(r.reask)
    counts = ", ".join(f"{c}: {k:,}" for c, k in sorted(r.counts.items())) or "none"
    console.print(
        f"{r.annotator} on {r.query} ({r.source}): asked {r.asked:,} of a {r.sample_size:,}-item "
        f"sample ({r.skipped_done:,} already answered, {r.candidates:,} candidates)",
        soft_wrap=True)
    console.print(f"  {counts}; unparseable: {r.unparseable:,}"
                  + (f"; {r.items_per_second:,.2f} items/s" if r.asked else ""), soft_wrap=True)
    if r.missing_text:
        err_console.print(f"  {r.missing_text:,} sampled items have no text and were skipped")


def _print_contradictions(about: dict[str, Any]) -> None:
    """Which selection the re-asked islands and holes come from, and how many were chosen."""
    of = f"model {about['of']}" if about["from"] == "predictions" else about["of"]
    if about.get("reused"):
        console.print(f"Re-asking the {about['chosen']:,} contradictions chosen before from the "
                      f"{about['from']} ({of}); the stored round is resumed", markup=False,
                      highlight=False, soft_wrap=True)
        return
    console.print(
        f"Re-asking {about['chosen']:,} contradictions ({about['chosen_islands']:,} islands, "
        f"{about['chosen_holes']:,} holes; most surprising first) of the {about['from']} "
        f"({of}), which have {about['islands']:,} islands and {about['holes']:,} holes",
        markup=False, highlight=False, soft_wrap=True)


def _print_import(r: ImportResult, json_output: bool) -> None:
    if json_output:
        print_json(r.as_dict())
        return
    counts = ", ".join(f"{c}: {k:,}" for c, k in sorted(r.counts.items()))
    console.print(f"Imported {r.imported:,} labels as {r.annotator} ({counts})", soft_wrap=True)
    if r.unknown_ids:
        err_console.print(f"  {r.unknown_ids:,} ids are not among the query's items and were "
                          f"skipped, e.g. {', '.join(r.unknown_examples)}", soft_wrap=True)
    if r.bad_rows:
        err_console.print(f"  {r.bad_rows:,} rows were not usable, e.g. "
                          f"{'; '.join(r.bad_examples)}", highlight=False, soft_wrap=True)


def show_annotations(
    query: QueryArg,
    db: DbOption = DEFAULT_DB,
    corpus: CorpusOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What is stored: answers per annotator and prompt, per category, and parse failures."""
    from umlsgraph.annotate.driver import summary
    from umlsgraph.db.items import source_for

    groups = summary(db, query, source_for(corpus))
    if json_output:
        print_json(groups)
        return
    if not groups:
        console.print(f"No annotations for {query} yet; run `umlsgraph annotate {query} --llm …`")
        return
    table = Table(title=f"annotations of {query}")
    for column in ("annotator", "prompt", "total", "per category", "unparseable"):
        table.add_column(column, justify="right" if column in ("total", "unparseable") else "left")
    for g in groups:
        per = ", ".join(f"{c}: {k:,}" for c, k in sorted(g["counts"].items()))
        table.add_row(g["annotator"], g["prompt_hash"], f"{g['total']:,}", per,
                      f"{g['unparseable']:,}")
    console.print(table)
    for g in groups:
        if g["examples"]:
            shown = "; ".join(repr(e[:60]) for e in g["examples"])
            console.print(f"unparseable from {g['annotator']}, e.g. {shown}", highlight=False,
                          markup=False, soft_wrap=True)
