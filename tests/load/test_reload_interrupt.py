"""An interrupted reload leaves the old database file byte for byte as it was (issue #29).

The old file is only read until the new one is swapped in: a store whose last writer left a
write-ahead log (a killed `annotate`) is not checkpointed, and an older store is upgraded in
a copy, not in place, so Ctrl-C mid-load changes nothing on disk.
"""

from __future__ import annotations

import gzip
import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from umlsgraph.db import connect
from umlsgraph.load.release import load_release
from umlsgraph.load.synth import SynthSpec, generate

FIXTURES = Path(__file__).parents[1] / "db" / "fixtures"
#: Big enough that the build takes a second or more after the staging file appears.
CONCEPTS = 20_000

ANNOTATE_AND_DIE = """
import os, sys
from umlsgraph.db import connect, ensure
con = connect(sys.argv[1])
ensure(con, "annotations")
con.execute("INSERT INTO annotations (query, source, id, annotator, prompt_hash, label) "
            "SELECT 'q', 'concepts', cui, 'human:ana', '', 'yes' FROM concepts LIMIT 50")
os._exit(0)  # killed before closing: the rows are only in the write-ahead log
"""


def digests(db: Path) -> dict[str, str]:
    """sha256 of the database file and its write-ahead log, if any."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (db, Path(f"{db}.wal")) if p.exists()}


def annotated_rows(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return int(con.execute("SELECT count(*) FROM annotations").fetchall()[0][0])
    finally:
        con.close()


@pytest.fixture(scope="module")
def big_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("big-release")
    generate(root, SynthSpec(concepts=CONCEPTS, seed=11))
    return root


def store_with_log(release: Path, db: Path) -> Path:
    """A loaded store whose annotations a killed writer left in the write-ahead log."""
    load_release(release, db)
    subprocess.run([sys.executable, "-c", ANNOTATE_AND_DIE, str(db)], check=True, timeout=120)
    assert Path(f"{db}.wal").exists()
    return db


def interrupt_at(step_name: str):  # noqa: ANN201 - a load_release on_step callback
    def on_step(step: str) -> None:
        if step.startswith(step_name):
            raise KeyboardInterrupt
    return on_step


@pytest.mark.parametrize("kind", ["write-ahead log", "older version"])
def test_interrupted_reload_leaves_the_old_file_as_it_was(tmp_path: Path, synth_release: Path,
                                                          kind: str) -> None:
    if kind == "older version":  # load upgrades it: in a copy, never in place
        db = tmp_path / "v1.duckdb"
        db.write_bytes(gzip.decompress((FIXTURES / "v1.duckdb.gz").read_bytes()))
    else:
        db = store_with_log(synth_release, tmp_path / "umls.duckdb")
    before = digests(db)
    for step in ("names", "relations", "carrying over"):
        with pytest.raises(KeyboardInterrupt):
            load_release(synth_release, db, on_step=interrupt_at(step))
        assert digests(db) == before, step
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before)  # no leftovers
    load_release(synth_release, db)  # then an uninterrupted reload carries everything
    assert not Path(f"{db}.wal").exists() and annotated_rows(db) > 0
    con = connect(db, read_only=True)
    con.close()


def test_ctrl_c_mid_reload_exits_130_and_changes_no_byte(tmp_path: Path,
                                                         big_release: Path) -> None:
    db = store_with_log(big_release, tmp_path / "umls.duckdb")
    rows = annotated_rows(db)
    before = digests(db)
    staging = Path(f"{db}.loading")
    proc = subprocess.Popen([sys.executable, "-m", "umlsgraph_cli.main", "load",
                             str(big_release), "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not staging.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the load finished before it could be interrupted"
    time.sleep(0.3)  # into the build
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err
    assert digests(db) == before
    assert not staging.exists() and not Path(f"{db}.previous").exists()
    assert annotated_rows(db) == rows
