"""The CLI over the store: load, info, synth, --version, and the one-line error path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph import __version__

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_synth_load_info_json(tmp_path: Path) -> None:
    release = tmp_path / "rel"
    db = tmp_path / "umls.duckdb"
    assert runner.invoke(app, ["synth", str(release), "--concepts", "80", "--gzip",
                               "--split", "2"]).exit_code == 0
    result = runner.invoke(app, ["load", str(release / "META"), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "Loaded 80 concepts" in result.output
    result = runner.invoke(app, ["info", "--db", str(db), "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    for key in ("concepts", "names", "relations", "semantic_types", "definitions", "sources"):
        assert isinstance(data[key], int)
    assert data["concepts"] == 80
    human = runner.invoke(app, ["info", "--db", str(db)])
    assert "concepts" in human.output and "REL=PAR" in human.output


def test_load_filters_from_the_command_line(synth_release: Path, tmp_path: Path) -> None:
    db = tmp_path / "f.duckdb"
    result = runner.invoke(app, ["load", str(synth_release), "--db", str(db), "--lang", "ALL",
                                 "--sab", "MSH,NCI", "--keep-suppressed", "--rel", "PAR"])
    assert result.exit_code == 0, result.output
    data = json.loads(runner.invoke(app, ["info", "--db", str(db), "--json"]).output)
    assert set(data["relations_by_rel"]) == {"PAR"}
    assert data["languages"] == 2


def test_user_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["load", str(tmp_path / "missing"), "--db",
                                 str(tmp_path / "x.duckdb")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "no such folder" in result.output
    result = runner.invoke(app, ["info", "--db", str(tmp_path / "x.duckdb")])
    assert result.exit_code == 1
    assert "umlsgraph load" in result.output


def test_help_is_fast_and_imports_no_heavy_modules() -> None:
    code = ("import sys; import umlsgraph_cli.main; "
            "heavy = [m for m in ('torch', 'transformers', 'rdflib', 'neo4j', 'vllm') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
