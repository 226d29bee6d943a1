"""Nothing umlsgraph did not write is deleted or overwritten, and no name becomes a path
outside the output folder: synth, train, report and demo refuse foreign folders and files in
the way; query names like ../../x are refused; names made into file names are sanitised."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph.errors import OutputError, QueryError
from umlsgraph.outputs import MARKER, claim_folder, safe_filename
from umlsgraph.query import load_query

runner = CliRunner()


def _foreign(folder: Path) -> dict[Path, bytes]:
    """A folder holding a user's files; returns them to compare afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {folder / "MRCONSO.RRF": b"C1|licensed|\n", folder / "config.json": b"{}",
             folder / "notes.txt": b"mine"}
    for path, data in files.items():
        path.write_bytes(data)
    return files


def _unchanged(files: dict[Path, bytes]) -> bool:
    folder = next(iter(files)).parent
    return {p: p.read_bytes() for p in folder.iterdir()} == files


@pytest.mark.parametrize("args, folder", [
    (["synth", "{tmp}/out", "--concepts", "5"], "out/META"),
    (["train", "nervous_system", "--db", "{db}", "--out", "{tmp}/model"], "model"),
    (["report", "nervous_system", "--db", "{db}", "--out", "{tmp}/report"], "report"),
    (["demo", "--out", "{tmp}/demo"], "demo"),
])
def test_a_folder_of_someone_elses_files_is_refused(args: list[str], folder: str,
                                                    loaded_db: Path, tmp_path: Path) -> None:
    files = _foreign(tmp_path / folder)
    result = runner.invoke(app, [a.format(tmp=tmp_path, db=loaded_db) for a in args])
    assert result.exit_code == 1, result.output
    assert "holds files umlsgraph did not write" in result.output
    assert _unchanged(files)


@pytest.mark.parametrize("args", [
    ["synth", "{file}", "--concepts", "5"],
    ["report", "nervous_system", "--db", "{db}", "--out", "{file}"],
    ["demo", "--out", "{file}"],
    ["train", "nervous_system", "--db", "{db}", "--out", "{file}"],
])
def test_a_file_where_an_output_folder_goes_is_refused(args: list[str], loaded_db: Path,
                                                       tmp_path: Path) -> None:
    file = tmp_path / "existing"
    file.write_bytes(b"precious")
    result = runner.invoke(app, [a.format(file=file, db=loaded_db) for a in args])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert file.read_bytes() == b"precious"


def test_synth_rewrites_only_its_own_release(tmp_path: Path) -> None:
    for concepts in ("5", "9"):
        result = runner.invoke(app, ["synth", str(tmp_path), "--concepts", concepts])
        assert result.exit_code == 0, result.output
    meta = tmp_path / "META"
    assert (meta / MARKER).is_file()
    assert sum(1 for _ in (meta / "MRSAB.RRF").open()) >= 1
    (meta / "extra.txt").write_text("user note")  # a file added later is kept
    assert runner.invoke(app, ["synth", str(tmp_path), "--concepts", "3"]).exit_code == 0
    assert (meta / "extra.txt").read_text() == "user note"


def test_claim_folder_accepts_new_empty_and_own_folders(tmp_path: Path) -> None:
    assert claim_folder(tmp_path / "new" / "deep", "x").is_dir()
    (tmp_path / "empty").mkdir()
    claim_folder(tmp_path / "empty", "x")
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "umlsgraph.json").write_text("{}")
    claim_folder(legacy, "x", ours=lambda f: (f / "umlsgraph.json").exists())
    assert (legacy / MARKER).is_file()
    with pytest.raises(OutputError, match="did not write"):
        claim_folder(legacy.parent / "new" / "..", "x")


@pytest.mark.parametrize("name", ["../../x", "/etc/passwd", "a/b", "..", ".hidden", "a\x00b",
                                  "tab\tname", "x" * 101, "a\\b", "new\nline"])
def test_query_names_that_are_not_safe_file_names_are_refused(name: str, tmp_path: Path) -> None:
    text = (Path(__file__).parent.parent / "queries" / "nervous_system.toml").read_text()
    lines = [f"name = {name!r}".replace("'", '"') if line.startswith("name =") else line
             for line in text.splitlines()]
    path = tmp_path / "q.toml"
    path.write_text("\n".join(lines).replace('"\x00"', '"\\u0000"'), encoding="utf-8")
    with pytest.raises(QueryError):
        load_query(path)


def test_export_and_run_with_a_climbing_name_write_nothing_outside(loaded_db: Path,
                                                                   tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    text = (Path(__file__).parent.parent / "queries" / "nervous_system.toml").read_text()
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    query = work / "evil.toml"
    query.write_text(text.replace('name = "nervous_system"', 'name = "../../x"'))
    monkeypatch.chdir(work)
    for args in (["export", str(query), "--db", str(loaded_db), "--source", "annotations"],
                 ["run", str(query), "--db", str(loaded_db), "--llm", "embed"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and "field 'name'" in result.output, result.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "evil.toml",
                                                           "umls.duckdb"]


@pytest.mark.parametrize("text, expected", [
    ("../../x", "x"), ("nervous_system", "nervous_system"), ("a/b\\c", "a_b_c"),
    ("..", "output"), (".hidden", "hidden"), ("", "output"), ("x\x00y", "x_y"),
])
def test_safe_filename(text: str, expected: str) -> None:
    name = safe_filename(text)
    assert name == expected
    assert "/" not in name and ".." not in name and not name.startswith(".")
