"""Flat corpora: loading every source format, bad inputs, reloads, listing and export."""

from __future__ import annotations

import bz2
import gzip
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph.corpus.catalog import export_corpus, list_corpora
from umlsgraph.corpus.loader import load_corpus
from umlsgraph.corpus.options import CorpusOptions
from umlsgraph.db.items import CorpusSource
from umlsgraph.errors import ExportError, InputFileError, StoreError
from umlsgraph.query import load_query

ROWS = [
    {"doc": "a1", "review": "A wonderful, moving film.", "stars": "pos", "part": "train"},
    {"doc": "a2", "review": "Dull and far too long.", "stars": "neg", "part": "train"},
    {"doc": "a3", "review": "", "stars": "neg", "part": "train"},
    {"doc": "a4", "review": "Great cast, great fun.", "stars": "pos", "part": "test"},
    {"doc": "a5", "review": "A tedious mess, with \"quotes\", commas\nand a newline.",
     "stars": "neg", "part": "test"},
]
TSV_ROWS = [r | {"review": r["review"].replace("\n", " ")} for r in ROWS]


def _items(db: Path, corpus: str) -> dict[str, tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT id, text, gold, split FROM corpus_items WHERE corpus = ? ",
                           [corpus]).fetchall()
    finally:
        con.close()
    return {r[0]: r[1:] for r in rows}


def _write_csv(path: Path, rows: list[dict]) -> Path:
    import csv

    opener = {".gz": gzip.open, ".bz2": bz2.open}.get(path.suffix, open)
    with opener(path, "wt", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _write_tsv(path: Path, rows: list[dict]) -> Path:
    """Plain TSV as many tools write it: no quoting, quotes are literal characters."""
    lines = ["\t".join(rows[0])] + ["\t".join(r.values()) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _write(tmp_path: Path, fmt: str) -> Path:
    if fmt in ("csv", "csv.gz", "csv.bz2"):
        return _write_csv(tmp_path / f"reviews.{fmt}", ROWS)
    if fmt == "tsv":
        return _write_tsv(tmp_path / "reviews.tsv", TSV_ROWS)
    if fmt == "jsonl":
        path = tmp_path / "reviews.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
        return path
    path = tmp_path / "reviews.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    return path


OPTIONS = CorpusOptions(text_column="review", id_column="doc", label_column="stars",
                        split_column="part", label_map={"pos": "positive", "neg": "negative"})


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "csv.bz2", "tsv", "jsonl", "parquet"])
def test_load_every_tabular_format(tmp_path: Path, fmt: str) -> None:
    db = tmp_path / "c.duckdb"  # does not exist yet: corpus mode needs no UMLS load
    result = load_corpus(db, "reviews", _write(tmp_path, fmt), OPTIONS)
    assert result.rows == 4
    assert result.skipped == {"empty text": 1}
    assert result.splits == {"test": 2, "train": 2}
    items = _items(db, "reviews")
    assert items["a1"] == ("A wonderful, moving film.", "positive", "train")
    assert items["a5"][1:] == ("negative", "test")
    assert items["a5"][0].startswith("A tedious mess, with \"quotes\", commas")
    assert "a3" not in items


def test_default_ids_are_row_numbers_and_holdout_is_reproducible(tmp_path: Path) -> None:
    rows = [{"text": f"review number {i}", "label": "pos" if i % 2 else "neg"}
            for i in range(400)]
    path = _write_csv(tmp_path / "many.csv", rows)
    db = tmp_path / "c.duckdb"
    options = CorpusOptions(label_column="label", holdout=0.25, seed=3)
    load_corpus(db, "many", path, options)
    first = _items(db, "many")
    assert first["0"][0] == "review number 0" and first["399"][0] == "review number 399"
    n_test = sum(1 for v in first.values() if v[2] == "test")
    assert 60 < n_test < 140
    load_corpus(db, "many", path, options)
    assert _items(db, "many") == first


def test_reload_replaces_one_corpus_and_keeps_the_others(tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    load_corpus(db, "one", _write(tmp_path, "csv"), OPTIONS)
    load_corpus(db, "two", _write(tmp_path, "jsonl"), OPTIONS)
    smaller = _write_csv(tmp_path / "small.csv", ROWS[:2])
    load_corpus(db, "one", smaller, OPTIONS)
    assert set(_items(db, "one")) == {"a1", "a2"}
    assert len(_items(db, "two")) == 4
    names = {c["corpus"]: c for c in list_corpora(db)}
    assert names["one"]["rows"] == 2 and names["two"]["labels"] == {"negative": 2, "positive": 2}


def test_failed_reload_leaves_the_old_rows(tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    load_corpus(db, "one", _write(tmp_path, "csv"), OPTIONS)
    dup = _write_csv(tmp_path / "dup.csv", ROWS + [ROWS[0]])
    with pytest.raises(InputFileError, match="duplicate values \\('a1' 2 times\\)"):
        load_corpus(db, "one", dup, OPTIONS)
    assert len(_items(db, "one")) == 4


def test_missing_column_names_the_file_and_the_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, "csv")
    with pytest.raises(InputFileError) as err:
        load_corpus(tmp_path / "c.duckdb", "x", path, CorpusOptions(text_column="body"))
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert "no column 'body'" in message and "available: doc, review, stars, part" in message


@pytest.mark.parametrize("make, match", [
    (lambda p: p / "nothing.csv", "no such file"),
    (lambda p: (p / "notes.txt").write_text("x") and p / "notes.txt", "--format"),
    (lambda p: (p / "bad.csv.bz2").write_bytes(b"not bz2") and p / "bad.csv.bz2",
     "not a readable bz2 file"),
    (lambda p: (p / "broken.parquet").write_bytes(b"PAR1xx") and p / "broken.parquet",
     "cannot read as parquet"),
    (lambda p: (p / "folder").mkdir() or p / "folder", "not an aclImdb folder"),
])
def test_bad_inputs_are_one_line_errors(tmp_path: Path, make, match: str) -> None:
    with pytest.raises(InputFileError, match=match) as err:
        load_corpus(tmp_path / "c.duckdb", "x", make(tmp_path))
    assert "\n" not in str(err.value)


def make_aclimdb(root: Path) -> Path:
    """A small corpus in the real aclImdb layout, with one undecodable and one empty file."""
    reviews = {
        ("train", "pos"): ["A brilliant film.<br /><br />Loved it.", "Superb acting."],
        ("train", "neg"): ["Awful plot.", "I walked out."],
        ("train", "unsup"): ["No idea what to think."],
        ("test", "pos"): ["Wonderful from start to end."],
        ("test", "neg"): ["Boring.", ""],
    }
    for (split, label), texts in reviews.items():
        folder = root / "aclImdb" / split / label
        folder.mkdir(parents=True)
        for i, text in enumerate(texts):
            (folder / f"{i}_{7 if label == 'pos' else 2}.txt").write_text(text, encoding="utf-8")
    (root / "aclImdb" / "test" / "pos" / "9_10.txt").write_bytes(b"caf\xe9 \xff\xfe broken")
    return root


def test_aclimdb_layout(tmp_path: Path) -> None:
    source = make_aclimdb(tmp_path / "data")
    db = tmp_path / "c.duckdb"
    seen: list[tuple[int, int]] = []
    result = load_corpus(db, "imdb", source, progress=lambda d, t: seen.append((d, t)))
    assert result.rows == 7
    assert result.skipped == {"empty text": 1, "undecodable file (not UTF-8)": 1}
    assert result.examples["undecodable file (not UTF-8)"] == ["test/pos/9_10.txt"]
    assert result.examples["empty text"] == ["test/neg/1_2.txt"]
    assert seen[-1] == (9, 9)
    items = _items(db, "imdb")
    assert items["train/pos/0_7"] == ("A brilliant film.<br /><br />Loved it.", "positive",
                                      "train")
    assert items["train/unsup/0_2"][1:] == (None, "train")
    assert items["test/neg/0_2"][1:] == ("negative", "test")
    # the folder that holds aclImdb/ and aclImdb/ itself both work
    assert load_corpus(db, "imdb", source / "aclImdb").rows == 7


def test_corpus_source_reads_the_loaded_corpus(tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    load_corpus(db, "imdb", make_aclimdb(tmp_path / "data"))
    query = load_query("imdb_sentiment")
    con = duckdb.connect(str(db), read_only=True)
    try:
        source = CorpusSource("imdb", split="test")
        source.check(con)
        ids = con.execute(source.candidates_sql(query)).fetchall()
        texts = dict(con.execute(source.texts_sql(query, source.candidates_sql(query))).fetchall())
        with pytest.raises(StoreError, match="corpus load other"):
            CorpusSource("other").check(con)
    finally:
        con.close()
    assert sorted(i[0] for i in ids) == ["test/neg/0_2", "test/pos/0_7"]
    assert texts["test/neg/0_2"] == "Boring."


def _add_predictions(db: Path, rows: list[tuple]) -> None:
    con = duckdb.connect(str(db))
    con.execute("""CREATE TABLE IF NOT EXISTS predictions (query VARCHAR, source VARCHAR,
        id VARCHAR, label VARCHAR, probability DOUBLE, model VARCHAR, created_at TIMESTAMP,
        PRIMARY KEY (query, source, id, model))""")
    con.executemany("INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    con.close()


@pytest.mark.parametrize("ext", [".csv", ".parquet", ".jsonl", ".tsv"])
def test_export_round_trip(tmp_path: Path, ext: str) -> None:
    db = tmp_path / "c.duckdb"
    load_corpus(db, "reviews", _write(tmp_path, "csv"), OPTIONS)
    src = "corpus:reviews"
    _add_predictions(db, [
        ("imdb_sentiment", src, "a1", "negative", 0.2, "old", "2024-01-01"),
        ("imdb_sentiment", src, "a1", "positive", 0.9, "new", "2024-02-01"),
        ("imdb_sentiment", src, "a2", "negative", 0.1, "new", "2024-02-01"),
        ("imdb_sentiment", "concepts", "a4", "positive", 0.8, "new", "2024-02-01"),
    ])
    out = tmp_path / f"out{ext}"
    assert export_corpus(db, "reviews", out) == 4
    delim = ", delim='\t'" if ext == ".tsv" else ""
    reader = {".csv": f"read_csv('{out}')", ".tsv": f"read_csv('{out}'{delim})",
              ".parquet": f"read_parquet('{out}')", ".jsonl": f"read_json('{out}')"}[ext]
    rows = duckdb.sql(f"SELECT id, text, gold, split, label, probability, model FROM {reader}"
                      ).fetchall()
    by_id = {r[0]: r[1:] for r in rows}
    assert [r[0] for r in rows] == ["a1", "a2", "a4", "a5"]  # file order
    assert by_id["a1"] == ("A wonderful, moving film.", "positive", "train", "positive", 0.9,
                           "new")
    assert by_id["a4"][3:] == (None, None, None)  # predictions of another source don't leak
    assert by_id["a5"][0] == _items(db, "reviews")["a5"][0]


def test_export_errors(tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    load_corpus(db, "reviews", _write(tmp_path, "csv"), OPTIONS)
    with pytest.raises(ExportError, match="unknown export format '.xlsx'"):
        export_corpus(db, "reviews", tmp_path / "o.xlsx")
    with pytest.raises(StoreError, match="no corpus 'nope'"):
        export_corpus(db, "nope", tmp_path / "o.csv")
    with pytest.raises(StoreError, match="no such database; load a corpus with"):
        list_corpora(tmp_path / "missing.duckdb")
    _add_predictions(db, [("q1", "corpus:reviews", "a1", "positive", 0.9, "m", "2024-01-01"),
                          ("q2", "corpus:reviews", "a1", "positive", 0.9, "m", "2024-01-01")])
    with pytest.raises(ExportError, match="several queries \\(q1, q2\\); choose one with --query"):
        export_corpus(db, "reviews", tmp_path / "o.csv")
    assert export_corpus(db, "reviews", tmp_path / "o.csv", query="q2") == 4


def test_cli_load_list_export(tmp_path: Path) -> None:
    runner = CliRunner()
    db = tmp_path / "c.duckdb"
    source = make_aclimdb(tmp_path / "data")
    result = runner.invoke(app, ["corpus", "load", "imdb", "--db", str(db), "--from", str(source)])
    assert result.exit_code == 0, result.output
    assert "7 texts" in result.output and "skipped 1 rows: undecodable file" in result.output
    result = runner.invoke(app, ["corpus", "list", "--db", str(db), "--json"])
    assert json.loads(result.output)[0]["splits"] == {"test": 2, "train": 5}
    csv_path = _write(tmp_path, "csv")
    result = runner.invoke(app, ["corpus", "load", "r", "--db", str(db), "--from", str(csv_path),
                                 "--text-column", "review", "--id-column", "doc",
                                 "--label-column", "stars", "--label-map", "pos=positive",
                                 "--json"])
    assert result.exit_code == 0, result.output
    loaded = json.loads(result.output)
    assert loaded["rows"] == 2 and loaded["skipped"] == {"empty text": 1,
                                                         "label not in --label-map": 2}
    out = tmp_path / "o.parquet"
    result = runner.invoke(app, ["corpus", "export", "imdb", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0 and pq.read_table(out).num_rows == 7
    result = runner.invoke(app, ["corpus", "load", "r", "--db", str(db), "--from", str(csv_path),
                                 "--label-map", "pos"])
    assert result.exit_code == 1 and "must look like FROM=TO" in result.output
    result = runner.invoke(app, ["corpus", "load", "r", "--db", str(db), "--from", str(csv_path),
                                 "--text-column", "body"])
    assert result.exit_code == 1
    assert "no column 'body'" in result.output and "Traceback" not in result.output
