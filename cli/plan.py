"""`umlsgraph plan`: what `annotate` would ask, send and cost, before paying for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .common import DEFAULT_DB, CorpusOption, DbOption, QueryArg, console, print_json, user_errors

if TYPE_CHECKING:
    from umlsgraph.annotate.plan import Plan


def register(app: typer.Typer) -> None:
    app.command("plan")(user_errors(plan))


def plan(
    query: QueryArg,
    llm: Annotated[str, typer.Option("--llm", help="BACKEND:MODEL, as for annotate.")],
    db: DbOption = DEFAULT_DB,
    n: Annotated[int | None, typer.Option("-n", "--sample-size", help="Sample size, as for annotate.")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed (default: the query's).")] = None,
    stratify: Annotated[bool | None, typer.Option("--stratify/--no-stratify", help="Stratify by semantic type.")] = None,
    mode: Annotated[str | None, typer.Option(help="generate or constrained, as for annotate.")] = None,
    base_url: Annotated[str | None, typer.Option(help="openai: the server's base URL (not contacted).")] = None,
    api_key_env: Annotated[str, typer.Option(help="openai: environment variable with the key.")] = "OPENAI_API_KEY",
    max_new_tokens: Annotated[int, typer.Option(help="Most tokens an answer may have.")] = 8,
    price_in: Annotated[float | None, typer.Option(help="USD per million prompt tokens.")] = None,
    price_out: Annotated[float | None, typer.Option(help="USD per million answer tokens.")] = None,
    measure: Annotated[bool, typer.Option("--measure", help="Local backends: load the model and time a few items (nothing is stored). Off by default: plan calls no model.")] = False,
    measure_items: Annotated[int, typer.Option(help="Items --measure times.")] = 8,
    device: Annotated[str, typer.Option(help="hf/embed with --measure: auto, cpu, cuda…")] = "auto",
    reask: Annotated[str | None, typer.Option(help="Plan `annotate --reask`: suspects or contradictions (-n of them: N contradictions cost N items of --llm).")] = None,
    reask_from: Annotated[str, typer.Option(help="--reask contradictions: predictions, annotations or auto, as for annotate.")] = "auto",
    model: Annotated[Path | None, typer.Option(help="--reask contradictions from predictions: whose predictions (default: the latest).")] = None,
    audited: Annotated[str | None, typer.Option(help="--reask: whose labels are second-guessed, as for annotate.")] = None,
    corpus: CorpusOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show what `annotate` would do, without asking: candidates, already answered, three
    conversations exactly as sent, estimated tokens, cost and time."""
    from umlsgraph.annotate.backends import AnnotatorOptions
    from umlsgraph.annotate.plan import plan as make_plan
    from umlsgraph.db.items import source_for

    options = AnnotatorOptions(mode=mode, device=device, max_new_tokens=max_new_tokens,
                               base_url=base_url, api_key_env=api_key_env)
    result = make_plan(db, query, source_for(corpus), llm, n=n, seed=seed, stratify=stratify,
                       options=options, price_in=price_in, price_out=price_out,
                       measure=measure_items if measure else 0, reask=reask,
                       reask_from=reask_from, model=model, audited=audited)
    if json_output:
        print_json(result.as_dict())
        return
    _print(result)


def _print(r: Plan) -> None:
    say = console.print
    say(f"Plan: {r.query} ({r.source}) with {r.annotator}, prompt {r.prompt_hash}",
        markup=False, highlight=False, soft_wrap=True)
    if r.reask:
        say(f"  re-ask: {_reask(r.reask)}", markup=False, highlight=False, soft_wrap=True)
    say(f"  candidates {r.candidates:,}; sample {r.sample_size:,}; already answered "
        f"{r.answered:,}; to ask {r.to_ask:,}", highlight=False)
    t = r.tokens
    say(f"  tokens: prompt {t['prompt_per_item']:,}/item, answer at most "
        f"{t['answer_per_item_max']}/item; in all {t['prompt_total']:,} prompt + at most "
        f"{t['answer_total_max']:,} answer ({t['method']}; {t['measured_on_items']} items)",
        markup=False, highlight=False, soft_wrap=True)
    cost = (f"${r.cost['usd']:,.4f} ({r.cost['note']})" if r.cost.get("usd") is not None
            else r.cost["note"])
    say(f"  cost: {cost}", markup=False, highlight=False, soft_wrap=True)
    say(f"  time: {_time(r.time)}", markup=False, highlight=False, soft_wrap=True)
    for number, conv in enumerate(r.conversations, 1):
        say(f"\n--- conversation {number} of {len(r.conversations)}: {conv['id']} ---",
            markup=False, highlight=False)
        say(_sent(conv["sent"]), markup=False, highlight=False, soft_wrap=True)


def _reask(about: dict[str, Any]) -> str:
    """What a re-ask asks: the suspects, or which contradictions of which selection."""
    if about["reask"] == "suspects":
        return f"{about['chosen']:,} items the audit flagged"
    of = f"model {about['of']}" if about["from"] == "predictions" else about["of"]
    if about.get("reused"):
        return (f"the {about['chosen']:,} contradictions stored before, of the "
                f"{about['from']} ({of})")
    return (f"{about['chosen']:,} contradictions ({about['chosen_islands']:,} islands, "
            f"{about['chosen_holes']:,} holes) of the {about['from']} ({of}), which have "
            f"{about['islands']:,} islands and {about['holes']:,} holes; each costs one item")


def _time(t: dict[str, Any]) -> str:
    if not t.get("measured"):
        return str(t["note"])
    return (f"~{t['seconds_estimate']:,.0f} s at {t['items_per_second']:,.2f} items/s "
            f"(measured on {t['items']} items; model load {t['load_seconds']} s)")


def _sent(sent: dict[str, Any]) -> str:
    """The request as the backend sends it: the rendered string, else the JSON body."""
    if isinstance(sent.get("text"), str):
        return sent["text"]
    return json.dumps(sent, indent=2, ensure_ascii=False)
