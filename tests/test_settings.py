"""Defaults declared once (settings.py) and resolved in one order for every command:
defaults < project file < environment < flags; one `--text` parser; one `--llm` vs
`--labels-file` rule for `annotate` and `run`."""

from __future__ import annotations

import json
from pathlib import Path

import click
import duckdb
import pytest
import typer
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph.db import annotation_store
from umlsgraph.db.annotation_store import Annotation
from umlsgraph.db.items import ConceptSource
from umlsgraph.errors import AnnotationError
from umlsgraph.query import load_query
from umlsgraph.settings import (
    DEFAULT_BASE_MODEL,
    DEFAULT_DB,
    DEFAULT_LLM,
    RunSettings,
    annotation_input,
    resolve_base_model,
)
from umlsgraph.workflows.run import resolve_settings

runner = CliRunner()
QUERY = "nervous_system"
BOTH = "give either --llm or --labels-file, not both"


def _commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found.update(_commands(command, f"{prefix}{name} "))
        else:
            found[prefix + name] = command
    return found


def test_every_db_option_defaults_to_the_one_setting() -> None:
    commands = _commands(typer.main.get_command(app))  # type: ignore[arg-type]
    with_db = {name: p for name, c in commands.items() for p in c.params if p.name == "db"}
    assert len(with_db) >= 15
    for name, param in with_db.items():
        # `run` leaves it None so that a project file can set it; RunSettings holds the default
        assert param.default == (None if name == "run" else DEFAULT_DB), name
    assert RunSettings(query="q").db == DEFAULT_DB


def test_base_model_order_defaults_project_environment_flags(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "p.toml"
    project.write_text('[run]\nquery = "anatomy"\nbase_model = "from/project"\n')
    monkeypatch.delenv("UMLSGRAPH_BASE_MODEL", raising=False)
    assert resolve_base_model() == DEFAULT_BASE_MODEL
    assert resolve_settings({}, project).base_model == "from/project"
    monkeypatch.setenv("UMLSGRAPH_BASE_MODEL", "from/env")
    assert resolve_base_model() == "from/env" == resolve_base_model(None, "from/project")
    assert resolve_settings({}, project).base_model == "from/env"
    assert resolve_settings({"base_model": "from/flag"}, project).base_model == "from/flag"
    assert resolve_base_model("from/flag") == "from/flag"


def _labels_file(db: Path, path: Path) -> Path:
    con = duckdb.connect(str(db), read_only=True)
    try:
        candidates = ConceptSource().candidates_sql(load_query(QUERY))
        ids = [r[0] for r in con.execute(
            f"SELECT id FROM ({candidates}) ORDER BY id LIMIT 20").fetchall()]
    finally:
        con.close()
    path.write_text("id,label\n" + "".join(f"{i},{'yes' if k % 2 else 'no'}\n"
                                           for k, i in enumerate(ids)))
    return path


def test_run_honours_umlsgraph_base_model(loaded_db: Path, tmp_path: Path) -> None:
    """`run` trains the encoder $UMLSGRAPH_BASE_MODEL names (as train and audit do); a flag
    still wins. Both paths are missing, so training stops at once, naming the one it used."""
    labels = _labels_file(loaded_db, tmp_path / "labels.csv")
    args = ["run", QUERY, "--db", str(loaded_db), "--labels-file", str(labels),
            "--out", str(tmp_path / "model")]
    env = {"UMLSGRAPH_BASE_MODEL": str(tmp_path / "env-model")}
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 1
    assert f"{tmp_path / 'env-model'}: no such model folder" in result.output
    result = runner.invoke(app, [*args, "--base-model", str(tmp_path / "flag-model")], env=env)
    assert result.exit_code == 1
    assert f"{tmp_path / 'flag-model'}: no such model folder" in result.output


def test_llm_and_labels_file_together_are_the_same_error_in_annotate_and_run(
        loaded_db: Path, tmp_path: Path) -> None:
    labels = _labels_file(loaded_db, tmp_path / "labels.csv")
    both = ["--db", str(loaded_db), "--llm", "embed", "--labels-file", str(labels)]
    for command in (["annotate", QUERY, *both], ["run", QUERY, *both]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, command
        assert result.output.strip() == f"Error: {BOTH}", command
    project = tmp_path / "p.toml"
    project.write_text(f'query = "{QUERY}"\nllm = "embed"\nlabels_file = "{labels}"\n')
    result = runner.invoke(app, ["run", "--project", str(project)])
    assert result.exit_code == 1 and BOTH in result.output
    con = duckdb.connect(str(loaded_db), read_only=True)
    try:
        assert not annotation_store.has_table(con)  # refused before anything was stored
    finally:
        con.close()


def test_the_annotation_input_rule() -> None:
    with pytest.raises(AnnotationError, match=BOTH):
        annotation_input("embed", Path("l.csv"))
    with pytest.raises(AnnotationError, match="say which annotator to use"):
        annotation_input(None, None)
    assert annotation_input(None, Path("l.csv")) is None
    assert annotation_input(None, None, DEFAULT_LLM) == DEFAULT_LLM
    assert RunSettings(query="q").backend == DEFAULT_LLM
    assert RunSettings(query="q", labels_file=Path("l.csv")).llm is None


@pytest.mark.slow
def test_audit_text_none_reads_the_names_alone(loaded_db: Path, minilm_path: Path,
                                               tmp_path: Path) -> None:
    """`--text none` is parsed by the helper `train` uses (it used to be refused by audit)."""
    con = duckdb.connect(str(loaded_db))
    ids = [r[0] for r in con.execute("SELECT cui FROM concepts ORDER BY cui LIMIT 24").fetchall()]
    annotation_store.write(con, QUERY, "concepts", "llm", "h",
                           [Annotation(i, "yes" if k % 2 else "no", "x")
                            for k, i in enumerate(ids)])
    con.close()
    result = runner.invoke(app, [
        "audit", QUERY, "--db", str(loaded_db), "--base-model", str(minilm_path),
        "--folds", "2", "--epochs", "1", "--max-length", "16", "--text", "none",
        "--keep-models", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 24
    metas = list(loaded_db.parent.glob(f".{loaded_db.name}.audit/**/umlsgraph.json"))
    assert len(metas) == 2
    assert all(json.loads(m.read_text())["config"]["text"] == [] for m in metas)
