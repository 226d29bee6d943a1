"""`umlsgraph concept` and `umlsgraph search` on a loaded store (synthetic and real HPO)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph.annotate.driver import import_labels
from umlsgraph.db.prediction_store import ensure_table as ensure_predictions
from umlsgraph.errors import NotFoundError
from umlsgraph.lookup.concept import lookup
from umlsgraph.lookup.search import search

runner = CliRunner()


def test_concept_record_on_real_hpo(hpo_db: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\nHP:0001250,yes\n")
    import_labels(hpo_db, "hpo_nervous", labels, annotator="human:ann")
    con = duckdb.connect(str(hpo_db))
    ensure_predictions(con)
    con.execute("INSERT INTO predictions (query, source, id, label, probability, model) VALUES "
                "('hpo_nervous', 'concepts', 'HP:0001250', 'yes', 0.93, 'runs/m')")
    con.close()
    record = lookup(hpo_db, "hp:0001250")  # case does not matter
    assert record["cui"] == "HP:0001250" and record["name"] == "Seizure"
    assert any(n["name"] == "Epileptic seizure" for n in record["synonyms"]["HP"])
    assert record["definitions"] and "seizure" in record["definitions"][0]["definition"].lower()
    assert {"cui": "HP:0012638", "name": "Abnormal nervous system physiology",
            "sources": ["HP"]} in record["parents"]
    assert any(c["name"] == "Focal-onset seizure" for c in record["children"])
    assert record["children_total"] >= len(record["children"])
    q = record["queries"]["hpo_nervous"]
    assert q["annotations"][0]["annotator"] == "human:ann"
    assert q["annotations"][0]["raw"] == "yes"
    assert q["predictions"][0]["probability"] == pytest.approx(0.93)
    assert q["selected"] is True and "runs/m" in q["selected_by"]


def test_concept_says_when_export_closure_selects_it(hpo_db: Path) -> None:
    """Focal-onset seizure is labelled no, but its parent Seizure yes (0.93): export's default
    closure selects it, and `concept` says so and through which ancestor; with Seizure at 0.6
    it says which selected ancestor does not pass its selection down."""
    con = duckdb.connect(str(hpo_db))
    ensure_predictions(con)
    con.execute("INSERT INTO predictions (query, source, id, label, probability, model) VALUES "
                "('hpo_nervous', 'concepts', 'HP:0001250', 'yes', 0.93, 'runs/m'), "
                "('hpo_nervous', 'concepts', 'HP:0007359', 'no', 0.2, 'runs/m'), "
                "('hpo_nervous', 'concepts', 'HP:0000478', 'no', 0.1, 'runs/m')")
    focal = con.execute("SELECT name FROM concepts WHERE cui = 'HP:0007359'").fetchall()[0][0]
    con.close()
    assert focal == "Focal-onset seizure"
    q = lookup(hpo_db, "HP:0007359")["queries"]["hpo_nervous"]  # 0.93: export's closure
    assert q["selected"] is True and q["selected_via"] == "HP:0001250"
    assert "a descendant of HP:0001250, which passes its selection down" in q["selected_by"]
    eye = lookup(hpo_db, "HP:0000478")["queries"]["hpo_nervous"]
    assert eye["selected"] is False and "descendant" not in eye["selected_by"]
    con = duckdb.connect(str(hpo_db))
    con.execute("UPDATE predictions SET probability = 0.6 WHERE id = 'HP:0001250'")
    con.close()
    q = lookup(hpo_db, "HP:0007359")["queries"]["hpo_nervous"]  # unsure: --descendants only
    said = "below HP:0001250, selected, which does not pass its selection down"
    assert q["selected"] is False and said in q["selected_by"]


def test_concept_cli(loaded_db: Path) -> None:
    cui = duckdb.connect(str(loaded_db), read_only=True).execute(
        "SELECT min(cui) FROM concepts").fetchall()[0][0]
    out = runner.invoke(app, ["concept", cui, "--db", str(loaded_db), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["cui"] == cui and data["semantic_types"] and data["queries"] == {}
    text = runner.invoke(app, ["concept", cui, "--db", str(loaded_db)])
    assert text.exit_code == 0 and cui in text.output and "semantic types:" in text.output
    bad = runner.invoke(app, ["concept", "C9999999", "--db", str(loaded_db)])
    assert bad.exit_code == 1 and "unknown concept 'C9999999'" in bad.output
    assert len(bad.output.strip().splitlines()) == 1


def test_search_ranks_exact_then_prefix_then_substring(hpo_db: Path) -> None:
    rows = search(hpo_db, "SEIZURE", limit=200)
    kinds = [r["match"] for r in rows]
    assert rows[0] == {"cui": "HP:0001250", "name": "Seizure", "matched": "Seizure",
                       "match": "exact"}
    assert kinds == sorted(kinds, key=["exact", "prefix", "substring"].index)
    assert {"prefix", "substring"} <= set(kinds)
    assert len({r["cui"] for r in rows}) == len(rows)  # each concept once
    assert all("seizure" in r["matched"].lower() for r in rows)


def test_search_handles_quotes_and_wildcards_as_text(hpo_db: Path) -> None:
    with pytest.raises(NotFoundError, match="no name contains"):
        search(hpo_db, "%' OR 1=1 --")
    with pytest.raises(NotFoundError, match="no name contains"):
        search(hpo_db, "seiz%ure")


def test_search_index_is_rebuilt_after_a_reload(loaded_db: Path) -> None:
    search(loaded_db, "a", limit=1)
    con = duckdb.connect(str(loaded_db))
    con.execute("UPDATE release SET value = 'reloaded' WHERE key = 'loaded_at'")
    con.execute("INSERT INTO names (cui, str, lat) SELECT min(cui), 'Zyxwvut novelname', 'ENG' "
                "FROM concepts")
    con.close()
    assert search(loaded_db, "zyxwvut")[0]["match"] == "prefix"


def test_search_cli_errors(loaded_db: Path) -> None:
    out = runner.invoke(app, ["search", "   ", "--db", str(loaded_db)])
    assert out.exit_code == 1 and "search text is empty" in out.output
    none = runner.invoke(app, ["search", "qqqqzzzz", "--db", str(loaded_db)])
    assert none.exit_code == 1 and "no name contains 'qqqqzzzz'" in none.output
    ok = runner.invoke(app, ["search", "a", "--db", str(loaded_db), "--json", "--limit", "3"])
    assert ok.exit_code == 0 and len(json.loads(ok.output)) == 3


def test_grouped_fallback_ranks_like_the_top_n(hpo_db: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from umlsgraph.db import search as index

    expected = {t: search(hpo_db, t, limit=15) for t in ("seizure", "abnormal", "eye")}
    monkeypatch.setattr(index, "OVERFETCH", 1)  # the top rows now hold too few concepts
    con = duckdb.connect(str(hpo_db), read_only=True)
    grouped = index.search(con, "seizure", 15)
    con.close()
    assert [r[0] for r in grouped] == [r["cui"] for r in expected["seizure"]]
    for text, rows in expected.items():
        assert search(hpo_db, text, limit=15) == rows
