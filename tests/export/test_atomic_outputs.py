"""Every export is atomic and writes only where it may (issues #31 and #29).

A killed or interrupted export leaves its target as it was and nothing a later run keeps; an
interrupted RRF export never loads as a release; Ctrl-C inside DuckDB is the interrupt line
and exit 130; a full disk or a file-size limit names the output path and keeps the earlier
file; a device, a user's file or folder is never replaced; a selection with no concept
writes nothing; the format follows --out's extension, and a clash is a usage error.
"""

from __future__ import annotations

import errno
import os
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.subontology_data import QUERY, synthetic_positives, write_predictions
from umlsgraph.errors import INTERRUPTED, ExportError, OutputError, ReleaseError, explain
from umlsgraph.export.formats import atomic_file, export, formats, get, resolve_format
from umlsgraph.load.release import load_release
from umlsgraph.load.rrf import EXPORT_MARK
from umlsgraph.outputs import MARKER, check_file_target

runner = CliRunner()
FILE_FORMATS = [f for f in formats() if get(f).target == "file"]
FOLDER_FORMATS = [f for f in formats() if get(f).target == "folder"]


@pytest.fixture(scope="module")
def db(_loaded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic store with predictions of the nervous_system query."""
    path = tmp_path_factory.mktemp("atomic") / "umls.duckdb"
    path.write_bytes(_loaded_template.read_bytes())
    write_predictions(path, synthetic_positives())
    return path


def _target(tmp: Path, fmt: str) -> Path:
    exporter = get(fmt)
    return tmp / (f"out_{fmt}" if exporter.target == "folder" else f"out{exporter.suffix}")


def _leftovers(folder: Path) -> list[str]:
    """Temporary files or folders of an export left in `folder`."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name.endswith((".partial", ".old")) or ".partial" in p.name)


def _cli(*args: str, db: Path) -> list[str]:
    return ["export", QUERY, "--db", str(db), *args]


# --- a killed or interrupted export (1, 2, 3) ----------------------------------------------

#: Runs one export whose progress callback says "writing" and waits: the kill lands while
#: the temporary file or folder exists, every time.
STALLED = """import sys, time
from pathlib import Path
from umlsgraph.export.formats import export
def stall(*_a):
    print("writing", flush=True)
    time.sleep(60)
export(sys.argv[1], "nervous_system", sys.argv[2], Path(sys.argv[3]), on_progress=stall)
"""


def _stalled_export(db: Path, fmt: str, out: Path, sig: int) -> int:
    proc = subprocess.Popen([sys.executable, "-c", STALLED, str(db), fmt, str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while "writing" not in proc.stdout.readline() and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    return proc.returncode


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "sigint"])
@pytest.mark.parametrize("fmt", ["obo", "owl", "rrf"])
def test_a_killed_export_leaves_no_target_and_a_rerun_no_partial(fmt: str, sig: int, db: Path,
                                                                 tmp_path: Path) -> None:
    out = _target(tmp_path, fmt)
    code = _stalled_export(db, fmt, out, sig)
    assert code != 0
    assert not out.exists(), f"a killed {fmt} export left {out}"
    left = _leftovers(tmp_path)
    if sig == signal.SIGINT:
        assert left == [], f"an interrupted export left {left}"
    if fmt == "rrf" and left:  # the temporary folder of kill -9 is not a release
        with pytest.raises(ReleaseError, match="incomplete umlsgraph export"):
            load_release(tmp_path / left[0], tmp_path / "partial.duckdb")
        assert not (tmp_path / "partial.duckdb").exists()
    export(db, QUERY, fmt, out)
    assert out.exists() and _leftovers(tmp_path) == []
    if fmt == "rrf":
        assert load_release(out, tmp_path / "small.duckdb")["concepts"] > 0


def test_query_interrupted_is_the_interrupt_line_and_exit_130(
        db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import umlsgraph.export.formats.rrf as rrf

    def interrupted(*_a: object, **_k: object) -> int:
        raise RuntimeError("Query interrupted")  # what DuckDB's Arrow stream raises on SIGINT

    monkeypatch.setattr(rrf, "write_rows", interrupted)
    result = runner.invoke(app, _cli("-f", "rrf", "-o", str(tmp_path / "release"), db=db))
    assert result.exit_code == 130 and INTERRUPTED in result.output, result.output
    assert "unexpected" not in result.output and list(tmp_path.iterdir()) == []


def test_duckdb_interrupts_read_as_ctrl_c(tmp_path: Path) -> None:
    import duckdb

    assert explain(RuntimeError("Query interrupted")) == (INTERRUPTED, 130)
    assert explain(duckdb.InterruptException("INTERRUPT Error")) == (INTERRUPTED, 130)
    assert explain(RuntimeError("something else")) is None
    with pytest.raises(KeyboardInterrupt), atomic_file(tmp_path / "x.obo") as tmp:
        tmp.write_text("half")
        raise RuntimeError("Query interrupted")
    assert list(tmp_path.iterdir()) == []


def test_stale_partials_of_the_target_are_removed_by_a_successful_run(db: Path,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "sub.owl"
    dead = 4_194_305  # above Linux's largest pid: no such process
    stale = [tmp_path / ".sub.owl.partial", tmp_path / f".sub.owl.{dead}-abc123.partial"]
    live = tmp_path / f".sub.owl.{os.getppid()}-abc123.partial"  # a run still writing
    other = tmp_path / ".other.owl.partial"
    for path in (*stale, live, other):
        path.write_text("half")
    folder = tmp_path / f".rel.{dead}-abc123.partial"  # a killed rrf export's folder
    folder.mkdir()
    (folder / MARKER).write_text(f"written by umlsgraph: {EXPORT_MARK}\n")
    mine = tmp_path / f".rel.{dead}-abc123.old"  # not umlsgraph's (no marker): kept
    mine.mkdir()
    export(db, QUERY, "owl", out)
    export(db, QUERY, "rrf", tmp_path / "rel")
    assert not any(p.exists() for p in (*stale, folder))
    assert live.exists() and other.exists() and mine.exists()


# --- a full disk or a file-size limit (4) -------------------------------------------------

def _limited(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so a write past the limit is EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.parametrize("fmt", ["obo", "ttl", "csv", "rrf"])
def test_past_the_file_size_limit_the_error_names_the_output_and_keeps_the_old_one(
        fmt: str, db: Path, tmp_path: Path) -> None:
    out = _target(tmp_path, fmt)
    export(db, QUERY, fmt, out)
    before = {p: p.read_bytes() for p in ([out] if out.is_file() else out.rglob("*"))
              if p.is_file()}
    code = "from umlsgraph_cli.main import run; run()"
    proc = subprocess.run([sys.executable, "-c", code, *_cli("-f", fmt, "-o", str(out), db=db)],
                          capture_output=True, text=True, preexec_fn=lambda: _limited(4096),
                          timeout=300)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert str(out) in lines[0] and "a file:" not in lines[0], lines[0]
    assert "file too large" in lines[0] or "could not be written" in lines[0], lines[0]
    assert {p: p.read_bytes() for p in before} == before
    assert _leftovers(tmp_path) == []


def test_an_os_error_while_writing_names_the_output_not_the_temporary_file(
        tmp_path: Path) -> None:
    out = tmp_path / "sub.obo"
    with pytest.raises(OSError) as raised, atomic_file(out):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert raised.value.filename == str(out)
    assert explain(raised.value)[0].startswith(f"{out}: no space left")
    assert list(tmp_path.iterdir()) == []


# --- a device, a user's file or folder (5, 7) ---------------------------------------------

def _device(path: Path) -> Path:
    """A character device like /dev/null (1, 3) at `path`; a FIFO where mknod is refused."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError):
        os.mkfifo(path)
    return path


def test_dev_null_is_refused_before_anything_is_written() -> None:
    """Checked without writing: /dev/null itself is never a target of this test."""
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    with pytest.raises(OutputError, match="not a regular file"):
        check_file_target("/dev/null", "obo export")
    with pytest.raises(OutputError, match="not a regular file"), atomic_file(Path("/dev/null")):
        pass
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("fmt", ["graphml", "obo"])
def test_a_device_or_pipe_as_output_is_refused_and_kept(fmt: str, db: Path,
                                                        tmp_path: Path) -> None:
    node = _device(tmp_path / "null")
    kind = stat.S_IFMT(os.lstat(node).st_mode)
    result = runner.invoke(app, _cli("-f", fmt, "-o", str(node), db=db))
    assert result.exit_code == 1 and "not a regular file" in result.output, result.output
    assert stat.S_IFMT(os.lstat(node).st_mode) == kind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


@pytest.mark.parametrize("fmt", ["obo", "owl", "graphml", "ttl", "nt", "jsonld", "gexf"])
def test_a_file_the_user_wrote_is_never_replaced(fmt: str, db: Path, tmp_path: Path) -> None:
    mine = tmp_path / f"mine{get(fmt).suffix}"
    mine.write_text("my own notes\n")
    result = runner.invoke(app, _cli("-f", fmt, "-o", str(mine), db=db))
    assert result.exit_code == 1 and "a file umlsgraph did not write" in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1
    assert mine.read_text() == "my own notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [mine.name]


def test_a_file_an_earlier_export_wrote_is_replaced(db: Path, tmp_path: Path) -> None:
    """Any format's mark counts: the GraphML once written into z.obo gives way to OBO."""
    out = tmp_path / "z.obo"
    export(db, QUERY, "graphml", tmp_path / "z.graphml")
    (tmp_path / "z.graphml").rename(out)
    for _ in range(2):
        result = runner.invoke(app, _cli("-o", str(out), db=db))
        assert result.exit_code == 0, result.output
        assert out.read_text().startswith("format-version: 1.4")


@pytest.mark.parametrize("fmt", FOLDER_FORMATS)
def test_a_folder_holding_the_users_files_is_refused(fmt: str, db: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    result = runner.invoke(app, _cli("-f", fmt, "-o", str(foreign), db=db))
    assert result.exit_code == 1 and "holds files umlsgraph did not write" in result.output
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    assert _leftovers(tmp_path) == []


def test_another_steps_folder_is_not_replaced_by_an_export(db: Path, tmp_path: Path) -> None:
    report = tmp_path / "report"
    report.mkdir()
    (report / MARKER).write_text("written by umlsgraph: report\n")
    (report / "index.html").write_text("<html/>")
    with pytest.raises(OutputError, match="holds files umlsgraph did not write"):
        export(db, QUERY, "csv", report)
    assert (report / "index.html").exists()


def test_a_folder_an_earlier_version_wrote_is_replaced_whole(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    out.mkdir()
    (out / "nodes.csv").write_text("old")  # before the marker existed
    export(db, QUERY, "csv", out)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "edges.csv", "nodes.csv"]
    assert (out / "nodes.csv").read_text().startswith("cui,")


# --- an interrupted or changed RRF export does not load (1) -------------------------------

def test_an_rrf_export_loads_only_when_complete(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "release"
    export(db, QUERY, "rrf", out)
    assert (out / MARKER).read_text().strip().endswith(EXPORT_MARK)
    assert load_release(out, tmp_path / "a.duckdb")["concepts"] > 0
    mrrel = out / "META" / "MRREL.RRF"
    mrrel.write_bytes(mrrel.read_bytes()[:-10])  # cut short
    with pytest.raises(ReleaseError, match="MRREL.RRF: .* bytes, but MRFILES.RRF says"):
        load_release(out / "META", tmp_path / "b.duckdb")
    (out / "META" / "MRFILES.RRF").unlink()
    with pytest.raises(ReleaseError, match="incomplete umlsgraph export"):
        load_release(out, tmp_path / "b.duckdb")
    assert not (tmp_path / "b.duckdb").exists()


def test_a_release_an_earlier_version_was_killed_writing_does_not_load(
        synth_release: Path, tmp_path: Path) -> None:
    """No marker then: MRCONSO.RRF and the `.MRREL.RRF.partial` the kill left behind."""
    meta = tmp_path / "killed" / "META"
    meta.mkdir(parents=True)
    (meta / "MRCONSO.RRF").write_bytes((synth_release / "META" / "MRCONSO.RRF").read_bytes())
    (meta / ".MRREL.RRF.partial").write_text("C0000001|A1|")
    with pytest.raises(ReleaseError, match="interrupted writing this release"):
        load_release(tmp_path / "killed", tmp_path / "b.duckdb")


# --- a selection with no concept (6) ------------------------------------------------------

@pytest.mark.parametrize("fmt", formats())
def test_a_selection_with_no_concept_fails_and_writes_nothing(fmt: str, db: Path,
                                                               tmp_path: Path) -> None:
    from umlsgraph.export.subontology import SubontologyOptions

    out = _target(tmp_path, fmt)
    with pytest.raises(ExportError, match="the selection has no concept"):
        export(db, QUERY, fmt, None if fmt == "neo4j" else out,
               selection=SubontologyOptions(threshold=1.0))
    assert list(tmp_path.iterdir()) == []


def test_an_empty_selection_is_one_line_on_the_cli(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "z.obo"
    result = runner.invoke(app, _cli("-o", str(out), "--threshold", "1.0", db=db))
    assert result.exit_code == 1 and "the selection has no concept" in result.output
    assert not out.exists()


# --- the format follows the extension (8) -------------------------------------------------

@pytest.mark.parametrize("fmt, out, expected", [
    (None, "z.obo", "obo"), (None, "z.OWL", "owl"), (None, "z.ttl", "ttl"),
    (None, "z.nt", "nt"), (None, "z.jsonld", "jsonld"), (None, "z.gexf", "gexf"),
    (None, "z.graphml", "graphml"), (None, "z", "graphml"), (None, "z.xml", "graphml"),
    (None, None, "graphml"), ("OBO", "z.obo", "obo"), ("csv", "z", "csv"),
    ("rrf", "release", "rrf"), ("graphml", "z.xml", "graphml"),
])
def test_the_format_follows_the_extension(fmt: str | None, out: str | None,
                                          expected: str) -> None:
    assert resolve_format(fmt, Path(out) if out else None) == expected


@pytest.mark.parametrize("fmt, out", [("graphml", "z.obo"), ("obo", "z.owl"), ("csv", "z.ttl")])
def test_a_format_the_extension_contradicts_is_refused(fmt: str, out: str) -> None:
    with pytest.raises(ExportError, match=f"the extension of .*--format is {fmt}"):
        resolve_format(fmt, Path(out))


def test_the_cli_infers_the_format_and_refuses_a_clash_with_exit_2(db: Path,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "z.obo"
    result = runner.invoke(app, _cli("--out", str(out), db=db))
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("format-version: 1.4")
    before = out.read_bytes()
    for args in (["--format", "graphml", "--out", str(out)], ["--format", "xml"]):
        result = runner.invoke(app, _cli(*args, db=db))
        assert result.exit_code == 2, result.output
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.obo"]
