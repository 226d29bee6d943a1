"""One selection: export, check, the report, `concept`, the review page and `info` show the
same concepts and the same count, on a store with a cycle, a query `[filter]`, holes, and
annotations that overrule the model."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.subontology_data import cui, subtree, write_predictions
from umlsgraph.db import annotation_store

runner = CliRunner()
QUERY_TOML = """name = "filtered_nervous"
prompt = "Is {text} part of the nervous system?"
positive = "yes"
[labels]
yes = ["yes"]
no = ["no"]
[filter]
semantic_types = ["T023", "T029", "T047", "T033"]
"""


def _query_file(folder: Path, monkeypatch) -> Path:
    """The query in ./queries, where `concept` and `info` find it by its name."""
    (folder / "queries").mkdir()
    query = folder / "queries" / "filtered_nervous.toml"
    query.write_text(QUERY_TOML, encoding="utf-8")
    monkeypatch.chdir(folder)
    return query


def _store(db: Path, query: Path) -> str:
    """A confident branch with holes, an unsure island, a cycle of is-a rows, and two
    annotations that overrule the model (one no inside the branch, one yes outside: its id
    is returned)."""
    positives = {c: 0.95 for c in subtree(1) - {cui(23), cui(29)}}
    positives.update({c: 0.7 for c in subtree(9)})
    write_predictions(db, positives, query="filtered_nervous")
    con = duckdb.connect(str(db))
    annotated_yes = con.execute(
        "SELECT min(cui) FROM semantic_types WHERE tui = 'T029' AND cui NOT IN "
        "(SELECT id FROM predictions WHERE label = 'yes') AND cui > 'C0000200'").fetchall()[0][0]
    for child, parent in ((cui(1), cui(85)), (cui(85), cui(21))):  # 85 -> 21 -> 5 -> 1 -> 85
        con.execute("INSERT INTO relations (cui1, rel, cui2, rela, sab) SELECT ?, 'PAR', ?, "
                    "'inverse_isa', min(sab) FROM names WHERE cui = ?", [child, parent, child])
    annotation_store.write(con, "filtered_nervous", "concepts", "human:ann", "h", [
        annotation_store.Annotation(cui(7), "no", "no"),
        annotation_store.Annotation(annotated_yes, "yes", "yes")])
    con.close()
    return str(annotated_yes)


def _run(*args: str) -> dict:
    out = runner.invoke(app, [*args, "--json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


def _exported(db: Path, query: Path, folder: Path, *options: str) -> tuple[int, set[str]]:
    summary = _run("export", str(query), "--db", str(db), "-f", "csv", "-o", str(folder),
                   *options)
    con = duckdb.connect()
    nodes = {r[0] for r in con.execute(
        "SELECT cui FROM read_csv(?, header=true) WHERE selected",
        [str(next(folder.glob("*nodes*.csv")))]).fetchall()}
    return summary["selected"], nodes


def test_every_command_counts_the_same_selection(loaded_db: Path, tmp_path: Path,
                                                 monkeypatch) -> None:
    from umlsgraph.report.page import build_report
    from umlsgraph.report.review import build_review

    query = _query_file(tmp_path, monkeypatch)
    annotated_yes = _store(loaded_db, query)
    selected, nodes = _exported(loaded_db, query, tmp_path / "x")
    con = duckdb.connect(str(loaded_db), read_only=True)
    outside = {r[0] for r in con.execute(
        "SELECT c.cui FROM concepts c WHERE c.cui NOT IN (SELECT cui FROM semantic_types "
        "WHERE tui IN ('T023', 'T029', 'T047', 'T033'))").fetchall()}
    con.close()
    assert selected == len(nodes) > 0 and not nodes & outside  # the filter holds
    assert {cui(23), cui(29)} <= nodes  # the holes are filled by the default closure

    checked = _run("check", str(query), "--db", str(loaded_db))
    assert checked["counts"]["selected"] == selected
    assert checked["counts"]["holes"] >= 1  # check reads the labels, before the closure
    info = _run("info", "--db", str(loaded_db))
    assert info["selections"]["filtered_nervous"]["selected"] == selected
    report = build_report(loaded_db, query, tmp_path / "report").sections
    assert report["subontology"]["selected"] == report["check"]["selected"] == selected
    review = build_review(loaded_db, str(query), tmp_path / "review.html", borderline=0.5)
    assert review.selected == selected
    for concept in (cui(1), cui(6), cui(21), cui(23), cui(7), cui(9), cui(37), annotated_yes):
        record = _run("concept", concept, "--db", str(loaded_db))
        q = record["queries"]["filtered_nervous"]
        assert q["selected"] is (concept in nodes), (concept, q["selected_by"])
        assert q["query_selected"] == selected


def test_annotations_overrule_the_model_and_the_closure(loaded_db: Path, tmp_path: Path,
                                                        monkeypatch) -> None:
    query = _query_file(tmp_path, monkeypatch)
    annotated_yes = _store(loaded_db, query)
    both = ("--source", "both", "--annotator", "human:ann")
    selected, nodes = _exported(loaded_db, query, tmp_path / "b", *both)
    assert cui(7) not in nodes  # annotated no inside a confident branch: never added
    if _parents(loaded_db, cui(29)) == {cui(7)}:  # the hole under it is not walked into
        assert cui(29) not in nodes
    assert annotated_yes in nodes  # annotated yes, predicted no: selected
    checked = _run("check", str(query), "--db", str(loaded_db), *both)
    assert checked["counts"]["selected"] == selected
    evaluated = _run("eval", str(query), "--db", str(loaded_db), "--source", "selection",
                     "--gold", str(_gold(tmp_path, nodes)))
    assert evaluated["what"] == "selection"


def _parents(db: Path, child: str) -> set[str]:
    from umlsgraph.db.hierarchy import edges_sql

    con = duckdb.connect(str(db), read_only=True)
    try:
        return {r[0] for r in con.execute(f"SELECT parent FROM ({edges_sql()}) WHERE child = ?",
                                          [child]).fetchall()}
    finally:
        con.close()


def _gold(folder: Path, positives: set[str]) -> Path:
    path = folder / "gold.csv"
    path.write_text("id,label\n" + "".join(f"{c},yes\n" for c in sorted(positives)),
                    encoding="utf-8")
    return path
