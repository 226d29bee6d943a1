"""The aclImdb folder layout (``train|test/pos|neg|unsup/*.txt``) as a corpus source."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb

from umlsgraph.corpus.options import ACLIMDB_BATCH, ACLIMDB_LABELS, LoadResult, Progress
from umlsgraph.db import transaction
from umlsgraph.db.items import CORPUS_TABLE
from umlsgraph.errors import InputFileError


def _aclimdb_root(path: Path) -> Path:
    """The folder holding train/ and test/ (the path itself or its aclImdb/ subfolder)."""
    for candidate in (path, path / "aclImdb"):
        if any((candidate / s / lab).is_dir() for s in ("train", "test")
               for lab in ACLIMDB_LABELS):
            return candidate
    raise InputFileError(f"{path}: not an aclImdb folder (expected train|test/pos|neg|unsup/"
                         "*.txt); pass a CSV/JSONL/Parquet file or --format")


def _check_aclimdb_classes(root: Path) -> None:
    """Each split with labelled reviews needs both pos/ and neg/ with files: a folder with one
    class missing (a partial download or copy) would load as a one-class corpus."""
    for split in ("train", "test"):
        present = {label: any((root / split / label).glob("*.txt")) for label in ("pos", "neg")}
        if any(present.values()) and not all(present.values()):
            missing = next(label for label, has in present.items() if not has)
            raise InputFileError(f"{root / split / missing}: missing or empty, but "
                                 f"{split}/{'neg' if missing == 'pos' else 'pos'}/ has reviews; "
                                 "the aclImdb folder is incomplete (download or copy it again)")


def _aclimdb_files(root: Path) -> Iterator[tuple[str, str, Path]]:
    """(split, label folder, file) for every review file, in a stable order."""
    for split in ("train", "test"):
        for label in ACLIMDB_LABELS:
            folder = root / split / label
            if folder.is_dir():
                for path in sorted(folder.glob("*.txt")):
                    yield split, label, path


def load_aclimdb(con: duckdb.DuckDBPyConnection, name: str, path: Path,
                  progress: Progress | None) -> LoadResult:
    """Stream the review files into the table in batches, inside one transaction."""
    root = _aclimdb_root(path)
    _check_aclimdb_classes(root)
    total = sum(1 for _ in _aclimdb_files(root))
    result = LoadResult(name)
    done = 0
    with transaction(con):
        con.execute(f"DELETE FROM {CORPUS_TABLE} WHERE corpus = ?", [name])
        batch: list[tuple[str, str, str | None, str]] = []
        for split, label, file in _aclimdb_files(root):
            row = _read_review(file, root, split, label, result)
            if row:
                batch.append(row)
            done += 1
            if len(batch) >= ACLIMDB_BATCH:
                _insert(con, name, batch)
                batch = []
            if progress and (done % 500 == 0 or done == total):
                progress(done, total)
        _insert(con, name, batch)
    return result


def _read_review(file: Path, root: Path, split: str, label: str,
                 result: LoadResult) -> tuple[str, str, str | None, str] | None:
    relative = file.relative_to(root).as_posix()
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        result.skip("undecodable file (not UTF-8)", example=relative)
        return None
    except OSError as exc:
        result.skip("unreadable file", example=f"{relative} ({exc.strerror})")
        return None
    if not text.strip():
        result.skip("empty text", example=relative)
        return None
    return relative.removesuffix(".txt"), text, ACLIMDB_LABELS[label], split


def _insert(con: duckdb.DuckDBPyConnection, name: str,
            batch: list[tuple[str, str, str | None, str]]) -> None:
    if not batch:
        return
    import pyarrow as pa

    ids, texts, golds, splits = zip(*batch, strict=True)
    table = pa.table({"corpus": [name] * len(batch), "id": list(ids), "text": list(texts),
                      "gold": pa.array(golds, pa.string()), "split": list(splits)})
    con.register("acl_batch", table)
    try:
        con.execute(f"INSERT INTO {CORPUS_TABLE} SELECT corpus, id, text, gold, split "
                    "FROM acl_batch")
    finally:
        con.unregister("acl_batch")
