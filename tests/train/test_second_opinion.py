"""A second opinion that overturns a whole branch (issue 30), on the real HPO hierarchy.

The weak annotator is right everywhere except two branches, as LLMs fail: a child branch of
"Abnormality of the nervous system" answered "no" (a missed branch), and a branch of the eye
answered "yes" (a wrong island). The strong annotator answers the top of each, plus
"Phenotypic abnormality" ("no", where the weak annotator mostly said "no" too: it must
overturn nothing, or the whole nervous system would be relabelled).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from umlsgraph.db import annotation_store
from umlsgraph.db.hierarchy import child_edges_sql, descendants_sql
from umlsgraph.db.items import ConceptSource
from umlsgraph.errors import AnnotationError
from umlsgraph.query import load_query
from umlsgraph.settings import TrainConfig
from umlsgraph.train.data import load_examples
from umlsgraph.train.second_opinion import overturned_counts_sql, second_opinion_labels_sql
from umlsgraph.train.trainer import train

from ..training_data import annotate

QUERY = load_query("nervous_system")
NERVOUS, EYE, PHENOTYPE = "HP:0000707", "HP:0000478", "HP:0000118"


def below(con: duckdb.DuckDBPyConnection, root: str) -> set[str]:
    return {r[0] for r in con.execute(descendants_sql(), [root]).fetchall()}


def largest_branch(con: duckdb.DuckDBPyConnection, parent: str, avoid: set[str]) -> str:
    """The child or grandchild of `parent` with the most concepts below it (6 to 400, none of
    them in `avoid`)."""
    children = con.execute(f"SELECT child FROM ({child_edges_sql('?')})", [parent, parent])
    tops = {r[0] for r in children.fetchall()}
    for top in list(tops):
        tops |= {r[0] for r in con.execute(f"SELECT child FROM ({child_edges_sql('?')})",
                                           [top, top]).fetchall()}
    sizes = {c: below(con, c) for c in sorted(tops)}
    fits = [c for c, b in sizes.items() if 5 < len(b) <= 400 and not b & avoid]
    return max(fits, key=lambda c: (len(sizes[c]), c))


@pytest.fixture
def branches(hpo_db: Path) -> dict[str, set[str]]:
    """Store the weak and strong answers; return the branches they are about."""
    con = duckdb.connect(str(hpo_db), read_only=True)
    try:
        nervous, phenotype = below(con, NERVOUS), below(con, PHENOTYPE)
        missed = largest_branch(con, NERVOUS, avoid=set())
        island = largest_branch(con, EYE, avoid=nervous)
        parts = {"nervous": nervous, "missed": below(con, missed), "island": below(con, island),
                 "phenotype": phenotype, "tops": {missed, island}}
    finally:
        con.close()
    weak = {c: "yes" if c in nervous else "no" for c in phenotype}
    weak.update(dict.fromkeys(parts["missed"], "no"))
    weak.update(dict.fromkeys(parts["island"], "yes"))
    annotate(hpo_db, QUERY, weak, "weak")
    annotate(hpo_db, QUERY, {missed: "yes", island: "no", PHENOTYPE: "no"}, "strong")
    parts["weak"] = set(weak)
    return parts


def labels(db: Path, rule: str) -> dict[str, str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return dict(con.execute(second_opinion_labels_sql(
            QUERY.name, "concepts", ["strong", "weak"], rule, QUERY.positive)).fetchall())
    finally:
        con.close()


def test_closure_relabels_a_missed_branch_and_leaves_out_a_wrong_island(
        hpo_db: Path, branches: dict[str, set[str]]) -> None:
    got = labels(hpo_db, "closure")
    assert all(got[c] == "yes" for c in branches["missed"])  # every missed label fixed
    island_top = next(iter(branches["tops"] & branches["island"]))
    assert got[island_top] == "no"  # the strong answer itself
    assert not (branches["island"] - {island_top}) & set(got)  # the island's yes: left out
    rest = branches["nervous"] - branches["missed"]
    assert rest and all(got[c] == "yes" for c in rest)  # "no" above it all overturned nothing
    assert len(got) == len(branches["weak"]) - len(branches["island"]) + 1


def test_flip_and_drop_and_off(hpo_db: Path, branches: dict[str, set[str]]) -> None:
    island_top = next(iter(branches["tops"] & branches["island"]))
    missed_top = next(iter(branches["tops"] & branches["missed"]))
    flipped, dropped, off = (labels(hpo_db, r) for r in ("flip", "drop", "off"))
    assert all(flipped[c] == "no" for c in branches["island"])
    assert all(flipped[c] == "yes" for c in branches["missed"])
    assert not (branches["missed"] - {missed_top}) & set(dropped)
    assert dropped[missed_top] == "yes"
    assert not (branches["island"] - {island_top}) & set(dropped)
    # off: the strong answers win on their own items, every other weak label is kept
    assert off[missed_top] == "yes" and off[island_top] == "no" and off[PHENOTYPE] == "no"
    assert sum(off[c] == "no" for c in branches["missed"]) == len(branches["missed"]) - 1


def test_counts_name_the_two_overturned_branches(hpo_db: Path,
                                                 branches: dict[str, set[str]]) -> None:
    con = duckdb.connect(str(hpo_db), read_only=True)
    try:
        overturned, disputed = con.execute(overturned_counts_sql(
            QUERY.name, "concepts", ["strong", "weak"])).fetchone()
    finally:
        con.close()
    assert overturned == 2
    assert disputed == len(branches["missed"]) + len(branches["island"]) - 2


def test_train_reads_several_annotators_under_the_rule(hpo_db: Path,
                                                       branches: dict[str, set[str]]) -> None:
    examples = load_examples(hpo_db, QUERY, ConceptSource(), annotator="strong,weak")
    yes = {e.id for e in examples if e.label == QUERY.categories.index("yes")}
    assert branches["missed"] <= yes
    off = load_examples(hpo_db, QUERY, ConceptSource(), annotator="strong,weak",
                        second_opinion="off")
    assert len(off) == len(branches["weak"])
    one = load_examples(hpo_db, QUERY, ConceptSource(), annotator="weak")
    assert len(one) == len(branches["weak"])  # one annotator: no rule applies


def test_an_unknown_rule_is_refused_before_training(hpo_db: Path, tmp_path: Path,
                                                    branches: dict[str, set[str]]) -> None:
    with pytest.raises(AnnotationError, match="--second-opinion 'sideways'"):
        train(hpo_db, QUERY, ConceptSource(), TrainConfig(), tmp_path / "model",
              annotator="strong,weak", second_opinion="sideways")
    with pytest.raises(AnnotationError, match="choose closure"):
        second_opinion_labels_sql(QUERY.name, "concepts", ["a", "b"], "sideways")
    assert annotation_store.labels_sql(QUERY.name, "concepts", ["strong"]) == \
        second_opinion_labels_sql(QUERY.name, "concepts", ["strong"], "closure")
