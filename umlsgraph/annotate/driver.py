"""Steps 2-3 of LlamBERT: sample items, ask an annotator, store every answer as it arrives.

`annotate` is the one entry point the CLI (and `run`) call. It samples the first N items of
the seeded order (`umlsgraph.annotate.sampling`), drops those already answered for this query,
source, annotator and prompt hash, asks the annotator batch by batch, parses each answer
(`umlsgraph.annotate.parsing`) and writes each batch to DuckDB in its own transaction before asking
the next. A crash or kill -9 loses at most the batch in flight; re-running asks only what
has no answer yet, so no paid call is ever repeated.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from umlsgraph.annotate import sampling
from umlsgraph.annotate.backends import (
    Annotator,
    AnnotatorOptions,
    Failure,
    Reply,
    create,
    make_prompt,
)
from umlsgraph.annotate.backends.labels import IMPORTED_HASH  # imported labels' prompt hash
from umlsgraph.annotate.parsing import parse_answer
from umlsgraph.db import annotation_store, connect
from umlsgraph.db.items import ConceptSource, ItemSource, SubsetSource, fetch_texts
from umlsgraph.errors import AnnotationError, InputFileError, QueryError
from umlsgraph.progress import progress_bar
from umlsgraph.query import Query, load_query

#: Ids whose texts are fetched from DuckDB at once (texts are rendered set-based per chunk).
TEXT_CHUNK = 1024
#: How many unparseable raw answers `summary` shows per annotator.
EXAMPLES = 5


@dataclass
class AnnotateResult:
    """What one `annotate` run did."""

    query: str
    source: str
    annotator: str
    prompt_hash: str
    sample_size: int = 0
    candidates: int = 0
    skipped_done: int = 0
    asked: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    unparseable: int = 0
    missing_text: int = 0
    seconds: float = 0.0
    #: `--reask`: what was re-asked and chosen from (contradictions: the selection, counts).
    reask: dict[str, Any] = field(default_factory=dict)

    @property
    def items_per_second(self) -> float:
        return self.asked / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["items_per_second"] = round(self.items_per_second, 3)
        return data


def annotate(db: str | Path, query: Query | str, source: ItemSource | None = None,
             annotator: Annotator | str = "embed", n: int | None = None,
             batch_size: int | None = None, seed: int | None = None,
             stratify: bool | None = None, progress: bool = True,
             options: AnnotatorOptions | None = None, strategy: str = "random",
             model: str | Path | None = None, reask: str | None = None,
             audited: str | None = None, reask_from: str = "auto") -> AnnotateResult:
    """Annotate the items a strategy picks that have no answer from this annotator yet.

    `n`, `seed` and `stratify` default to the query's ``[sample]``; `annotator` is an
    `Annotator` or an ``--llm`` spec such as ``"hf:/models/x.gguf"``; `batch_size` defaults
    to the backend's. `strategy` is ``random`` (the first `n` of the seeded sample), or
    ``uncertainty``/``diverse`` (`n` new items chosen with the encoder `model`, see
    `umlsgraph.annotate.strategy`). ``reask="suspects"`` asks about the items a label audit
    flagged (of annotator `audited`, or the only audited one) instead;
    ``reask="contradictions"`` about the `n` most surprising islands and holes of the
    selection `reask_from` names (predictions of `model`, or annotations of `audited`; see
    `strategy.choose_contradictions`). Returns counts for the answers of this run.
    """
    check_counts(n=n, batch_size=batch_size)
    query = load_query(query) if isinstance(query, str) else query
    items: ItemSource = source or ConceptSource()
    owned = isinstance(annotator, str)
    annotator = create(annotator, options) if isinstance(annotator, str) else annotator
    try:
        picked, about = _pick(db, query, items, annotator, strategy, model, reask, audited,
                              reask_from, n, seed, progress)
    except BaseException:
        if owned:
            annotator.close()
        raise
    if picked is not None:
        items, n, stratify = picked, _count(db, query, picked, reask), False
    con = connect(db)
    try:
        result = _run(con, query, items, annotator, n, batch_size, seed, stratify, progress)
        result.reask = about
        return result
    finally:
        con.close()
        if owned:
            annotator.close()


def check_counts(**counts: int | None) -> None:
    """A sample size or batch size of 0 or less is an error, never "the default": with a
    paid LLM, asking the default 200 items when the user said 0 spends money they refused."""
    for name, value in counts.items():
        if value is not None and (isinstance(value, bool) or value < 1):
            raise AnnotationError(f"{name} is {value}; it must be at least 1 (leave it out for "
                                  "the query's [sample] size)")


def _pick(db: str | Path, query: Query, source: ItemSource, annotator: Annotator,
          strategy: str, model: str | Path | None, reask: str | None, audited: str | None,
          reask_from: str, n: int | None, seed: int | None,
          progress: bool) -> tuple[ItemSource | None, dict[str, Any]]:
    """The source restricted to what a reask or a non-random strategy asks (None for the
    seeded random sample), and what a re-ask chose from."""
    from umlsgraph.annotate import strategy as strategies

    if reask is not None:
        if strategy != "random":
            raise QueryError("give either --reask or --strategy, not both")
        check_reask(reask)
        if reask == "suspects":
            return suspects(db, query, source, audited), {"reask": reask}
        chosen = strategies.choose_contradictions(
            db, query, source, n or query.sample.size, annotator.name,
            annotator.prompt_hash(query), reask_from, model, audited)
        return chosen.source, {"reask": reask, "reused": chosen.reused, "chosen": chosen.size,
                               **chosen.about}
    strategies.check_strategy(strategy, model)
    if strategy == "random":
        return None, {}
    assert model is not None
    chosen = strategies.choose(
        db, query, source, strategy, model, n or query.sample.size, annotator.name,
        annotator.prompt_hash(query), query.sample.seed if seed is None else seed, progress)
    return chosen.source, {}


def check_reask(reask: str) -> None:
    from umlsgraph.annotate.strategy import REASKS

    if reask not in REASKS:
        raise QueryError(f"--reask {reask}: the only choices are 'suspects' (the items "
                         "`umlsgraph audit` flagged) and 'contradictions' (the islands and "
                         "holes `umlsgraph check` finds)")


def suspects(db: str | Path, query: Query, source: ItemSource,
             audited: str | None) -> ItemSource:
    """The items a finished label audit flagged, as a source."""
    from umlsgraph.db import audit_store

    con = connect(db, read_only=True)
    try:
        done = audit_store.audited_annotators(con, query.name, source.key)
        if audited is None and len(done) != 1:
            raise QueryError(f"--reask suspects: {len(done)} annotators of query '{query.name}' "
                             f"have a finished audit ({', '.join(done) or 'none'}); "
                             + ("name one with --audited ANNOTATOR" if done else
                                f"run `umlsgraph audit {query.name}` first"))
        sql = audit_store.suspects_sql(con, query.name, source.key, audited or done[0])
    finally:
        con.close()
    return SubsetSource(source, sql)


def candidate_count(db: str | Path, query: Query, source: ItemSource) -> int:
    """How many items `source` has for `query`."""
    con = connect(db, read_only=True)
    try:
        return int(con.execute(f"SELECT count(*) FROM ({source.candidates_sql(query)})")
                   .fetchall()[0][0])
    finally:
        con.close()


def _count(db: str | Path, query: Query, source: ItemSource, reask: str | None) -> int:
    """How many items `source` has for `query`; none is an error (nothing to ask)."""
    count = candidate_count(db, query, source)
    if count == 0:
        raise QueryError("there is nothing to ask: " + (
            "the audit flagged no item" if reask == "suspects" else "no item was chosen"))
    return count


def _run(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
         annotator: Annotator, n: int | None, batch_size: int | None, seed: int | None,
         stratify: bool | None, progress: bool) -> AnnotateResult:
    """Plan the sample, then ask and store batch by batch."""
    source.check(con)
    annotation_store.ensure_table(con)
    prompt_hash = annotator.prompt_hash(query)
    result = AnnotateResult(query.name, source.key, annotator.name, prompt_hash)
    plan = pending(con, query, source, annotator, n, seed, stratify)
    result.sample_size, result.candidates = plan.size, plan.candidates
    result.skipped_done = plan.done
    if not plan.todo:
        return result
    annotator.setup(query)
    size = batch_size or annotator.default_batch_size
    started = time.perf_counter()
    try:
        name = annotator.name if len(annotator.name) <= 40 else "…" + annotator.name[-39:]
        with progress_bar(f"annotating with {name}", len(plan.todo), progress) as bar:
            for batch in _batches(con, query, source, plan.todo, size, result):
                _ask_and_store(con, query, annotator, batch, result)
                bar.advance(len(batch))
    finally:
        result.seconds = time.perf_counter() - started
    return result


def pending(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
            annotator: Annotator, n: int | None = None, seed: int | None = None,
            stratify: bool | None = None) -> sampling.SamplePlan:
    """The sample `annotate` would ask now: its first `n` items (the query's [sample]
    defaults) minus those already answered by this annotator for this prompt hash.

    Shared by `annotate` and `plan`, so the plan's count is the run's count. Reads only:
    with no annotations table yet, nothing is answered.
    """
    done_sql = None
    if annotation_store.has_table(con):
        done_sql = annotation_store.done_ids_sql(query.name, source.key, annotator.name,
                                                 annotator.prompt_hash(query))
    return sampling.plan(con, query, source, n or query.sample.size,
                         query.sample.seed if seed is None else seed,
                         query.sample.stratify if stratify is None else stratify, done_sql)


def _batches(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
             ids: list[str], size: int, result: AnnotateResult) -> Iterator[list[tuple[str, str]]]:
    """(id, text) batches, chunk by chunk in sample order (texts are rendered in DuckDB per
    chunk); inside a chunk, longest text first, so that a batch holds texts of similar
    length and padding wastes little compute (and memory errors show up at once)."""
    for start in range(0, len(ids), TEXT_CHUNK):
        chunk = ids[start:start + TEXT_CHUNK]
        texts = fetch_texts(con, query, source, chunk)
        items = [(i, texts[i]) for i in chunk if texts.get(i)]
        result.missing_text += len(chunk) - len(items)
        items.sort(key=lambda item: -len(item[1]))
        for b in range(0, len(items), size):
            yield items[b:b + size]


def _ask_and_store(con: duckdb.DuckDBPyConnection, query: Query, annotator: Annotator,
                   batch: list[tuple[str, str]], result: AnnotateResult) -> None:
    """Ask one batch, write its answers in one transaction, then report any failures."""
    prompts = [make_prompt(query, i, t) for i, t in batch]
    replies = annotator.ask(prompts)
    rows, failures = [], []
    for prompt, reply in zip(prompts, replies, strict=True):
        if isinstance(reply, Failure):
            failures.append(reply)
            continue
        rows.append(_to_annotation(query, prompt.id, reply))
    annotation_store.write(con, query.name, result.source, result.annotator,
                           result.prompt_hash, rows)
    result.asked += len(rows)
    for row in rows:
        if row.label is None:
            result.unparseable += 1
        else:
            result.counts[row.label] = result.counts.get(row.label, 0) + 1
    if failures:
        raise AnnotationError(
            f"{len(failures)} of {len(prompts)} requests in a batch failed ({failures[0].reason}); "
            f"{result.asked} answers of this run are saved; re-run the same command to resume")


def _to_annotation(query: Query, item_id: str, reply: Reply) -> annotation_store.Annotation:
    label = reply.label if reply.label in query.labels else parse_answer(reply.raw, query.labels)
    return annotation_store.Annotation(item_id, label, reply.raw, reply.score)


# --- imported labels ---------------------------------------------------------------------

@dataclass
class ImportResult:
    """What `import_labels` stored and what it could not use."""

    annotator: str
    imported: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    unknown_ids: int = 0
    unknown_examples: list[str] = field(default_factory=list)
    bad_rows: int = 0
    bad_examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def import_labels(db: str | Path, query: Query | str, path: str | Path,
                  source: ItemSource | None = None,
                  annotator: str | None = None) -> ImportResult:
    """Store labels made elsewhere (CSV/JSONL with id and label) as annotator ``labels:NAME``
    (the file's name), or as `annotator` when given, e.g. ``human:alice`` for the labels a
    reviewer downloaded from `umlsgraph review`'s page.

    Labels may be category names or any of the query's answer words (case-insensitive).
    Rows without an id or with an unknown label are counted as bad, ids that are not among
    the query's candidates are counted as unknown; neither is stored.
    """
    from umlsgraph.labelfile import read_label_file

    query = load_query(query) if isinstance(query, str) else query
    items: ItemSource = source or ConceptSource()
    rows = read_label_file(path, query)
    result = ImportResult(annotator=_import_name(annotator, path))
    result.bad_rows, result.bad_examples = rows.bad, rows.bad_examples
    con = connect(db)
    try:
        items.check(con)
        known = _known_ids(con, query, items, list(rows.labels))
        kept = [annotation_store.Annotation(i, lab, raw) for i, (lab, raw) in rows.labels.items()
                if i in known]
        unknown = [i for i in rows.labels if i not in known]
        result.unknown_ids, result.unknown_examples = len(unknown), unknown[:EXAMPLES]
        if not kept:
            raise InputFileError(_nothing_matched(path, query, items, rows, unknown))
        for start in range(0, len(kept), 5000):
            annotation_store.write(con, query.name, items.key, result.annotator,
                                   IMPORTED_HASH, kept[start:start + 5000])
    finally:
        con.close()
    result.imported = len(kept)
    result.counts = dict(Counter(a.label for a in kept if a.label))
    return result


def _nothing_matched(path: str | Path, query: Query, source: ItemSource, rows: Any,
                     unknown: list[str]) -> str:
    """Why a labels file gave nothing to store: a step that matched nothing fails."""
    if unknown:
        return (f"{path}: none of its {len(unknown):,} ids is among the {source.key} items "
                f"of query '{query.name}' (e.g. {', '.join(unknown[:EXAMPLES])}); check the "
                "id column, --corpus and the query's [filter]; nothing was stored")
    bad = f" ({rows.bad:,} unusable rows, e.g. {'; '.join(rows.bad_examples)})" if rows.bad else ""
    return f"{path}: no usable id,label rows{bad}; nothing was stored"


def _import_name(annotator: str | None, path: str | Path) -> str:
    """The annotator imported labels are stored as; a given name must be printable."""
    if annotator is None:
        return f"labels:{Path(path).name}"
    name = annotator.strip()
    if not name or len(name) > 200 or not name.isprintable():
        raise AnnotationError(f"--annotator {annotator!r}: give a short printable name, "
                              "e.g. human:alice")
    return name


def _known_ids(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
               ids: list[str]) -> set[str]:
    import pyarrow as pa

    con.register("_umlsgraph_ids", pa.table({"id": pa.array(ids, pa.string())}))
    try:
        sql = (f"SELECT id FROM _umlsgraph_ids WHERE id IN "
               f"(SELECT id FROM ({source.candidates_sql(query)}))")
        return {r[0] for r in con.execute(sql).fetchall()}
    finally:
        con.unregister("_umlsgraph_ids")


# --- what is stored ----------------------------------------------------------------------

def summary(db: str | Path, query: Query | str, source: ItemSource | None = None,
            examples: int = EXAMPLES) -> list[dict[str, Any]]:
    """Per annotator and prompt hash: total, counts per category, unparseable, and a few
    unparseable raw answers."""
    query_name = load_query(query).name if isinstance(query, str) else query.name
    items: ItemSource = source or ConceptSource()
    con = connect(db, read_only=True)
    try:
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        for annotator, phash, label, count in annotation_store.counts(con, query_name, items.key):
            group = groups.setdefault((annotator, phash), {
                "annotator": annotator, "prompt_hash": phash, "total": 0, "counts": {},
                "unparseable": 0, "examples": []})
            group["total"] += count
            if label is None:
                group["unparseable"] += count
            else:
                group["counts"][label] = count
        for (annotator, phash), group in groups.items():
            if group["unparseable"]:
                group["examples"] = _unparseable(con, query_name, items.key, annotator, phash,
                                                 examples)
        return list(groups.values())
    finally:
        con.close()


def _unparseable(con: duckdb.DuckDBPyConnection, query: str, source: str, annotator: str,
                 phash: str, limit: int) -> list[str]:
    rows = con.execute(
        f"SELECT raw FROM {annotation_store.TABLE} WHERE query = ? AND source = ? "
        "AND annotator = ? AND prompt_hash = ? AND label IS NULL ORDER BY created_at, id LIMIT ?",
        [query, source, annotator, phash, limit]).fetchall()
    return [r[0] or "" for r in rows]
