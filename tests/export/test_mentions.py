"""`export --mentioned-in CORPUS`: whole-word, case-insensitive Aho-Corasick matching of the
selected concepts' names in a loaded corpus, with counts stored so re-exports do not rescan."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph.annotate.driver import import_labels
from umlsgraph.corpus.loader import load_corpus
from umlsgraph.export.mentions import automaton, mentions_in

runner = CliRunner()


def test_whole_words_case_insensitive() -> None:
    auto = automaton({"seizure": ["C1"], "heart": ["C2"], "heart failure": ["C3"]})
    found = mentions_in(auto, "SEIZURE, seizures; Heart failure (heart). Sweetheart seizure_x")
    assert found == {"C1": 1, "C2": 2, "C3": 1}


def _corpus_file(path: Path, texts: list[str]) -> Path:
    path.write_text("id,text\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(texts)))
    return path


@pytest.fixture
def labelled_hpo(hpo_db: Path, tmp_path: Path) -> Path:
    """HPO with four concepts labelled positive by a human annotator."""
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\nHP:0001250,yes\nHP:0001289,yes\nHP:0002527,yes\n"
                      "HP:0000716,yes\nHP:0000118,no\n")
    import_labels(hpo_db, "hpo_nervous", labels, annotator="human:t")
    return hpo_db


def _export(db: Path, out: Path, *extra: str) -> dict:
    result = runner.invoke(app, ["export", "hpo_nervous", "--db", str(db), "--source",
                                 "annotations", "-f", "csv", "-o", str(out), "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_export_mentioned_in(labelled_hpo: Path, tmp_path: Path) -> None:
    texts = ["A SEIZURE in the night.", "Seizure again, then confusion.",
             "He falls; she falls; seizures are plural.", "Depressionism is not a word."]
    load_corpus(labelled_hpo, "notes", _corpus_file(tmp_path / "notes.csv", texts))
    first = _export(labelled_hpo, tmp_path / "a", "--mentioned-in", "notes")
    assert first["selected"] == 3 and first["not_mentioned"] == 1  # Depression: no whole word
    assert first["mention_scan"]["scanned"] == 4 and first["mention_scan"]["texts"] == 4
    con = duckdb.connect(str(labelled_hpo), read_only=True)
    counts = dict(con.execute("SELECT cui, mentions FROM mention_counts WHERE corpus = 'notes'"
                              ).fetchall())
    con.close()
    # "Seizures" is one of Seizure's HPO synonyms; "falls" is the name of HP:0002527
    assert counts == {"HP:0001250": 3, "HP:0001289": 1, "HP:0002527": 2, "HP:0000716": 0}
    again = _export(labelled_hpo, tmp_path / "b", "--mentioned-in", "notes",
                    "--min-mentions", "2")
    assert again["mention_scan"]["scanned"] == 0  # stored counts, no rescan
    assert again["selected"] == 2
    nodes = (tmp_path / "b" / "nodes.csv").read_text()
    assert "HP:0001250" in nodes and "HP:0001289" not in nodes


def test_reloaded_corpus_is_rescanned(labelled_hpo: Path, tmp_path: Path) -> None:
    load_corpus(labelled_hpo, "notes", _corpus_file(tmp_path / "a.csv", ["seizure"]))
    assert _export(labelled_hpo, tmp_path / "x", "--mentioned-in", "notes")["selected"] == 1
    load_corpus(labelled_hpo, "notes", _corpus_file(tmp_path / "b.csv", ["confusion", "falls"]))
    second = _export(labelled_hpo, tmp_path / "y", "--mentioned-in", "notes")
    assert second["mention_scan"]["rescanned"] and second["mention_scan"]["scanned"] == 4
    assert second["selected"] == 2


def test_mention_errors(labelled_hpo: Path, tmp_path: Path) -> None:
    base = ["export", "hpo_nervous", "--db", str(labelled_hpo), "--source", "annotations",
            "-f", "csv", "-o", str(tmp_path / "o")]
    missing = runner.invoke(app, [*base, "--mentioned-in", "nope"])
    assert missing.exit_code == 1 and "no corpus 'nope'" in missing.output
    load_corpus(labelled_hpo, "notes", _corpus_file(tmp_path / "n.csv", ["nothing here"]))
    none = runner.invoke(app, [*base, "--mentioned-in", "notes"])
    assert none.exit_code == 1 and "none of the 4 selected concepts is mentioned" in none.output
    bad = runner.invoke(app, [*base, "--mentioned-in", "notes", "--min-mentions", "0"])
    assert bad.exit_code == 1 and "--min-mentions must be at least 1" in bad.output
