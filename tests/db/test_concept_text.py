"""The concept text on a store where several sources state parents (as in a real release)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from umlsgraph.db.items import concept_text_sql
from umlsgraph.query import TextOptions, load_query, parse_query

# cui -> (preferred name, the source of its preferred atom)
CONCEPTS = {"C1": ("Seizure", "SRC_A"), "C2": ("Neurological finding", "SRC_A"),
            "C3": ("Blue things", "SRC_B"), "C4": ("Kitchen utensil", "SRC_B"),
            "C5": ("Nervous system finding", "SRC_A"), "C6": ("Cheese", "SRC_B"),
            "C7": ("Orphan", "SRC_C")}
# (child, parent, source stating it)
PARENTS = [("C1", "C2", "SRC_A"), ("C1", "C3", "SRC_B"), ("C1", "C4", "SRC_B"),
           ("C2", "C5", "SRC_A"), ("C2", "C6", "SRC_B"),
           ("C7", "C3", "SRC_B"), ("C7", "C4", "SRC_B")]


@pytest.fixture
def store(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    con.execute("CREATE TABLE names (cui VARCHAR, aui VARCHAR, lat VARCHAR, ts VARCHAR, "
                "stt VARCHAR, ispref VARCHAR, sab VARCHAR, str VARCHAR, suppress VARCHAR)")
    con.execute("CREATE TABLE concepts (cui VARCHAR, name VARCHAR)")
    con.execute("CREATE TABLE relations (cui1 VARCHAR, rel VARCHAR, cui2 VARCHAR, "
                "rela VARCHAR, sab VARCHAR)")
    for n, (cui, (name, sab)) in enumerate(CONCEPTS.items()):
        con.execute("INSERT INTO names VALUES (?, ?, 'ENG', 'P', 'PF', 'Y', ?, ?, 'N')",
                    [cui, f"A{n}0", sab, name])
        # every concept also has a non-preferred atom from SRC_B, as sources overlap
        con.execute("INSERT INTO names VALUES (?, ?, 'ENG', 'S', 'PF', 'N', 'SRC_B', ?, 'N')",
                    [cui, f"A{n}1", name])
        con.execute("INSERT INTO concepts VALUES (?, ?)", [cui, name])
    for child, parent, sab in PARENTS:
        con.execute("INSERT INTO relations VALUES (?, 'PAR', ?, 'inverse_isa', ?)",
                    [child, parent, sab])
        con.execute("INSERT INTO relations VALUES (?, 'CHD', ?, 'isa', ?)",
                    [parent, child, sab])
    return con


def texts(con: duckdb.DuckDBPyConnection, options: TextOptions) -> dict[str, str]:
    return dict(con.execute(concept_text_sql(options, "SELECT cui AS id FROM concepts"))
                .fetchall())


def test_parents_are_those_of_the_preferred_name_source(store: duckdb.DuckDBPyConnection
                                                        ) -> None:
    """Another source's parents (here nonsense) neither become "parents" nor lead to
    grandparents; the preferred-name source's parent and grandparent do."""
    got = texts(store, TextOptions(parents=True, grandparents=True))
    assert got["C1"] == ("seizure | parents: neurological finding "
                         "| grandparents: nervous system finding")


def test_other_parents_are_shown_apart_when_asked(store: duckdb.DuckDBPyConnection) -> None:
    got = texts(store, TextOptions(parents=True, other_parents=True))
    assert got["C1"] == ("seizure | parents: neurological finding "
                         "| other parents: blue things; kitchen utensil")
    assert "other parents" not in got["C5"]


def test_every_parent_is_main_when_the_preferred_source_states_none(
        store: duckdb.DuckDBPyConnection) -> None:
    got = texts(store, TextOptions(parents=True, other_parents=True))
    assert got["C7"] == "orphan | parents: blue things; kitchen utensil"


def test_other_parents_is_a_query_and_train_option_that_keeps_stored_keys() -> None:
    """Adding the option must not re-key answers users paid for: a default query hashes as
    before the option existed (the hash below is the shipped query's at commit 0713560)."""
    from umlsgraph.settings import TrainConfig
    from umlsgraph.train.data import training_text

    shipped = load_query("nervous_system")
    assert shipped.prompt_hash() == "0a2ff931d6aa"
    asked = replace(shipped, text=replace(shipped.text, other_parents=True))
    assert asked.prompt_hash() != shipped.prompt_hash()
    parsed = parse_query({"name": "q", "prompt": "{text}?", "positive": "yes",
                          "labels": {"yes": ["yes"], "no": ["no"]},
                          "text": {"other_parents": True}})
    assert parsed.text.other_parents
    config = TrainConfig(text=("parents", "other_parents"))
    assert training_text(shipped, config).text.other_parents
