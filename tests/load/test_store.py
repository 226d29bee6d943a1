"""Loading a release into DuckDB: exact counts, filters, atomicity and bad input."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.rrf_oracle import expected_counts, preferred_names
from umlsgraph.db import annotation_store, connect
from umlsgraph.db.annotation_store import Annotation
from umlsgraph.errors import ReleaseError, StoreError
from umlsgraph.load.release import LoadOptions, info, load_release
from umlsgraph.load.synth import SynthSpec, generate


def _counts(db: Path) -> dict:
    con = connect(db, read_only=True)
    try:
        return info(con)
    finally:
        con.close()


KEYS = ("concepts", "names", "relations", "relations_by_rel", "semantic_types",
        "semantic_type_assignments", "definitions", "sources")


def test_default_load_matches_an_independent_reading(loaded_db: Path,
                                                     synth_release: Path) -> None:
    expected = expected_counts(synth_release / "META")
    got = _counts(loaded_db)
    assert {k: got[k] for k in KEYS} == expected
    assert got["languages"] == 1


def test_preferred_name_follows_the_umls_rule(loaded_db: Path, synth_release: Path) -> None:
    expected = preferred_names(synth_release / "META")
    con = duckdb.connect(str(loaded_db), read_only=True)
    got = dict(con.execute("SELECT cui, name FROM concepts").fetchall())
    assert got == expected


def test_relation_direction_is_kept(loaded_db: Path) -> None:
    """Synthetic concept 5 has parent 1: REL=PAR on (C5, C1), REL=CHD on (C1, C5)."""
    con = duckdb.connect(str(loaded_db), read_only=True)
    rows = set(con.execute("SELECT cui1, rel, cui2, rela FROM relations "
                           "WHERE 'C0000005' IN (cui1, cui2) AND rel IN ('PAR', 'CHD')"
                           ).fetchall())
    assert ("C0000005", "PAR", "C0000001", "inverse_isa") in rows
    assert ("C0000001", "CHD", "C0000005", "isa") in rows


def test_filters_languages_suppressed_sources_rels(synth_release: Path, tmp_path: Path) -> None:
    meta = synth_release / "META"
    db = tmp_path / "all.duckdb"
    got = load_release(synth_release, db, LoadOptions(languages=(), keep_suppressed=True))
    expected = expected_counts(meta, languages=(), keep_suppressed=True)
    assert {k: got[k] for k in KEYS} == expected
    assert got["languages"] == 2

    only = load_release(synth_release, tmp_path / "sab.duckdb",
                        LoadOptions(include_sabs=("MSH",), rels=("PAR", "CHD")))
    con = duckdb.connect(str(tmp_path / "sab.duckdb"), read_only=True)
    assert con.execute("SELECT DISTINCT sab FROM names").fetchall() == [("MSH",)]
    assert set(only["relations_by_rel"]) <= {"PAR", "CHD"}
    con.close()
    without = load_release(synth_release, tmp_path / "ex.duckdb",
                           LoadOptions(exclude_sabs=("MSH",)))
    assert without["names"] + only["names"] == expected_counts(meta)["names"]


def test_gzip_split_release_loads_the_same(tmp_path: Path) -> None:
    plain = generate(tmp_path / "plain", SynthSpec(concepts=120, seed=3))
    packed = generate(tmp_path / "packed", SynthSpec(concepts=120, seed=3, gzip=True, split=2))
    a = load_release(plain, tmp_path / "a.duckdb")
    b = load_release(packed, tmp_path / "b.duckdb")
    assert {k: a[k] for k in KEYS} == {k: b[k] for k in KEYS}


def test_reload_is_idempotent_and_keeps_pipeline_tables(loaded_db: Path,
                                                        synth_release: Path) -> None:
    before = _counts(loaded_db)
    con = connect(loaded_db)
    annotation_store.write(con, "q", "concepts", "human:a", "h", [Annotation("C0000001", "yes",
                                                                             "yes")])
    con.execute("CREATE TABLE mine AS SELECT 'kept' AS what")  # a table umlsgraph doesn't know
    con.close()
    after = load_release(synth_release, loaded_db)
    assert {k: after[k] for k in KEYS} == {k: before[k] for k in KEYS}
    con = duckdb.connect(str(loaded_db), read_only=True)
    assert con.execute("SELECT query, id, label FROM annotations").fetchall() == [
        ("q", "C0000001", "yes")]
    assert con.execute("SELECT * FROM mine").fetchall() == [("kept",)]
    con.close()
    con = connect(loaded_db)  # carried with its key: the same answer again replaces it
    annotation_store.write(con, "q", "concepts", "human:a", "h", [Annotation("C0000001", "no",
                                                                             "no")])
    assert con.execute("SELECT label FROM annotations").fetchall() == [("no",)]
    con.close()


def _broken_copy(release: Path, tmp_path: Path) -> Path:
    target = tmp_path / "broken"
    shutil.copytree(release, target)
    return target / "META"


def _replace_line(path: Path, number: int, text: bytes) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] = text
    path.write_bytes(b"\n".join(lines))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing_field", r"MRCONSO\.RRF:5: expected 18 fields .* found 17"),
        ("extra_field", r"MRREL\.RRF:3: expected 16 fields .* found 17"),
        ("bad_utf8", r"MRCONSO\.RRF:7: invalid UTF-8"),
        ("empty", r"MRSTY\.RRF: file is empty"),
        ("truncated_gz", r"MRDEF\.RRF\.gz.*gzip"),
        ("no_mrconso", r"no MRCONSO\.RRF"),
    ],
)
def test_bad_input_is_one_line_and_leaves_old_db_intact(
    damage: str, message: str, synth_release: Path, loaded_db: Path, tmp_path: Path
) -> None:
    meta = _broken_copy(synth_release, tmp_path)
    if damage == "missing_field":
        line = (meta / "MRCONSO.RRF").read_bytes().split(b"\n")[4]
        _replace_line(meta / "MRCONSO.RRF", 5, line.rsplit(b"|", 2)[0] + b"|")
    elif damage == "extra_field":
        line = (meta / "MRREL.RRF").read_bytes().split(b"\n")[2]
        _replace_line(meta / "MRREL.RRF", 3, line + b"extra|")
    elif damage == "bad_utf8":
        line = (meta / "MRCONSO.RRF").read_bytes().split(b"\n")[6]
        _replace_line(meta / "MRCONSO.RRF", 7, line.replace(b"|N|", b"|\xff\xfe|", 1))
    elif damage == "empty":
        (meta / "MRSTY.RRF").write_bytes(b"")
    elif damage == "truncated_gz":
        data = gzip.compress((meta / "MRDEF.RRF").read_bytes() * 50)
        (meta / "MRDEF.RRF").unlink()
        (meta / "MRDEF.RRF.gz").write_bytes(data[: len(data) // 2])
    elif damage == "no_mrconso":
        (meta / "MRCONSO.RRF").unlink()
    before = _counts(loaded_db)
    with pytest.raises(ReleaseError, match=message) as caught:
        load_release(meta, loaded_db)
    assert "\n" not in str(caught.value)
    assert _counts(loaded_db) == before
    assert not list(loaded_db.parent.glob("*.loading*"))


def test_connect_to_missing_database_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="umlsgraph load"):
        connect(tmp_path / "none.duckdb")
