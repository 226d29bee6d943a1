"""`umlsgraph query new`: the written file loads unchanged, and plan and annotate accept it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph.annotate.driver import annotate
from umlsgraph.annotate.plan import plan
from umlsgraph.errors import QueryError
from umlsgraph.query import load_query
from umlsgraph.query_template import render, write

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

QUESTION = "Is this term part of the human heart?"


def test_written_query_is_accepted_by_plan_and_annotate(loaded_db: Path, tmp_path: Path,
                                                        minilm_path: Path) -> None:
    path = write("cardiac", QUESTION, tmp_path / "cardiac.toml")
    query = load_query(path)
    assert query.name == "cardiac" and query.positive == "yes"
    assert query.categories == ["yes", "no"] and query.system
    assert QUESTION in query.prompt and "{text}" in query.prompt
    assert set(query.descriptions) == {"yes", "no"}
    text = path.read_text()
    for section in ("# [[examples]]", "# [filter]", "# [text]", "[sample]"):
        assert section in text
    assert plan(loaded_db, query, spec=f"embed:{minilm_path}", n=5).to_ask == 5
    result = annotate(loaded_db, query, annotator=f"embed:{minilm_path}", n=6, progress=False)
    assert result.asked == 6 and sum(result.counts.values()) == 6


@pytest.mark.parametrize("question", [
    'say "yes" \\ or {text} or </script> or \x07 \x7f or ünïcödé ✓ or """ or \'\'\'',
    "line one\nline two\ttabbed",
])
def test_hostile_questions_round_trip(question: str) -> None:
    data = tomllib.loads(render("q1", question))
    assert data["description"] == " ".join(question.split())
    assert data["prompt"].count("{text}") == 1


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".hidden", "", "x" * 65, "a b",
                                  "c:\\x", "name.toml"])
def test_names_cannot_escape_the_folder(name: str) -> None:
    with pytest.raises(QueryError, match="letters, digits"):
        render(name, QUESTION)


def test_cli_query_new(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    out = runner.invoke(app, ["query", "new", "heart_parts", QUESTION])
    assert out.exit_code == 0, out.output
    assert load_query("heart_parts").path.endswith("queries/heart_parts.toml")  # found by name
    again = runner.invoke(app, ["query", "new", "heart_parts", QUESTION])
    assert again.exit_code == 1 and "already exists" in again.output
    assert runner.invoke(app, ["query", "new", "heart_parts", QUESTION, "--force"]).exit_code == 0
    bad = runner.invoke(app, ["query", "new", "../../etc/x", QUESTION])
    assert bad.exit_code == 1 and "letters, digits" in bad.output
    assert not (tmp_path.parent / "etc").exists()
    empty = runner.invoke(app, ["query", "new", "empty", "   "])
    assert empty.exit_code == 1 and "question is empty" in empty.output
