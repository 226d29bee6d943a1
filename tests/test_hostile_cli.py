"""The CLI's one error path, per class of failure, each with several hostile inputs: OS errors
name the path, a lock held by another process says which, Ctrl-C exits 130, a non-DuckDB
--db is one line, a bug is one line (a traceback only with UMLSGRAPH_DEBUG=1), and bad option
values are usage errors found before any work starts."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph.errors import INTERRUPTED, explain

runner = CliRunner()


def one_line_error(result, code: int = 1) -> str:  # type: ignore[no-untyped-def]
    """The result failed with `code` and printed one `Error:` line and no traceback."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    return " ".join(result.output.split())


@pytest.mark.parametrize("args, expected", [
    (["synth", "{file}", "--concepts", "5"], "{file}/META: a part of this path is a file"),
    (["report", "nervous_system", "--db", "{db}", "--out", "{file}"], "{file}: is a file"),
    (["train", "nervous_system", "--db", "{db}", "--out", "{file}"], "{file}: is a file"),
    (["corpus", "load", "c", "--from", "{tmp}", "--db", "{file}/x.duckdb"],
     "{file}: is a file, not a folder"),
])
def test_os_and_path_errors_name_the_path(args: list[str], expected: str, loaded_db: Path,
                                          tmp_path: Path) -> None:
    file = tmp_path / "a-file"
    file.write_text("mine\n")
    fill = {"file": str(file), "db": str(loaded_db), "tmp": str(tmp_path)}
    result = runner.invoke(app, [a.format(**fill) for a in args])
    assert expected.format(**fill) in one_line_error(result)
    assert file.read_text() == "mine\n"


@pytest.mark.parametrize("code, words", [
    (errno.ENOSPC, "no space left"), (errno.EACCES, "permission denied"),
    (errno.EROFS, "read-only"), (errno.ENOTDIR, "not a folder"), (errno.EEXIST, "exists"),
])
def test_os_errors_raised_inside_a_step_are_one_line(code: int, words: str, loaded_db: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Disk full and permission errors can't be provoked portably (tests run as root), so the
    library's info() raises them; the CLI must turn each into one line naming the path."""
    import umlsgraph.load.release as release

    def fail(*_a: object, **_k: object) -> None:
        raise OSError(code, os.strerror(code), "/data/out/file.tmp")

    monkeypatch.setattr(release, "info", fail)
    text = one_line_error(runner.invoke(app, ["info", "--db", str(loaded_db)]))
    assert "/data/out/file.tmp" in text and words in text


def test_explain_covers_every_error_class() -> None:
    from umlsgraph.errors import QueryError

    assert explain(KeyboardInterrupt()) == (INTERRUPTED, 130)
    assert explain(QueryError("q.toml: bad")) == ("q.toml: bad", 1)
    assert explain(FileExistsError(errno.EEXIST, "File exists", "out"))[0].startswith("out:")
    assert explain(MemoryError())[0].startswith("out of memory")
    assert explain(ValueError("a bug")) is None


def _hold_lock(db: Path) -> subprocess.Popen[str]:
    code = ("import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', "
            "flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(db)], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_lock_held_by_another_process_says_which(loaded_db: Path, synth_release: Path) -> None:
    before = loaded_db.read_bytes()
    holder = _hold_lock(loaded_db)
    try:
        for args in (["info", "--db", str(loaded_db)],
                     ["load", str(synth_release), "--db", str(loaded_db)],
                     ["annotations", "nervous_system", "--db", str(loaded_db)],
                     ["annotate", "nervous_system", "--db", str(loaded_db), "--llm", "embed"]):
            text = one_line_error(runner.invoke(app, args))
            assert f"in use by another process (PID {holder.pid}" in text, args
            assert "wait for it to finish or stop it" in text
    finally:
        holder.kill()
        holder.wait()
    assert loaded_db.read_bytes() == before


@pytest.mark.parametrize("content", [b"not a database\n", b"\x00" * 4096,
                                     b"\x1f\x8b\x08\x00" + b"x" * 100],
                         ids=["text", "zeros", "gzip"])
def test_a_non_duckdb_file_is_one_line_and_left_alone(content: bytes, tmp_path: Path,
                                                      synth_release: Path) -> None:
    db = tmp_path / "other.db"
    db.write_bytes(content)
    for args in (["info", "--db", str(db)], ["load", str(synth_release), "--db", str(db)],
                 ["annotations", "nervous_system", "--db", str(db)],
                 ["corpus", "list", "--db", str(db)]):
        text = one_line_error(runner.invoke(app, args))
        assert "not a DuckDB database file" in text or "a SQLite database" in text, text
        assert db.read_bytes() == content


def test_ctrl_c_is_one_line_exit_130(loaded_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import umlsgraph.load.release as release

    def interrupted(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(release, "info", interrupted)
    result = runner.invoke(app, ["info", "--db", str(loaded_db)])
    assert result.exit_code == 130 and INTERRUPTED in result.output
    assert "Traceback" not in result.output


def test_a_real_sigint_during_load_keeps_the_old_database(loaded_db: Path, tmp_path: Path,
                                                          synth_release: Path) -> None:
    """SIGINT delivered to a real `umlsgraph load` process while it builds the new file."""
    before = loaded_db.read_bytes()
    code = ("import sys, time; import umlsgraph.load.release as r; build = r._build\n"
            "def slow(*a, **k):\n    build(*a, **k); print('building', flush=True); "
            "time.sleep(30)\n"
            "r._build = slow\nfrom umlsgraph_cli.main import run; sys.argv = ['umlsgraph', "
            f"'load', {str(synth_release)!r}, '--db', {str(loaded_db)!r}]; run()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while "building" not in proc.stdout.readline() and time.monotonic() < deadline:
        pass
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert INTERRUPTED in err and "Traceback" not in err
    assert loaded_db.read_bytes() == before
    assert not list(tmp_path.glob("*.loading*"))


def test_a_bug_is_one_line_and_debug_shows_the_traceback(
        loaded_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import umlsgraph.load.release as release

    def bug(*_a: object, **_k: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(release, "info", bug)
    text = one_line_error(runner.invoke(app, ["info", "--db", str(loaded_db)]))
    assert "unexpected ZeroDivisionError" in text and "UMLSGRAPH_DEBUG=1" in text
    monkeypatch.setenv("UMLSGRAPH_DEBUG", "1")
    result = runner.invoke(app, ["info", "--db", str(loaded_db)])
    assert isinstance(result.exception, ZeroDivisionError)


@pytest.mark.parametrize("args, option", [
    (["annotate", "nervous_system", "--llm", "embed", "-n", "0"], "-n"),
    (["annotate", "nervous_system", "--llm", "embed", "-n", "-5"], "-n"),
    (["annotate", "nervous_system", "--llm", "embed", "--batch-size", "0"], "--batch-size"),
    (["demo", "-n", "0"], "-n"),
    (["run", "nervous_system", "-n", "0"], "-n"),
    (["load", "META", "--memory-limit", "banana"], "--memory-limit"),
    (["load", "META", "--memory-limit", "-1GB"], "--memory-limit"),
    (["load", "META", "--memory-limit", "1GB'; DROP TABLE x; --"], "--memory-limit"),
    (["load", "META", "--threads", "0"], "--threads"),
    (["experiment", "q", "--corpus", "c", "--base-model", "m", "--seeds", "a,b"], "--seeds"),
    (["experiment", "q", "--corpus", "c", "--base-model", "m", "--seeds", "1,2.5"], "--seeds"),
    (["train", "q", "--lr", "0"], "--lr"),
    (["train", "q", "--epochs", "0"], "--epochs"),
    (["train", "q", "--val-fraction", "1"], "--val-fraction"),
    (["label", "q", "--chunk-size", "0"], "--chunk-size"),
    (["corpus", "load", "c", "--from", "x.csv", "--holdout", "1.5"], "--holdout"),
    (["export", "q", "--threshold", "2"], "--threshold"),
    (["synth", "out", "--concepts", "0"], "--concepts"),
])
def test_bad_option_values_are_usage_errors(args: list[str], option: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and option in result.output
    assert not any(tmp_path.iterdir())  # nothing started


def test_zero_counts_are_refused_by_the_library_too(loaded_db: Path, tmp_path: Path) -> None:
    """A project file bypasses the CLI's option types: the library refuses 0 as well."""
    from umlsgraph.annotate.driver import annotate
    from umlsgraph.errors import UmlsgraphError
    from umlsgraph.workflows.run import resolve_settings

    with pytest.raises(UmlsgraphError, match="n is 0; it must be at least 1"):
        annotate(loaded_db, "nervous_system", annotator="embed", n=0, progress=False)
    project = tmp_path / "p.toml"
    for value in ("0", "-3", "true", '"ten"'):
        project.write_text(f'[run]\nquery = "nervous_system"\nn = {value}\n')
        with pytest.raises(UmlsgraphError, match="setting 'n'"):
            resolve_settings({}, project)
