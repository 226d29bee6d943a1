"""`annotate --reask contradictions`: a stronger annotator (here `labels:FILE`) answers the
islands and holes `umlsgraph check` finds, most surprising first, -n of them, chosen once and
stored so a re-run resumes; `train --annotator strong,weak` trains on its answers over the weak
ones; `plan` prices the same choice without storing it."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.subontology_data import MODEL, cui, subtree, write_predictions
from tests.training_data import annotate as store_labels
from tests.training_data import write_labels
from umlsgraph.annotate.backends.labels import LabelsAnnotator
from umlsgraph.annotate.driver import annotate
from umlsgraph.annotate.plan import plan
from umlsgraph.db.items import ConceptSource
from umlsgraph.evaluate.consistency import check
from umlsgraph.query import load_query
from umlsgraph.selection import SelectionOptions
from umlsgraph.train.data import load_examples

QUERY = load_query("nervous_system")
runner = CliRunner()
#: Planted as in tests/evaluate/test_consistency.py: a hole under the selected root C0000001,
#: an island with four selected children, and a lone island.
HOLE, BIG, LONE = cui(6), cui(10), cui(290)


def planted() -> dict[str, float]:
    positives = {c: 0.9 for c in subtree(1)} | {BIG: 0.95, LONE: 0.7}
    positives.update({cui(i): 0.8 for i in range(41, 45)})
    del positives[HOLE]
    return positives


def truth(db: Path) -> dict[str, str]:
    """What the strong annotator says: the subtree of C0000001 is yes, everything else no."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        every = [r[0] for r in con.execute("SELECT cui FROM concepts").fetchall()]
    finally:
        con.close()
    yes = subtree(1)
    return {c: "yes" if c in yes else "no" for c in every}


def by_surprise(db: Path, options: SelectionOptions | None = None) -> list[str]:
    """Every island and hole `check` lists, most surprising first."""
    found = check(db, QUERY, options, limit=None)
    rows = sorted(found.islands + found.holes, key=lambda r: (-r["surprise"], r["cui"]))
    return [r["cui"] for r in rows]


def stored(db: Path, table: str, where: str = "TRUE") -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"SELECT * FROM {table} WHERE {where}").fetchall()
    finally:
        con.close()


@pytest.fixture
def planted_db(loaded_db: Path) -> Path:
    write_predictions(loaded_db, planted())
    return loaded_db


def test_the_most_surprising_contradictions_are_asked_and_stored_first(planted_db, tmp_path):
    order = by_surprise(planted_db)
    assert set(order) == {HOLE, BIG, LONE}
    strong = LabelsAnnotator(str(write_labels(tmp_path / "strong.csv", truth(planted_db))))
    result = annotate(planted_db, QUERY, annotator=strong, reask="contradictions", n=2,
                      progress=False)
    assert result.asked == 2 and sorted(strong.asked) == sorted(order[:2])
    assert result.reask["from"] == "predictions" and result.reask["of"] == MODEL
    assert (result.reask["islands"], result.reask["holes"]) == (2, 1)
    # the choice is stored before anything is asked, in asking order, with its surprise
    rounds = stored(planted_db, "annotation_rounds", "strategy = 'contradictions'")
    assert [r[4] for r in sorted(rounds, key=lambda r: r[5])] == order[:2]
    # re-running the same command resumes the stored round: nothing new is asked
    again = LabelsAnnotator(strong.path.as_posix())
    rerun = annotate(planted_db, QUERY, annotator=again, reask="contradictions", n=2,
                     progress=False)
    assert rerun.asked == 0 and rerun.reask["reused"] and again.asked == []
    # a larger budget chooses again and asks only what this annotator has not answered
    more = LabelsAnnotator(strong.path.as_posix())
    annotate(planted_db, QUERY, annotator=more, reask="contradictions", n=5, progress=False)
    assert more.asked == order[2:]


def test_before_training_the_weak_annotations_are_checked(loaded_db, tmp_path):
    """No predictions yet: auto checks the weak annotator's answers (its `check --source
    annotations`), and the strong annotator's own answers never count as the weak ones."""
    weak = {c: "yes" for c in subtree(1) - {HOLE}} | {BIG: "yes", LONE: "yes", cui(2): "no"}
    store_labels(loaded_db, QUERY, weak, annotator="hf:weak")
    expected = by_surprise(loaded_db, SelectionOptions(source="annotations"))
    assert HOLE in expected and BIG in expected
    path = write_labels(tmp_path / "strong.csv", truth(loaded_db))
    strong = LabelsAnnotator(str(path))
    result = annotate(loaded_db, QUERY, annotator=strong, reask="contradictions", n=1,
                      progress=False)
    assert result.reask["from"] == "annotations" and result.reask["of"] == "hf:weak"
    assert strong.asked == expected[:1]
    # now two annotators labelled the query; the asker is still not the one checked, and
    # -n counts new items: two it has not answered
    second = LabelsAnnotator(str(path))
    annotate(loaded_db, QUERY, annotator=second, reask="contradictions", n=2, progress=False)
    assert sorted(second.asked) == sorted(expected[1:3])


def test_a_second_opinion_overrides_the_weak_label_in_training_data(planted_db, tmp_path):
    """`train --annotator strong,weak --second-opinion off`: where the strong annotator
    answered, its label is the one trained on; elsewhere the weak one's. Under the default
    (closure) its "no" on the planted island also leaves out the island's weak "yes" labels."""
    weak = {c: "yes" for c in planted()} | {HOLE: "no", cui(2): "no"}
    store_labels(planted_db, QUERY, weak, annotator="hf:weak")
    path = write_labels(tmp_path / "strong.csv", truth(planted_db))
    annotate(planted_db, QUERY, annotator=LabelsAnnotator(str(path)), reask="contradictions",
             n=3, progress=False)
    examples = {e.id: e.label for e in load_examples(
        planted_db, QUERY, ConceptSource(), annotator="labels:strong.csv,hf:weak",
        second_opinion="off")}
    categories = QUERY.categories
    said = {i: categories[label] if isinstance(label, int) else label
            for i, label in examples.items()}
    assert (said[HOLE], said[BIG], said[LONE]) == ("yes", "no", "no")  # the strong's answers
    assert said[cui(2)] == "no" and said[cui(41)] == "yes"  # the weak's where it alone spoke
    assert len(said) == len(weak)
    weak_only = {e.id: e.label for e in load_examples(planted_db, QUERY, ConceptSource(),
                                                      annotator="hf:weak")}
    assert weak_only[BIG] != examples[BIG]
    closure = {e.id for e in load_examples(planted_db, QUERY, ConceptSource(),
                                           annotator="labels:strong.csv,hf:weak")}
    assert BIG in closure and cui(41) not in closure and len(closure) < len(said)


def test_plan_prices_the_same_choice_without_storing_it(planted_db, tmp_path):
    path = write_labels(tmp_path / "strong.csv", truth(planted_db))
    result = plan(planted_db, QUERY, spec=f"labels:{path}", n=2, reask="contradictions")
    assert result.to_ask == 2 and result.reask["chosen"] == 2
    assert result.reask["from"] == "predictions"
    assert {c["id"] for c in result.conversations} == set(by_surprise(planted_db)[:2])
    assert stored(planted_db, "information_schema.tables",
                  "table_name = 'annotation_rounds'") == []
    cli = runner.invoke(app, ["plan", "nervous_system", "--db", str(planted_db), "--llm",
                              f"labels:{path}", "--reask", "contradictions", "-n", "2",
                              "--json"])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)["to_ask"] == 2


def test_cli_says_which_selection_it_checked(planted_db, tmp_path):
    path = write_labels(tmp_path / "strong.csv", truth(planted_db))
    args = ["annotate", "nervous_system", "--db", str(planted_db), "--llm", f"labels:{path}",
            "--reask", "contradictions", "-n", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"of the predictions (model {MODEL})" in text and "2 islands and 1 holes" in text
    again = runner.invoke(app, args)
    assert "the stored round is resumed" in " ".join(again.output.split())


@pytest.mark.parametrize(("args", "message"), [
    (["--reask-from", "gold"], "choose from auto, predictions, annotations"),
    (["--reask-from", "annotations"], "run `umlsgraph annotate nervous_system` first"),
    (["--strategy", "uncertainty"], "give either --reask or --strategy"),
    (["--corpus", "imdb"], ""),
])
def test_reask_errors_are_one_line(planted_db, tmp_path, args, message):
    path = write_labels(tmp_path / "strong.csv", truth(planted_db))
    result = runner.invoke(app, ["annotate", "nervous_system", "--db", str(planted_db),
                                 "--llm", f"labels:{path}", "--reask", "contradictions",
                                 "-n", "2", *args])
    assert result.exit_code == 1, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output


def test_a_subset_of_the_concepts_limits_what_is_asked_not_the_selection(planted_db, tmp_path):
    """bench/reask.py asks only the half of the concepts no score is taken on: the islands and
    holes are found on the whole selection, and only those in the subset are asked."""
    from umlsgraph.db.items import SubsetSource

    order = by_surprise(planted_db)
    pool = SubsetSource(ConceptSource(), "SELECT cui AS id FROM concepts WHERE cui <> "
                        f"'{order[0]}'")
    strong = LabelsAnnotator(str(write_labels(tmp_path / "strong.csv", truth(planted_db))))
    result = annotate(planted_db, QUERY, pool, strong, reask="contradictions", n=5,
                      progress=False)
    assert sorted(strong.asked) == sorted(order[1:]) and result.reask["islands"] == 2


def test_plan_prices_a_reask_of_the_suspects(loaded_db, tmp_path):
    from umlsgraph.db import audit_store

    sample = sorted(truth(loaded_db))[:30]
    store_labels(loaded_db, QUERY, dict.fromkeys(sample, "no"))
    con = duckdb.connect(str(loaded_db))
    audit_store.start(con, QUERY.name, "concepts", "llm", "k1",
                      [(i, "no", n % 3, None) for n, i in enumerate(sample)])
    audit_store.write_flags(con, QUERY.name, "concepts", "llm", sample, [0.5] * 30,
                            [n < 4 for n in range(30)])
    con.close()
    path = write_labels(tmp_path / "strong.csv", truth(loaded_db))
    result = plan(loaded_db, QUERY, spec=f"labels:{path}", reask="suspects")
    assert result.to_ask == 4 and result.reask == {"reask": "suspects", "chosen": 4}
