"""The closure rules, written a second time in plain Python, against the product's `select()`.

The mirror (once `bench/closure_rules.py`'s) walks the same two hierarchies the product reads,
main parents for the closure (`db.items.ranked_parents_sql`) and every parent for islands and
the root (`db.hierarchy.edges_sql`), and must choose the same concepts under every rule, on
random predictions over a store with extra is-a rows, a cycle among them.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from tests.subontology_data import QUERY, cui, write_predictions
from umlsgraph.db.hierarchy import edges_sql
from umlsgraph.db.items import ranked_parents_sql
from umlsgraph.query import load_query
from umlsgraph.selection import SelectionOptions, select
from umlsgraph.selection.closure import CLOSURES, CONFIDENT, STUDY_CLOSURES, SUSPICIOUS_PARENT
from umlsgraph.selection.root import ROOT_SHARE


def _graph(pairs: list[tuple[str, str]]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    children: dict[str, set[str]] = defaultdict(set)
    parents: dict[str, set[str]] = defaultdict(set)
    for child, parent in pairs:
        children[parent].add(child)
        parents[child].add(parent)
    return children, parents


def _walk(start: set[str], step: dict[str, set[str]], inside: set[str] | None = None) -> set[str]:
    seen, stack = set(start), list(start)
    while stack:
        for nxt in step[stack.pop()]:
            if nxt not in seen and (inside is None or nxt in inside):
                seen.add(nxt)
                stack.append(nxt)
    return seen


def mirror(main: list[tuple[str, str]], every: list[tuple[str, str]],
           probability: dict[str, float]) -> dict[str, set[str]]:
    """What each rule selects: the positives, plus the descendants (main parents, through
    anything but an unselected ancestor on a cycle) of the concepts the rule passes down."""
    positives = {i for i, p in probability.items() if p >= 0.5}
    kids, ups = _graph(main)
    all_kids, all_ups = _graph(every)
    above = _walk(positives, ups) - positives
    cyclic = {c for c in above if c in _walk(ups[c], ups)}
    islands = {i for i in positives if all_ups[i] and not all_ups[i] & positives}
    size = {i: len(_walk({i}, all_kids, positives)) - 1 for i in islands}
    top = min(islands, key=lambda i: (-size[i], i), default=None)
    root = top if top and size[top] >= ROOT_SHARE * len(positives) else None

    def trusted(limit: float) -> set[str]:
        starts = {i for i in positives if not all_ups[i]} | {
            i for i in islands if i == root or max(
                probability.get(p, 0.5) for p in all_ups[i]) > limit}
        return _walk(starts, all_kids, positives)

    confident = {i for i in positives if probability[i] >= CONFIDENT}
    passes = {"none": set(), "all": positives, "confident": confident,
              "guarded": confident & trusted(SUSPICIOUS_PARENT),
              "rooted": confident & trusted(1.0)}

    def close(start: set[str]) -> set[str]:
        reached, stack = set(start), list(start)
        while stack:
            for child in kids[stack.pop()]:
                if child not in reached and (child in positives or child not in cyclic):
                    reached.add(child)
                    stack.append(child)
        return positives | reached

    return {name: close(roots) for name, roots in passes.items()}


def _extra_parents(db: Path, rng: random.Random) -> None:
    """Random is-a rows (PAR, from sources that name the child), one closing a cycle."""
    con = duckdb.connect(str(db))
    rows = [(cui(rng.randrange(1, 300)), cui(rng.randrange(0, 300))) for _ in range(40)]
    rows += [(cui(1), cui(21)), (cui(21), cui(5))]  # 21 -> 5 -> 1 -> 21: a cycle
    for child, parent in rows:
        if child != parent:
            con.execute("INSERT INTO relations (cui1, rel, cui2, rela, sab) SELECT ?, 'PAR', ?, "
                        "'inverse_isa', min(sab) FROM names WHERE cui = ?", [child, parent, child])
    con.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_product_closures_match_the_mirror(loaded_db: Path, seed: int) -> None:
    rng = random.Random(seed)
    _extra_parents(loaded_db, rng)
    con = duckdb.connect(str(loaded_db))
    ids = [r[0] for r in con.execute("SELECT cui FROM concepts").fetchall()]
    con.close()
    # a confident branch, an unsure one, and scattered positives (islands, holes)
    probability = {i: 0.1 for i in ids}
    for i in ids:
        n = int(i[1:])
        if n in (1, 5, 6) or 21 <= n <= 36 or 85 <= n <= 148:
            probability[i] = rng.choice((0.95, 0.95, 0.7, 0.3))
        elif rng.random() < 0.08:
            probability[i] = rng.choice((0.95, 0.6))
    write_predictions(loaded_db, {i: p for i, p in probability.items() if p >= 0.5})
    con = duckdb.connect(str(loaded_db))
    con.execute("UPDATE predictions SET probability = ? WHERE id = ?", [0.3, ids[0]])
    probability[ids[0]] = 0.3 if probability[ids[0]] < 0.5 else probability[ids[0]]
    stored = dict(con.execute("SELECT id, probability FROM predictions").fetchall())
    main = con.execute(f"SELECT DISTINCT child, parent FROM ({ranked_parents_sql()}) "
                       "WHERE main").fetchall()
    every = con.execute(edges_sql()).fetchall()
    expected = mirror(main, every, stored)
    query = load_query(QUERY)
    for rule in (*CLOSURES, *STUDY_CLOSURES):
        selection = select(con, query, SelectionOptions(closure=rule))
        got = {r[0] for r in con.execute(selection.selected_sql).fetchall()}
        assert got == expected[rule], (rule, sorted(got ^ expected[rule])[:10])
        assert selection.count == len(got)
    con.close()
