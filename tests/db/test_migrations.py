"""Stored work survives upgrades: stores written by the code at commit 97c4c3b (committed in
tests/db/fixtures by make_v1_fixture.py) open in today's code with every row kept, get their
schema version, and take more work; a newer store is refused in one line; a failing
migration leaves nothing half-applied."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph import __version__
from umlsgraph.corpus.loader import load_corpus
from umlsgraph.db import connect, migrations, schema
from umlsgraph.errors import StoreError
from umlsgraph.load.release import load_release

FIXTURES = Path(__file__).parent / "fixtures"
MANIFEST = json.loads((FIXTURES / "v1.json").read_text())
VARIANTS = {"v1": "tables", "v1_reloaded": "reloaded_tables"}
LLM = "hf:/models/llama 'q4'.gguf"
runner = CliRunner()


def unpack(name: str, folder: Path) -> Path:
    """A writable copy of a committed store."""
    db = folder / f"{name}.duckdb"
    db.write_bytes(gzip.decompress((FIXTURES / f"{name}.duckdb.gz").read_bytes()))
    return db


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table except the version record, in a fixed order."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE table_name <> ?",
            [schema.VERSION_TABLE]).fetchall()]
        return {t: con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall() for t in tables}
    finally:
        con.close()


def keyed_tables(db: Path) -> set[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {r[0] for r in con.execute("SELECT table_name FROM duckdb_constraints() "
                                          "WHERE constraint_type = 'PRIMARY KEY'").fetchall()}
    finally:
        con.close()


def versions(db: Path) -> list[tuple[int, str, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"SELECT version, name, program_version FROM "
                           f"{schema.VERSION_TABLE} ORDER BY version").fetchall()
    finally:
        con.close()


def current() -> list[tuple[int, str, str]]:
    return [(i, m.__name__, __version__) for i, m in enumerate(migrations.MIGRATIONS, 1)]


def one_line_error(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def flat(text: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(text.split())


def invoke(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("name", VARIANTS)
def test_the_fixture_is_a_store_written_before_versions(name: str, tmp_path: Path) -> None:
    db = unpack(name, tmp_path)
    rows = snapshot(db)
    assert {t: len(r) for t, r in rows.items()} == MANIFEST[VARIANTS[name]]
    assert schema.VERSION_TABLE not in rows and MANIFEST["duckdb"].startswith("2.")
    pipeline = set(schema.DDL)
    # the reload at 97c4c3b copied the pipeline tables without their primary keys
    assert keyed_tables(db) & pipeline == (set() if name == "v1_reloaded" else pipeline)


@pytest.mark.parametrize("name", VARIANTS)
def test_opening_for_work_upgrades_and_keeps_every_row(name: str, tmp_path: Path) -> None:
    db = unpack(name, tmp_path)
    before = snapshot(db)
    connect(db).close()
    assert snapshot(db) == before  # every row of every table, content included
    assert versions(db) == current()
    assert set(schema.DDL) <= keyed_tables(db)
    connect(db).close()  # a current store: nothing more applied
    assert versions(db) == current()


def test_read_only_commands_read_an_old_store_without_writing(tmp_path: Path) -> None:
    db = unpack("v1", tmp_path)
    content = db.read_bytes()
    assert json.loads(invoke("info", "--db", str(db), "--json").output)["schema_version"] == 0
    shown = json.loads(invoke("annotations", "nervous_system", "--db", str(db),
                              "--json").output)
    assert {g["annotator"]: g["total"] for g in shown} == {"labels:labels.csv": 12, LLM: 11}
    assert db.read_bytes() == content
    assert not Path(f"{db}.wal").exists()


def _gold(tmp_path: Path) -> Path:
    """The fixture's predictions say yes exactly for concepts i % 4 == 1."""
    path = tmp_path / "gold.csv"
    path.write_text("id,label\n" + "".join(f"C{i:07d},{'yes' if i % 4 == 1 else 'no'}\n"
                                           for i in range(40)))
    return path


@pytest.mark.parametrize("name", VARIANTS)
def test_an_old_store_takes_more_work(name: str, tmp_path: Path) -> None:
    db = unpack(name, tmp_path)
    before = snapshot(db)
    labels = tmp_path / "more.csv"
    labels.write_text("id,label\n" + "".join(f"C{i:07d},yes\n" for i in range(30, 40)))
    out = invoke("annotate", "nervous_system", "--db", str(db), "--labels-file", str(labels))
    assert "Imported 10 labels as labels:more.csv" in out.output
    after = snapshot(db)
    assert set(before["annotations"]) <= set(after["annotations"])
    assert len(after["annotations"]) == len(before["annotations"]) + 10
    assert {t: rows for t, rows in after.items() if t != "annotations"} == \
        {t: rows for t, rows in before.items() if t != "annotations"}
    assert versions(db) == current()

    scored = json.loads(invoke("eval", "nervous_system", "--db", str(db), "--gold",
                               str(_gold(tmp_path)), "--json").output)
    assert (scored["n"], scored["model"], scored["accuracy"]) == (40, "models/encoder-v1", 1.0)
    llm = json.loads(invoke("eval", "nervous_system", "--db", str(db), "--gold",
                            str(_gold(tmp_path)), "--source", "annotations", "--annotator",
                            LLM, "--json").output)
    assert llm["n"] == 10  # the LLM's 11 answers, one of them unparseable

    invoke("export", "nervous_system", "--db", str(db), "-f", "csv", "-o",
           str(tmp_path / "out"))
    nodes = (tmp_path / "out" / "nodes.csv").read_text()
    assert {f"C{i:07d}" for i in range(1, 40, 4)} <= {
        line.split(",")[0] for line in nodes.splitlines()[1:]}


def test_a_reload_carries_rows_keys_and_version(tmp_path: Path, synth_release: Path) -> None:
    db = unpack("v1_reloaded", tmp_path)
    before = snapshot(db)
    load_release(synth_release, db)
    after = snapshot(db)
    for table in schema.DDL:
        assert after[table] == before[table], table
    assert set(schema.DDL) <= keyed_tables(db)
    assert versions(db) == current()
    assert schema.NAME_SEARCH not in after  # derived from the release: rebuilt on next search
    labels = tmp_path / "l.csv"
    labels.write_text("id,label\nC0000001,yes\n")
    invoke("annotate", "nervous_system", "--db", str(db), "--labels-file", str(labels))
    load_release(synth_release, db)  # a second reload keeps the keys and the history
    assert set(schema.DDL) <= keyed_tables(db) and versions(db) == current()


def test_new_stores_are_stamped_and_foreign_files_left_alone(tmp_path: Path,
                                                            synth_release: Path) -> None:
    load_release(synth_release, tmp_path / "new.duckdb")
    assert versions(tmp_path / "new.duckdb") == current()
    corpus = tmp_path / "c.csv"
    corpus.write_text("id,text\n1,hello\n")
    load_corpus(tmp_path / "corpus.duckdb", "notes", corpus)
    assert versions(tmp_path / "corpus.duckdb") == current()
    foreign = tmp_path / "other.duckdb"
    duckdb.connect(str(foreign)).execute("CREATE TABLE mine (x INTEGER)").close()
    connect(foreign).close()
    assert snapshot(foreign) == {"mine": []}
    text = one_line_error(runner.invoke(app, ["upgrade", "--db", str(foreign)]))
    assert "holds no umlsgraph table" in text


def _from_the_future(tmp_path: Path) -> Path:
    db = unpack("v1", tmp_path)
    connect(db).close()
    con = duckdb.connect(str(db))
    con.execute(f"INSERT INTO {schema.VERSION_TABLE} (version, name, program_version) "
                "VALUES (99, 'm099_future', '9.0.0')")
    con.close()
    return db


@pytest.mark.parametrize("command", [
    ["info"], ["annotations", "nervous_system"], ["upgrade"],
    ["annotate", "nervous_system", "--labels-file", "LABELS"],
    ["eval", "nervous_system", "--gold", "LABELS"],
    ["export", "nervous_system", "-f", "csv", "-o", "OUT"],
    ["load", "RELEASE"],
])
def test_a_newer_store_is_a_one_line_error(command: list[str], tmp_path: Path,
                                          synth_release: Path) -> None:
    db = _from_the_future(tmp_path)
    content = db.read_bytes()
    labels = tmp_path / "l.csv"
    labels.write_text("id,label\nC0000001,yes\n")
    paths = {"LABELS": str(labels), "OUT": str(tmp_path / "out"), "RELEASE": str(synth_release)}
    args = [paths.get(a, a) for a in command]
    text = one_line_error(runner.invoke(app, [*args, "--db", str(db)]))
    assert f"{db}: this database has schema version 99, written by umlsgraph 9.0.0" in text
    assert f"knows versions up to {len(migrations.MIGRATIONS)}: upgrade umlsgraph" in text
    assert db.read_bytes() == content
    assert not (tmp_path / "out").exists()


def test_a_failing_migration_changes_nothing(tmp_path: Path) -> None:
    db = unpack("v1_reloaded", tmp_path)
    before = snapshot(db)

    def m003_add_column(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("ALTER TABLE annotations ADD COLUMN reviewer VARCHAR")
        con.execute("CREATE TABLE reviews (id VARCHAR)")

    def m004_broken(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("UPDATE predictions SET label = 'maybe'")
        con.execute("SELECT * FROM no_such_table")

    steps = [*migrations.MIGRATIONS[:2], m003_add_column, m004_broken]
    con = duckdb.connect(str(db))
    with pytest.raises(StoreError) as error:
        migrations.upgrade(con, db, steps)
    con.close()
    assert str(error.value).startswith(
        f"{db}: upgrading the database from schema version 0 to 4 failed in m004_broken (")
    assert "nothing was changed" in str(error.value) and "\n" not in str(error.value)
    assert snapshot(db) == before  # no column, no table, no update, no rebuilt key
    assert not keyed_tables(db) & set(schema.DDL)
    connect(db).close()  # the real migrations still apply afterwards
    assert versions(db) == current()


def test_a_store_too_old_to_read_asks_for_upgrade(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    db = unpack("v1", tmp_path)
    content = db.read_bytes()
    monkeypatch.setattr(migrations, "READABLE_FROM", 2)
    text = one_line_error(runner.invoke(app, ["info", "--db", str(db)]))
    assert f"run `umlsgraph upgrade --db {db}` once" in text
    assert db.read_bytes() == content
    out = flat(invoke("upgrade", "--db", str(db)).output)
    assert "upgraded from schema version 0 to 2 (m001_initial, m002_restore_keys)" in out
    assert json.loads(invoke("info", "--db", str(db), "--json").output)["schema_version"] == 2
    assert "already at schema version 2" in flat(invoke("upgrade", "--db", str(db)).output)
