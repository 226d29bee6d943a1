"""Flat corpora: named tables of texts (reviews, notes…) that the pipeline works on like concepts.

A corpus lives in the same DuckDB file as the UMLS tables, in one table::

    corpus_items(corpus VARCHAR, id VARCHAR, text VARCHAR, gold VARCHAR, split VARCHAR)

`gold` is an optional known label (e.g. the review's sentiment), `split` an optional split
name (train/test…). `umlsgraph.db.items.CorpusSource` reads it, so annotate, train, label and eval
run on a corpus through the same code as on concepts.

Sources: CSV/TSV (also .gz, .bz2, .zst), JSONL, Parquet, and the aclImdb folder layout
(``train|test/pos|neg|unsup/*.txt``). Loading a corpus replaces that corpus's rows in one
transaction; other corpora are untouched. Rows that cannot be used (empty text, an undecodable
file, a label outside ``label_map``) are skipped and counted in the result, never lost silently.
"""


from __future__ import annotations

import bz2
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from umlsgraph.corpus.aclimdb import load_aclimdb
from umlsgraph.corpus.options import FORMATS, CorpusOptions, LoadResult, Progress
from umlsgraph.db import connect, schema, transaction, versioned
from umlsgraph.db.items import CORPUS_TABLE
from umlsgraph.db.sql import identifier, literal
from umlsgraph.errors import InputFileError
from umlsgraph.outputs import check_file_target


def open_store(db: str | Path) -> duckdb.DuckDBPyConnection:
    """Open the store, creating an empty database file: corpus mode needs no UMLS load."""
    path = check_file_target(db, "database")
    if path.exists():
        return connect(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(path))


def detect_format(path: Path) -> str:
    """The corpus format a path has: a folder is aclImdb, a file goes by its extension."""
    if path.is_dir():
        return "aclimdb"
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".bz2", ".zst")]
    ext = suffixes[-1] if suffixes else ""
    known = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
             ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
    if ext not in known:
        raise InputFileError(f"{path}: cannot tell the format from the extension; pass "
                             f"--format ({', '.join(FORMATS)})")
    return known[ext]


def load_corpus(db: str | Path, name: str, source: str | Path,
                options: CorpusOptions | None = None,
                progress: Progress | None = None) -> LoadResult:
    """Load `source` as corpus `name` into `db`, replacing that corpus's rows atomically."""
    options = options or CorpusOptions()
    path = Path(source)
    if not path.exists():
        raise InputFileError(f"{path}: no such file or folder")
    if not name or not name.strip():
        raise InputFileError("a corpus needs a non-empty name")
    fmt = options.format or detect_format(path)
    con = open_store(db)
    try:
        versioned.ensure(con, schema.CORPUS_ITEMS)
        if fmt == "aclimdb":
            result = load_aclimdb(con, name, path, progress)
        else:
            result = _load_table(con, name, path, fmt, options)
        _summarise(con, result)
        return result
    finally:
        con.close()


def _load_table(con: duckdb.DuckDBPyConnection, name: str, path: Path, fmt: str,
                options: CorpusOptions) -> LoadResult:
    """CSV/TSV/JSONL/Parquet: stage in a temp table (file order = rowid), check, insert."""
    result = LoadResult(name)
    with _readable(path) as readable:
        _stage(con, readable, fmt, path)
    try:
        types = {r[0]: str(r[1]) for r in con.execute("DESCRIBE staged").fetchall()}
        options = default_columns(options, list(types))
        result.columns = {k: v for k, v in (("id", options.id_column or "(row number)"),
                                            ("text", options.text_column),
                                            ("label", options.label_column),
                                            ("split", options.split_column)) if v}
        _check_columns(path, list(types), options)
        _check_text_type(path, options.text_column, types[options.text_column])
        con.execute(f"CREATE TEMP VIEW mapped AS {_mapped_sql(options, types)}")
        _count_skips(con, result, options)
        with transaction(con):
            con.execute(f"DELETE FROM {CORPUS_TABLE} WHERE corpus = ?", [name])
            con.execute(f"INSERT INTO {CORPUS_TABLE} SELECT ?, id, text, gold, split FROM mapped "
                        f"WHERE {_keep_sql(options)}", [name])
    finally:
        con.execute("DROP VIEW IF EXISTS mapped")
        con.execute("DROP TABLE IF EXISTS staged")
    return result


@contextmanager
def _readable(path: Path) -> Iterator[Path]:
    """A path DuckDB can read: .bz2 is decompressed, streaming, to a temporary file."""
    if path.suffix.lower() != ".bz2":
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="umlsgraph-corpus-") as tmp:
        plain = Path(tmp) / path.with_suffix("").name
        try:
            with bz2.open(path, "rb") as src, plain.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (OSError, EOFError) as exc:
            raise InputFileError(f"{path}: not a readable bz2 file ({exc})") from None
        yield plain


#: Texts can be long (a whole clinical note on one line): DuckDB's default 2 MB line limit
#: would refuse them, so allow 128 MB.
LINE_SIZE = "max_line_size = 134217728"


def _stage(con: duckdb.DuckDBPyConnection, readable: Path, fmt: str, shown: Path) -> None:
    quoted = literal(readable)
    reader = {
        "csv": f"read_csv({quoted}, header = true, all_varchar = true, {LINE_SIZE})",
        "tsv": f"read_csv({quoted}, header = true, all_varchar = true, delim = '\t', "
               f"quote = '', {LINE_SIZE})",
        "jsonl": f"read_json({quoted}, format = 'newline_delimited')",
        "parquet": f"read_parquet({quoted})",
    }[fmt]
    try:
        con.execute("SET preserve_insertion_order = true")
        con.execute(f"CREATE OR REPLACE TEMP TABLE staged AS SELECT * FROM {reader}")
    except duckdb.Error as exc:
        raise InputFileError(f"{shown}: cannot read as {fmt} ({read_error_cause(exc)})") from None


def read_error_cause(exc: BaseException, limit: int = 400) -> str:
    """DuckDB's reader error on one line, with its cause: its first line alone says only
    "CSV Error on Line: N"; the next lines say why ("not utf-8 encoded", "Maximum line size
    … exceeded"). The echo of the line, the advice about reader options and the dump of
    detected settings are left out."""
    kept: list[str] = []
    for line in str(exc).splitlines():
        line = line.strip()
        if not line:
            if kept:
                break
            continue
        if not line.startswith(("Original Line", "Possible Solution", "LINE ")):
            kept.append(line.rstrip("."))
    text = "; ".join(kept) or str(exc).strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"


def default_columns(options: CorpusOptions, columns: list[str]) -> CorpusOptions:
    """Columns named `id`, `label` and `split` are used unless another column is named (an
    explicit empty `--id-column ""` numbers the rows instead; --holdout replaces `split`)."""
    from dataclasses import replace

    chosen: dict[str, Any] = {}
    for option, default in (("id_column", "id"), ("label_column", "label"),
                            ("split_column", "split")):
        value = getattr(options, option)
        if value is None and default in columns and not (
                option == "split_column" and options.holdout):
            chosen[option] = default
        elif value == "":
            chosen[option] = None
    return replace(options, **chosen) if chosen else options


TEXT_TYPES = ("VARCHAR", "JSON")


def _check_text_type(path: Path, column: str, column_type: str) -> None:
    """The text column must hold strings: numbers, lists, structs or bytes are refused rather
    than cast into texts nobody wrote."""
    if column_type not in TEXT_TYPES:
        raise InputFileError(f"{path}: column '{column}' holds {column_type} values, not text; "
                             "pass the text column with --text-column")


def _value_sql(column: str, column_type: str) -> str:
    """A column as VARCHAR. JSON values (a JSONL column whose rows mix strings and nested
    values) are unquoted when scalar and NULL when nested, so one odd row is skipped and
    counted instead of every text keeping its JSON quotes."""
    ident = identifier(column)
    if column_type == "JSON":
        return (f"CASE WHEN json_type({ident}) IN ('VARCHAR', 'BIGINT', 'UBIGINT', 'DOUBLE', "
                f"'BOOLEAN') THEN {ident} ->> '$' END")
    return f"CAST({ident} AS VARCHAR)"


def _check_columns(path: Path, columns: list[str], options: CorpusOptions) -> None:
    wanted = {"--text-column": options.text_column, "--id-column": options.id_column,
              "--label-column": options.label_column, "--split-column": options.split_column}
    for flag, column in wanted.items():
        if column is not None and column not in columns:
            raise InputFileError(f"{path}: no column '{column}' ({flag}); available: "
                                 f"{', '.join(columns)}")


def _mapped_sql(options: CorpusOptions, types: dict[str, str]) -> str:
    """SQL of (id, text, raw_gold, gold, split, nested) over the staged rows, all VARCHAR;
    `nested` marks a text that is a JSON list or object (skipped and counted)."""
    ident = _value_sql(options.id_column, types[options.id_column]) if options.id_column \
        else "rowid"
    raw_gold = (_value_sql(options.label_column, types[options.label_column])
                if options.label_column else "NULL::VARCHAR")
    gold = raw_gold
    if options.label_map:
        cases = " ".join(f"WHEN {literal(k)} THEN {literal(v)}"
                         for k, v in options.label_map.items())
        gold = f"CASE {raw_gold} {cases} ELSE NULL END"
    if options.split_column:
        split = _value_sql(options.split_column, types[options.split_column])
    elif options.holdout:
        bucket = f"md5_number(CAST({ident} AS VARCHAR) || '/{int(options.seed)}') % 1000000"
        split = f"CASE WHEN {bucket} < {int(options.holdout * 1_000_000)} THEN 'test' " \
                "ELSE 'train' END"
    else:
        split = "NULL::VARCHAR"
    text_type = types[options.text_column]
    nested = (f"json_type({identifier(options.text_column)}) IN ('OBJECT', 'ARRAY')"
              if text_type == "JSON" else "false")
    return (f"SELECT CAST({ident} AS VARCHAR) AS id, "
            f"{_value_sql(options.text_column, text_type)} AS text, {raw_gold} AS raw_gold, "
            f"{gold} AS gold, {split} AS split, {nested} AS nested FROM staged")




def _keep_sql(options: CorpusOptions) -> str:
    cond = "id IS NOT NULL AND text IS NOT NULL AND trim(text) <> ''"
    if options.label_map:
        cond += " AND (raw_gold IS NULL OR gold IS NOT NULL)"
    return cond


def _count_skips(con: duckdb.DuckDBPyConnection, result: LoadResult,
                 options: CorpusOptions) -> None:
    """Count the rows that will be skipped, by reason; raise on duplicate ids."""
    def count(where: str) -> int:
        return int(con.execute(f"SELECT count(*) FROM mapped WHERE {where}").fetchall()[0][0])  # type: ignore[index]

    result.skip("no id", count("id IS NULL"))
    result.skip("text is a nested JSON value, not a string", count("id IS NOT NULL AND nested"))
    result.skip("empty text", count("id IS NOT NULL AND NOT nested AND "
                                    "(text IS NULL OR trim(text) = '')"))
    if options.label_map:
        for label, n in con.execute(
                "SELECT raw_gold, count(*) FROM mapped WHERE raw_gold IS NOT NULL AND gold IS NULL "
                "AND id IS NOT NULL AND trim(coalesce(text, '')) <> '' GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall():
            result.skip("label not in --label-map", n, example=f"{label} ({n})")
    dups = con.execute("SELECT id, count(*) FROM mapped WHERE id IS NOT NULL GROUP BY id "
                       "HAVING count(*) > 1 ORDER BY 2 DESC LIMIT 1").fetchall()
    if dups:
        dup_id, times = dups[0]
        raise InputFileError(f"id column '{options.id_column}' has duplicate values ('{dup_id}' "
                             f"{times} times); choose a unique --id-column or leave it out to "
                             "number the rows")


def _summarise(con: duckdb.DuckDBPyConnection, result: LoadResult) -> None:
    rows = con.execute(f"SELECT coalesce(split, ''), coalesce(gold, ''), count(*) "
                       f"FROM {CORPUS_TABLE} WHERE corpus = ? GROUP BY ALL",
                       [result.corpus]).fetchall()
    splits: Counter[str] = Counter()
    labels: Counter[str] = Counter()
    for split, gold, n in rows:
        splits[split or "(none)"] += n
        labels[gold or "(none)"] += n
    result.rows = sum(splits.values())
    result.splits = dict(sorted(splits.items()))
    result.labels = dict(sorted(labels.items()))
