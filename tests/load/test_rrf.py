"""RRF discovery: META folders, compression, split parts, and missing files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from umlsgraph.errors import ReleaseError
from umlsgraph.load import rrf
from umlsgraph.load.synth import SynthSpec, generate


def test_find_meta_accepts_release_folder_and_meta_folder(synth_release: Path) -> None:
    assert rrf.find_meta(synth_release) == synth_release / "META"
    assert rrf.find_meta(synth_release / "META") == synth_release / "META"


def test_find_meta_missing_folder_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match="no such folder"):
        rrf.find_meta(tmp_path / "nope")


def test_find_meta_without_mrconso_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "META").mkdir()
    (tmp_path / "META" / "MRREL.RRF").write_text("x|\n")
    with pytest.raises(ReleaseError, match="no MRCONSO.RRF"):
        rrf.find_meta(tmp_path)


def test_split_gzip_parts_are_read_in_order(tmp_path: Path) -> None:
    meta = generate(tmp_path, SynthSpec(concepts=50, gzip=True, split=3))
    files = rrf.discover(meta)
    names = [p.name for p in files["MRCONSO"].parts]
    assert names == ["MRCONSO.RRF.aa.gz", "MRCONSO.RRF.ab.gz", "MRCONSO.RRF.ac.gz"]
    assert files["MRSTY"].parts[0].name == "MRSTY.RRF.gz"


def test_whole_file_wins_over_parts_and_plain_over_gz(tmp_path: Path) -> None:
    meta = tmp_path / "META"
    meta.mkdir()
    for name in ("MRCONSO.RRF", "MRCONSO.RRF.aa", "MRCONSO.RRF.ab", "MRREL.RRF",
                 "MRREL.RRF.gz"):
        (meta / name).write_text("x|\n")
    files = rrf.discover(meta)
    assert [p.name for p in files["MRCONSO"].parts] == ["MRCONSO.RRF"]
    assert [p.name for p in files["MRREL"].parts] == ["MRREL.RRF"]


def test_empty_and_truncated_gzip_are_detected(tmp_path: Path) -> None:
    empty = rrf.RrfFile("MRCONSO", (tmp_path / "MRCONSO.RRF",))
    empty.parts[0].write_text("")
    with pytest.raises(ReleaseError, match="empty"):
        rrf.check_not_empty(empty)
    broken = tmp_path / "MRREL.RRF.gz"
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(ReleaseError, match="gzip"):
        rrf.check_not_empty(rrf.RrfFile("MRREL", (broken,)))
    ok = tmp_path / "MRSTY.RRF.gz"
    ok.write_bytes(gzip.compress(b"C1|T1|A|B|AT1||\n"))
    rrf.check_not_empty(rrf.RrfFile("MRSTY", (ok,)))
