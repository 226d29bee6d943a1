"""Which items to ask about: the sampling strategies of `annotate --strategy`.

- ``random`` (the default): the first N of the seeded random order (`annotate.sampling`);
  -n is a target sample size.
- ``uncertainty``: the N unlabelled items the current encoder (``--model RUN``) is least sure
  of, i.e. with P(positive) nearest 0.5. The model's stored predictions are used where they
  exist; the unlabelled candidates without one are scored first with `label` (streamed,
  batched, resumable, and stored, so later rounds and `label` reuse them).
- ``diverse``: the 4N most uncertain, embedded by the same encoder and grouped into N
  clusters (k-means); the most uncertain item of each cluster is asked. Uncertainty alone
  picks near-duplicates ("Aplasia of the left X", "... right X"); one per cluster spends the
  budget on different kinds of items.

For the last two, -n is the number of *new* items of this round. "Unlabelled" means no
parsed label from any annotator and no answer from this one. A round's choice is stored
(`umlsgraph.db.round_store`) before anything is asked, so re-running the same command resumes
the same round instead of choosing again.

``annotate --reask contradictions`` (`choose_contradictions`) asks about where a selection
contradicts the hierarchy: the islands and holes `umlsgraph check` finds
(`evaluate.consistency`), most surprising first (surprise counts what the closure adds below
an island), -n of them that this annotator has not answered yet. Real LLMs err in whole
branches; an island or a hole is where such a branch shows. The selection is the encoder's
predictions (after `label`) or the annotators' answers (before training): `--reask-from`,
by default predictions where the query has some. The choice is stored as a round too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from umlsgraph.db import annotation_store, connect, prediction_store, round_store
from umlsgraph.db.items import ConceptSource, ItemSource, SubsetSource, fetch_texts
from umlsgraph.db.sql import literal
from umlsgraph.errors import QueryError
from umlsgraph.model_folder import model_query, read_meta
from umlsgraph.query import Query
from umlsgraph.selection import SelectionOptions

STRATEGIES = ("random", "uncertainty", "diverse")
#: What `annotate --reask` asks again: the audit's suspects, or the hierarchy's contradictions.
REASKS = ("suspects", "contradictions")
#: Whose selection `--reask contradictions` checks; auto: predictions where some exist.
REASK_FROM = ("auto", "predictions", "annotations")
#: The diverse strategy clusters this many times N of the most uncertain items.
POOL_FACTOR = 4


class NothingToAsk(QueryError):
    """A re-ask found nothing left to ask: no contradiction this annotator has not answered."""


@dataclass(frozen=True)
class Round:
    """A chosen round: the source restricted to its items, how many, and whether it was
    chosen before (a resumed round)."""

    source: SubsetSource
    size: int
    key: str
    reused: bool
    #: What the choice was made from (`--reask contradictions`: the selection, the counts).
    about: dict[str, Any] = field(default_factory=dict)


def check_strategy(strategy: str, model: str | Path | None) -> None:
    if strategy not in STRATEGIES:
        raise QueryError(f"--strategy {strategy}: choose from {', '.join(STRATEGIES)}")
    if strategy != "random" and model is None:
        raise QueryError(f"--strategy {strategy} needs the current encoder: --model RUN (a "
                         "folder `umlsgraph train` wrote)")


def choose(db: str | Path, query: Query, source: ItemSource, strategy: str,
           model: str | Path, n: int, annotator: str, prompt_hash: str, seed: int = 42,
           progress: bool = True) -> Round:
    """Choose (or reload) the round of `n` items for `annotator` by `strategy`."""
    check_strategy(strategy, model)
    if n < 1:
        raise QueryError(f"-n {n}: a round needs at least one item")
    model_id = prediction_store.model_id(model)
    key = _round_key(strategy, model_id, annotator, prompt_hash, n, seed)
    con = connect(db)
    try:
        reused = round_store.has_round(con, query.name, source.key, key)
    finally:
        con.close()
    if not reused:
        pool = uncertain(db, query, source, model, annotator, prompt_hash,
                         n * (POOL_FACTOR if strategy == "diverse" else 1), seed, progress)
        if strategy == "diverse":
            pool = diverse(db, query, source, model, pool, n, seed)
        con = connect(db)
        try:
            round_store.write(con, query.name, source.key, key, strategy, [i for i, _ in pool],
                         [abs(p - 0.5) for _, p in pool])
        finally:
            con.close()
    con = connect(db, read_only=True)
    try:
        size = len(round_store.ids(con, query.name, source.key, key))
    finally:
        con.close()
    if size == 0:
        raise QueryError(f"--strategy {strategy}: no unlabelled items left to ask")
    return Round(SubsetSource(source, round_store.ids_sql(query.name, source.key, key)), size, key,
                 reused)


def _round_key(*parts: object) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]


def unlabelled_sql(query: Query, source: ItemSource, annotator: str, prompt_hash: str) -> str:
    """SQL of one column `id`: candidates with no parsed label from anyone and no answer
    from `annotator` under `prompt_hash`."""
    labelled = annotation_store.labelled_ids_sql(query.name, source.key)
    answered = annotation_store.done_ids_sql(query.name, source.key, annotator, prompt_hash)
    return (f"SELECT id FROM ({source.candidates_sql(query)}) WHERE id NOT IN "
            f"(SELECT id FROM ({labelled})) AND id NOT IN ({answered})")


def uncertain(db: str | Path, query: Query, source: ItemSource, model: str | Path,
              annotator: str, prompt_hash: str, n: int, seed: int = 42,
              progress: bool = True) -> list[tuple[str, float]]:
    """The `n` unlabelled items with P(positive) nearest 0.5 by `model`, most uncertain
    first, as (id, P(positive)); ties in seeded random order."""
    from umlsgraph.label.labeller import label

    todo = unlabelled_sql(query, source, annotator, prompt_hash)
    if Path(model).is_dir():  # score what has no stored prediction (a folder can predict)
        label(db, query, SubsetSource(source, todo), model, progress=progress)
    con = connect(db)
    try:
        prediction_store.ensure_table(con)
        rows = con.execute(
            f"SELECT p.id, p.probability FROM {prediction_store.TABLE} p WHERE p.query = ? "
            f"AND p.source = ? AND p.model = ? AND p.id IN ({todo}) "
            f"ORDER BY abs(p.probability - 0.5), md5({literal(f'{int(seed)}:')} || p.id) "
            "LIMIT ?",
            [query.name, source.key, prediction_store.model_id(model), n]).fetchall()
    finally:
        con.close()
    return [(r[0], float(r[1])) for r in rows]


def diverse(db: str | Path, query: Query, source: ItemSource, model: str | Path,
            pool: list[tuple[str, float]], n: int, seed: int = 42) -> list[tuple[str, float]]:
    """`n` items of the uncertainty-ranked `pool`: the most uncertain of each of n k-means
    clusters of the encoder's embeddings, in pool order."""
    if len(pool) <= n:
        return pool
    from umlsgraph.inference.model import EncoderModel

    text_query = model_query(query, read_meta(model), model)
    con = connect(db, read_only=True)
    try:
        texts = fetch_texts(con, text_query, source, [i for i, _ in pool])
    finally:
        con.close()
    vectors = EncoderModel(model).embed([texts.get(i, "") for i, _ in pool])
    picked = one_per_cluster(vectors, n, seed)
    return [pool[i] for i in picked]


def one_per_cluster(vectors: list[list[float]], k: int, seed: int = 42,
                    iterations: int = 20) -> list[int]:
    """Indices of `k` rows, the first (lowest index) of each of k k-means clusters, sorted;
    rows are assumed ranked best first. Empty clusters are made up from the best rows left."""
    import numpy as np

    x = np.asarray(vectors, dtype=np.float64)
    rng = np.random.default_rng(seed)
    centers = [0]
    dist = ((x - x[0]) ** 2).sum(1)
    for _ in range(1, k):  # k-means++ seeding, starting from the best row
        nxt = int(rng.choice(len(x), p=dist / dist.sum())) if dist.sum() > 0 else len(centers)
        centers.append(nxt)
        dist = np.minimum(dist, ((x - x[nxt]) ** 2).sum(1))
    c = x[centers].copy()
    for _ in range(iterations):
        # squared distances without an (rows x k x dim) array: |x|^2 - 2 x.c + |c|^2
        assign = ((c ** 2).sum(1)[None, :] - 2 * x @ c.T).argmin(1)
        for j in range(k):
            members = x[assign == j]
            if len(members):
                c[j] = members.mean(0)
    picked = sorted({int(np.flatnonzero(assign == j)[0]) for j in range(k) if (assign == j).any()})
    rest = [i for i in range(len(x)) if i not in set(picked)]
    return sorted(picked + rest[:k - len(picked)])


# --- re-asking where the selection contradicts the hierarchy ---------------------------------

def choose_contradictions(db: str | Path, query: Query, source: ItemSource, n: int,
                          annotator: str, prompt_hash: str, reask_from: str = "auto",
                          model: str | Path | None = None, annotators: str | None = None,
                          store: bool = True) -> Round:
    """Choose (or reload) the `n` most surprising islands and holes `annotator` has not
    answered, of the selection `reask_from` names (see `reask_selection`). The selection is
    the whole hierarchy's; a `SubsetSource` of concepts limits only what may be asked.

    The choice is stored as a round before anything is asked (so a resumed run asks the same
    items, though the selection changes as answers arrive); with `store` False (`plan`)
    nothing is written and a choice not stored yet is returned as SQL of its ids."""
    if n < 1:
        raise QueryError(f"-n {n}: a re-ask needs at least one item")
    inner = source.inner if isinstance(source, SubsetSource) else source
    if not isinstance(inner, ConceptSource):
        raise QueryError("--reask contradictions needs the concept hierarchy; a --corpus has "
                         "none (use --reask suspects or --strategy uncertainty)")
    con = connect(db, read_only=True)
    try:
        options, about = reask_selection(con, query, source, reask_from, model, annotators,
                                         annotator)
        key = _round_key("contradictions", about["from"], about["of"], options.closure,
                         annotator, prompt_hash, n, getattr(source, "ids_sql", ""))
        reused = round_store.has_round(con, query.name, source.key, key)
        if reused:
            ids = round_store.ids(con, query.name, source.key, key)
        else:
            ids, scores, counts = flagged(con, query, source, options, annotator, prompt_hash, n)
            about.update(counts)
    finally:
        con.close()
    if not ids:
        raise NothingToAsk(f"--reask contradictions: the {about['from']} of '{query.name}' "
                         f"({about['of']}) have no island or hole left that {annotator} has "
                         f"not answered ({about.get('islands', 0):,} islands, "
                         f"{about.get('holes', 0):,} holes in all)")
    ids_sql = round_store.ids_sql(query.name, source.key, key)
    if not reused and store:
        con = connect(db)
        try:
            round_store.write(con, query.name, source.key, key, "contradictions", ids, scores)
        finally:
            con.close()
    elif not reused:
        ids_sql = _values_sql(ids)
    return Round(SubsetSource(source, ids_sql), len(ids), key, reused, about)


def reask_selection(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
                    reask_from: str, model: str | Path | None, annotators: str | None,
                    asker: str) -> tuple[SelectionOptions, dict[str, Any]]:
    """The selection whose contradictions are re-asked, and {from, of} naming it.

    ``predictions``: of `model` (default: the latest, `prediction_store.resolve_model`);
    ``annotations``: of `annotators` (default: the one annotator other than `asker`);
    ``auto``: predictions where the query has some (after `label`), else annotations."""
    if reask_from not in REASK_FROM:
        raise QueryError(f"--reask-from {reask_from}: choose from {', '.join(REASK_FROM)}")
    if reask_from == "auto":
        has = bool(prediction_store.models(con, query.name, source.key))
        reask_from = "predictions" if has else "annotations"
    if reask_from == "predictions":
        chosen = prediction_store.resolve_model(con, query.name, source.key, model)
        assert chosen is not None
        return (SelectionOptions(source="predictions", model=chosen),
                {"from": "predictions", "of": chosen})
    whose = ",".join(_whose(con, query, source, annotators, asker))
    return (SelectionOptions(source="annotations", annotator=whose),
            {"from": "annotations", "of": whose})


def _whose(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
           annotators: str | None, asker: str) -> list[str]:
    """Whose annotations are checked: those named, else the only annotator but the asker."""
    if annotators is not None:
        return annotation_store.choose_annotators(con, query.name, source.key, annotators)
    others = [a for a in annotation_store.annotators(con, query.name, source.key) if a != asker]
    if len(others) == 1:
        return others
    if not others:
        raise QueryError(f"--reask contradictions: no annotations of query '{query.name}' "
                         f"but {asker}'s to check; run `umlsgraph annotate {query.name}` first")
    raise QueryError(f"--reask contradictions: several annotators labelled query "
                     f"'{query.name}' ({', '.join(others)}); name whose annotations to check "
                     "with --audited NAME (several, comma-separated, in order of priority)")


def flagged(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
            options: SelectionOptions, asker: str, prompt_hash: str,
            n: int) -> tuple[list[str], list[float], dict[str, int]]:
    """The `n` most surprising islands and holes of the selection `options` makes that are
    candidates of the query and that `asker` has not answered under `prompt_hash`: their ids,
    surprises, and counts (islands and holes in all, and of the chosen)."""
    from umlsgraph.errors import NotFoundError
    from umlsgraph.evaluate.consistency import find_contradictions, flagged_sql

    try:
        found = find_contradictions(con, query, options, limit=0)
    except NotFoundError:
        of = options.model if options.source == "predictions" else options.annotator
        raise NothingToAsk(f"--reask contradictions: the {options.source} of '{query.name}' "
                           f"({of}) select no concept, so nothing contradicts the hierarchy; "
                           "there is nothing to re-ask") from None
    answered = (annotation_store.done_ids_sql(query.name, source.key, asker, prompt_hash)
                if annotation_store.has_table(con) else "SELECT NULL::VARCHAR AS id LIMIT 0")
    rows = con.execute(
        f"SELECT id, kind, surprise FROM ({flagged_sql()}) "
        f"WHERE id IN (SELECT id FROM ({source.candidates_sql(query)})) "
        f"AND id NOT IN ({answered}) ORDER BY surprise DESC, id LIMIT ?", [n]).fetchall()
    kinds = [r[1] for r in rows]
    counts = {"islands": found.counts["islands"], "holes": found.counts["holes"],
              "chosen_islands": kinds.count("island"), "chosen_holes": kinds.count("hole")}
    return [r[0] for r in rows], [float(r[2]) for r in rows], counts


def _values_sql(ids: list[str]) -> str:
    """SQL of one column `id` holding `ids` (a choice not stored: `plan`)."""
    return ("SELECT id FROM (VALUES " + ", ".join(f"({literal(i)})" for i in ids)
            + ") t(id)")
