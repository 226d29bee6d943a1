"""`umlsgraph plan`: what an `annotate` run would ask, send and cost, without asking anything.

The plan uses the run's own parts: `driver.pending` (the sample minus what this annotator
already answered for this prompt hash), `make_prompt` (the conversation) and the backend's
`preview` (what it would send: the chat-completions body, the chat-template string, or the
bare text for `embed`). No model is loaded and no server is contacted, except the model's
tokenizer where it can be loaded offline, for exact token counts. `measure` (opt-in) runs
the model on a few items to time it; that is the only way a plan calls a model.

A re-ask (``--reask suspects`` or ``contradictions``) is planned on the items it would ask:
the audit's suspects, or the -n islands and holes `annotate --reask contradictions` would
choose (chosen the same way, `strategy.choose_contradictions`, but not stored), less what
this annotator already answered: N contradictions cost N items of the chosen LLM.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from umlsgraph.annotate import sampling
from umlsgraph.annotate.backends import Annotator, AnnotatorOptions, Prompt, create, make_prompt
from umlsgraph.annotate.driver import pending
from umlsgraph.db import connect
from umlsgraph.db.items import ConceptSource, ItemSource, fetch_texts
from umlsgraph.errors import AnnotationError
from umlsgraph.query import Query, load_query

#: Conversations shown in full.
SHOWN = 3
#: Items whose prompts are rendered and counted to estimate tokens per item.
TOKEN_SAMPLE = 200
#: The approximation used where no tokenizer can be loaded (OpenAI's rule of thumb), plus
#: the few tokens a chat format adds per message.
CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
#: Backends that run here, whose rate `measure` can time.
LOCAL = {"hf", "vllm", "embed"}


@dataclass
class Plan:
    """What `annotate` would do with these settings, and what it would cost."""

    query: str
    source: str
    annotator: str
    prompt_hash: str
    candidates: int = 0
    sample_size: int = 0
    answered: int = 0
    to_ask: int = 0
    #: `--reask`: what is re-asked (contradictions: whose selection, how many chosen).
    reask: dict[str, Any] = field(default_factory=dict)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)
    time: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def plan(db: str | Path, query: Query | str, source: ItemSource | None = None,
         spec: str = "embed", n: int | None = None, seed: int | None = None,
         stratify: bool | None = None, options: AnnotatorOptions | None = None,
         price_in: float | None = None, price_out: float | None = None,
         measure: int = 0, reask: str | None = None, reask_from: str = "auto",
         model: str | Path | None = None, audited: str | None = None) -> Plan:
    """Plan an `annotate` run of `spec` on `query`; asks nothing unless `measure` > 0.

    With `reask`, the run `annotate --reask` would make (its other arguments as there)."""
    query = load_query(query) if isinstance(query, str) else query
    source = source or ConceptSource()
    if measure < 0 or (price_in is not None and price_in < 0) or (
            price_out is not None and price_out < 0):
        raise AnnotationError("--measure, --price-in and --price-out cannot be negative")
    annotator = create(spec, options)
    about: dict[str, Any] = {}
    if reask is not None:
        source, about = _reask_source(db, query, source, annotator, reask, reask_from, model,
                                      audited, n)
        n, stratify = max(about["chosen"], 1), False
    con = connect(db, read_only=True)
    try:
        source.check(con)
        todo = pending(con, query, source, annotator, n, seed, stratify)
        prompts = _prompts(con, query, source, todo.todo, n, seed, stratify)
    finally:
        con.close()
    result = Plan(query.name, source.key, annotator.name, annotator.prompt_hash(query),
                  candidates=todo.candidates, sample_size=todo.size, answered=todo.done,
                  to_ask=len(todo.todo), reask=about)
    result.conversations = [{"id": p.id, "item_text": p.text, "sent": annotator.preview(p)}
                            for p in prompts[:SHOWN]]
    result.tokens = _tokens(annotator, prompts, result.to_ask)
    result.cost = _cost(annotator, result.tokens, price_in, price_out)
    result.time = _time(annotator, query, prompts, result.to_ask, measure)
    return result


def _reask_source(db: str | Path, query: Query, source: ItemSource, annotator: Annotator,
                  reask: str, reask_from: str, model: str | Path | None, audited: str | None,
                  n: int | None) -> tuple[ItemSource, dict[str, Any]]:
    """The items `annotate --reask` would ask, as a source, and what they were chosen from;
    nothing is stored."""
    from umlsgraph.annotate import strategy
    from umlsgraph.annotate.driver import candidate_count, check_reask, suspects

    check_reask(reask)
    if reask == "suspects":
        subset = suspects(db, query, source, audited)
        return subset, {"reask": reask, "chosen": candidate_count(db, query, subset)}
    chosen = strategy.choose_contradictions(
        db, query, source, n or query.sample.size, annotator.name, annotator.prompt_hash(query),
        reask_from, model, audited, store=False)
    return chosen.source, {"reask": reask, "reused": chosen.reused, "chosen": chosen.size,
                           **chosen.about}


def _prompts(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
             todo: list[str], n: int | None, seed: int | None,
             stratify: bool | None) -> list[Prompt]:
    """Prompts of the first items still to ask (of the sample, when all are answered)."""
    ids = todo[:TOKEN_SAMPLE]
    if not ids:
        ids = sampling.sample_ids(con, query, source, min(n or query.sample.size, TOKEN_SAMPLE),
                                  query.sample.seed if seed is None else seed,
                                  query.sample.stratify if stratify is None else stratify)
    texts = fetch_texts(con, query, source, ids)
    return [make_prompt(query, i, texts[i]) for i in ids if texts.get(i)]


def _tokens(annotator: Annotator, prompts: list[Prompt], to_ask: int) -> dict[str, Any]:
    """Prompt tokens per item (mean over the rendered sample) and the totals for `to_ask`."""
    tokenizer = annotator.offline_tokenizer()
    counts = [_count(annotator, tokenizer, p) for p in prompts]
    per_item = sum(counts) / len(counts) if counts else 0.0
    method = ("the model's tokenizer" if tokenizer is not None else
              f"approximation: ~{CHARS_PER_TOKEN} characters per token + "
              f"{TOKENS_PER_MESSAGE} per message (no tokenizer can be loaded for this backend)")
    return {"method": method, "measured_on_items": len(counts),
            "prompt_per_item": round(per_item, 1), "answer_per_item_max": annotator.answer_tokens,
            "prompt_total": math.ceil(per_item * to_ask),
            "answer_total_max": annotator.answer_tokens * to_ask}


def _count(annotator: Annotator, tokenizer: Any, prompt: Prompt) -> int:
    """Tokens of what the backend sends for one prompt."""
    sent = annotator.preview(prompt)
    text = sent.get("text")
    if tokenizer is not None and isinstance(text, str):
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])
    messages = sent.get("messages") or sent.get("body", {}).get("messages") or []
    chars = sum(len(m["content"]) for m in messages) if messages else len(text or "")
    return math.ceil(chars / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * len(messages)


def _cost(annotator: Annotator, tokens: dict[str, Any], price_in: float | None,
          price_out: float | None) -> dict[str, Any]:
    """Cost in USD from prices per million tokens (answers counted at their maximum)."""
    if price_in is None or price_out is None:
        note = ("give --price-in and --price-out (USD per million tokens) for a cost"
                if annotator.backend == "openai" else
                "runs locally: no per-token price (give --price-in/--price-out to price it)")
        return {"usd": None, "note": note}
    usd = (tokens["prompt_total"] * price_in + tokens["answer_total_max"] * price_out) / 1e6
    return {"usd": round(usd, 4), "price_in": price_in, "price_out": price_out,
            "note": "answers counted at --max-new-tokens each: an upper bound"}


def _time(annotator: Annotator, query: Query, prompts: list[Prompt], to_ask: int,
          measure: int) -> dict[str, Any]:
    """Expected time from a short measured rate (opt-in: measuring runs the model)."""
    if annotator.backend not in LOCAL:
        return {"measured": False, "note": "a remote server's rate is not measured; "
                "annotate prints items/s as it runs"}
    if not measure or not prompts:
        return {"measured": False, "note": "not measured (add --measure to time a few items "
                "with the model; nothing is stored)"}
    started = time.perf_counter()
    try:
        annotator.setup(query)
        loaded = time.perf_counter()
        annotator.ask(prompts[:measure])
        done = time.perf_counter()
    finally:
        annotator.close()
    items = min(measure, len(prompts))
    rate = items / max(done - loaded, 1e-9)
    return {"measured": True, "items": items, "load_seconds": round(loaded - started, 2),
            "items_per_second": round(rate, 3), "seconds_estimate": round(to_ask / rate, 1)}
