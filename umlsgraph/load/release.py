"""The embedded DuckDB store: the schema of a loaded release and the atomic loader.

Tables (all column names lower case):

- ``names``: one row per atom kept by the load filters (cui, aui, lat, ts, stt, ispref, sab,
  tty, code, str, suppress, …), in MRCONSO order, which releases sort by CUI.
- ``concepts``: one row per CUI that has a kept name, with its preferred name chosen by the
  UMLS rule (LAT=ENG, TS=P, STT=PF, ISPREF=Y, in that order of importance; ties by AUI).
- ``relations``: MRREL rows whose two CUIs are both kept concepts. **REL is the relation of
  CUI2 to CUI1**: ``REL=PAR`` means CUI2 is a parent of CUI1 (RELA ``inverse_isa``), and
  ``REL=CHD`` means CUI2 is a child of CUI1 (RELA ``isa``).
- ``semantic_types`` (cui, tui, stn, sty), ``definitions`` (cui, aui, sab, def, suppress),
  ``sources`` (sab, name, version, names), ``release`` (key, value: what was loaded, how).

A load builds a new database file beside the target and swaps it in with one ``os.replace``
only when everything succeeded, so a failed or interrupted load leaves the old file byte for
byte as it was: until the swap the old file is only read. Tables the pipeline wrote
(annotations, predictions, corpora…) are copied into the new file with their declared keys
and defaults, from the old file at this program's schema version (`umlsgraph.db.migrations`:
an older one is upgraded in a copy beside it; one newer than the program is refused before
anything is built); the new file records that version and the old file's history.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from umlsgraph.db import (
    PREFERRED_ATOM_ORDER,
    SUPPRESSIBLE,
    connect,
    migrations,
    release_store,
    require_tables,
    schema,
)
from umlsgraph.db.connection import open_file
from umlsgraph.db.schema import UMLS_TABLES
from umlsgraph.db.sql import identifier, in_list, literal
from umlsgraph.errors import ReleaseError, StoreError
from umlsgraph.load import rrf


@dataclass(frozen=True)
class LoadOptions:
    """Filters applied while loading. Empty tuples mean "no restriction"."""

    languages: tuple[str, ...] = ("ENG",)
    include_sabs: tuple[str, ...] = ()
    exclude_sabs: tuple[str, ...] = ()
    keep_suppressed: bool = False
    rels: tuple[str, ...] = ()
    relas: tuple[str, ...] = ()
    memory_limit: str | None = "3GB"
    threads: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("languages", "include_sabs", "exclude_sabs", "rels"):
            object.__setattr__(self, name, tuple(v.upper() for v in getattr(self, name)))
        if self.memory_limit:
            object.__setattr__(self, "memory_limit", check_memory_limit(self.memory_limit))
        if self.threads is not None and self.threads < 1:
            raise StoreError(f"threads {self.threads}: must be at least 1")


MEMORY_LIMIT = re.compile(r"^\s*(\d+(\.\d+)?)\s*([KMGT]i?B|%)\s*$", re.IGNORECASE)


def check_memory_limit(value: str) -> str:
    """A DuckDB memory limit such as 3GB, 512MiB or 80%; anything else is a StoreError (it
    is written into a SET statement, so only this shape ever reaches SQL)."""
    match = MEMORY_LIMIT.match(value)
    if not match or float(match.group(1)) <= 0 or (
            match.group(3) == "%" and float(match.group(1)) > 100):
        raise StoreError(f"memory limit '{value}': give a positive size such as 3GB, 512MB, "
                         "2GiB or a percentage of RAM such as 80%")
    return value.strip()


def load_release(
    release: str | Path,
    db: str | Path,
    options: LoadOptions | None = None,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Load the RRF files of `release` into the DuckDB file `db`, atomically. Returns counts."""
    options = options or LoadOptions()
    meta = rrf.find_meta(release)
    rrf.check_complete(meta)
    files = rrf.discover(meta)
    for f in files.values():
        rrf.check_not_empty(f)
    target = Path(db)
    staging = target.with_name(target.name + ".loading")
    upgraded = target.with_name(target.name + ".previous")
    _remove_database_file(staging)
    _remove_database_file(upgraded)
    step = on_step or (lambda _msg: None)
    try:
        # before the build: a newer or unreadable store fails in seconds; the old file is
        # only read until the swap, so an interrupted load leaves it byte for byte as it was
        previous = _previous_store(target, upgraded) if target.exists() else None
        con = duckdb.connect(str(staging))
        try:
            _configure(con, options, staging)
            _build(con, files, options, step)
            _write_release_info(con, meta, files, options)
            if previous is not None:
                step("carrying over pipeline tables")
                _carry_over(con, previous)
            migrations.stamp(con)  # no-op when the old file's version table came along
            con.execute("CHECKPOINT")
            counts = info(con)
        finally:
            con.close()
        _swap(staging, target)
        return counts
    except BaseException:
        _remove_database_file(staging)
        raise
    finally:
        _remove_database_file(upgraded)


def _previous_store(target: Path, copy: Path) -> Path:
    """The file to carry the pipeline tables from, without writing the old store: the store
    itself, opened read-only (its version checked: a newer one is refused), or, when it is
    older than this program, an upgraded copy of it at `copy`."""
    con = open_file(target, read_only=True)
    try:
        have = migrations.check(con, target)
        current = have == len(migrations.MIGRATIONS) or not migrations.is_store(con)
    finally:
        con.close()
    if current:
        return target
    shutil.copyfile(target, copy)
    if Path(f"{target}.wal").exists():
        shutil.copyfile(f"{target}.wal", f"{copy}.wal")
    connect(copy).close()  # upgraded in one transaction; the old file stays as it was
    return copy


def _swap(staging: Path, target: Path) -> None:
    """Put the new file in place of the old one. An old file's write-ahead log is folded into
    it first (it would otherwise be replayed onto the new file); the new file has none."""
    if Path(f"{target}.wal").exists():
        open_file(target).close()  # DuckDB checkpoints the log on close
    os.replace(staging, target)
    _remove_database_file(Path(str(staging) + ".wal"))


def _remove_database_file(path: Path) -> None:
    for p in (path, Path(str(path) + ".wal")):
        if p.exists():
            p.unlink()


def _configure(con: duckdb.DuckDBPyConnection, options: LoadOptions, staging: Path) -> None:
    if options.memory_limit:
        con.execute("SET memory_limit = " + literal(options.memory_limit))
    if options.threads:
        con.execute(f"SET threads = {int(options.threads)}")
    con.execute("SET temp_directory = " + literal(f"{staging}.tmp"))
    # DuckDB estimates ~40 rows for a read_csv() scan, so without this it builds the hash
    # tables of `CUI IN (SELECT cui FROM concepts)` on the RRF file instead of on concepts:
    # MRREL then has to fit in memory (out of memory at 6M rows with a 3GB limit).
    try:
        con.execute("SET disabled_optimizers = 'build_side_probe_side'")
    except duckdb.Error:  # an older DuckDB without that optimizer never flips the sides
        pass


def _run(con: duckdb.DuckDBPyConnection, file: rrf.RrfFile, sql: str) -> None:
    """Execute a statement that reads `file`, turning CSV errors into one-line ReleaseErrors."""
    try:
        con.execute(sql)
    except (duckdb.InvalidInputException, duckdb.IOException, duckdb.ConversionException) as exc:
        if rrf.EXTRA_FIELD in str(exc):
            where = rrf.find_extra_field_line(con, file)
            if where:
                raise ReleaseError(
                    f"{where[0]}:{where[1]}: expected {len(file.columns)} fields ending with "
                    f"'|' for {file.name}, found {len(file.columns) + 1}; the line has an extra "
                    "field or the file is not a UMLS release") from None
        raise rrf.explain_read_error(file, exc) from None




def _sab_filter(options: LoadOptions, column: str = "SAB") -> list[str]:
    conds = []
    if options.include_sabs:
        conds.append(f"upper({column}) IN ({in_list(options.include_sabs)})")
    if options.exclude_sabs:
        conds.append(f"upper({column}) NOT IN ({in_list(options.exclude_sabs)})")
    return conds


def _suppress_filter(options: LoadOptions) -> list[str]:
    if options.keep_suppressed:
        return []
    return [f"coalesce(SUPPRESS, '') NOT IN ({in_list(SUPPRESSIBLE)})"]


def _where(conds: list[str]) -> str:
    return ("WHERE " + " AND ".join(conds)) if conds else ""


def _build(con: duckdb.DuckDBPyConnection, files: dict[str, rrf.RrfFile], options: LoadOptions,
           step: Callable[[str], None]) -> None:
    """Create every table from the release files, one set-based statement each."""
    step("names (MRCONSO)")
    _build_names(con, files["MRCONSO"], options)
    step("concepts")
    _build_concepts(con)
    step("relations (MRREL)")
    _build_relations(con, files.get("MRREL"), options)
    step("semantic types (MRSTY)")
    _build_semantic_types(con, files.get("MRSTY"))
    step("definitions (MRDEF)")
    _build_definitions(con, files.get("MRDEF"), options)
    step("sources")
    _build_sources(con, files.get("MRSAB"))


def _build_names(con: duckdb.DuckDBPyConnection, file: rrf.RrfFile, options: LoadOptions) -> None:
    conds = [rrf.end_check_sql()] + _sab_filter(options) + _suppress_filter(options)
    if options.languages:
        conds.append(f"LAT IN ({in_list(options.languages)})")
    _run(con, file, f"""
        CREATE TABLE names AS
        SELECT CUI AS cui, AUI AS aui, LAT AS lat, TS AS ts, LUI AS lui, STT AS stt, SUI AS sui,
               ISPREF AS ispref, SAB AS sab, TTY AS tty, CODE AS code, STR AS str,
               SUPPRESS AS suppress, SCUI AS scui, SDUI AS sdui
        FROM {rrf.read_csv_sql(file)} {_where(conds)}""")
    _check_cuis(con, file)
    if con.execute("SELECT count(*) FROM names").fetchone()[0] == 0:  # type: ignore[index]
        raise ReleaseError(
            f"{file.label()}: no names left after the load filters (languages "
            f"{list(options.languages) or 'all'}, sources {list(options.include_sabs) or 'all'}); "
            "check --lang and --sab"
        )


def _check_cuis(con: duckdb.DuckDBPyConnection, file: rrf.RrfFile) -> None:
    """A name without a CUI would become a concept with an empty id: a broken line."""
    blank = "CUI IS NULL OR trim(CUI) = ''"
    if not con.execute(f"SELECT count(*) FROM names WHERE {blank.lower()}").fetchall()[0][0]:
        return
    where = rrf.find_first_line(con, file, blank)
    at = f"{where[0]}:{where[1]}" if where else file.label()
    raise ReleaseError(f"{at}: empty CUI (the first field of {file.name}); the line is "
                       "broken or the file is not a UMLS release")


def _build_concepts(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""
        CREATE TABLE concepts AS
        SELECT cui, first(str ORDER BY {PREFERRED_ATOM_ORDER}) AS name
        FROM names GROUP BY cui ORDER BY cui""")


def _build_relations(con: duckdb.DuckDBPyConnection, file: rrf.RrfFile | None,
                     options: LoadOptions) -> None:
    if file is None:
        con.execute("""CREATE TABLE relations (cui1 VARCHAR, aui1 VARCHAR, stype1 VARCHAR,
            rel VARCHAR, cui2 VARCHAR, aui2 VARCHAR, stype2 VARCHAR, rela VARCHAR, rui VARCHAR,
            sab VARCHAR, rg VARCHAR, dir VARCHAR, suppress VARCHAR)""")
        return
    conds = [rrf.end_check_sql()] + _sab_filter(options) + _suppress_filter(options)
    conds.append("CUI1 IN (SELECT cui FROM concepts) AND CUI2 IN (SELECT cui FROM concepts)")
    if options.rels:
        conds.append(f"upper(REL) IN ({in_list(options.rels)})")
    if options.relas:
        conds.append(f"RELA IN ({in_list(options.relas)})")
    _run(con, file, f"""
        CREATE TABLE relations AS
        SELECT CUI1 AS cui1, AUI1 AS aui1, STYPE1 AS stype1, REL AS rel, CUI2 AS cui2,
               AUI2 AS aui2, STYPE2 AS stype2, RELA AS rela, RUI AS rui, SAB AS sab, RG AS rg,
               DIR AS dir, SUPPRESS AS suppress
        FROM {rrf.read_csv_sql(file)} {_where(conds)}""")


def _build_semantic_types(con: duckdb.DuckDBPyConnection, file: rrf.RrfFile | None) -> None:
    if file is None:
        con.execute("CREATE TABLE semantic_types (cui VARCHAR, tui VARCHAR, stn VARCHAR, "
                    "sty VARCHAR)")
        return
    _run(con, file, f"""
        CREATE TABLE semantic_types AS
        SELECT CUI AS cui, TUI AS tui, STN AS stn, STY AS sty
        FROM {rrf.read_csv_sql(file)}
        WHERE {rrf.end_check_sql()} AND CUI IN (SELECT cui FROM concepts)""")


def _build_definitions(con: duckdb.DuckDBPyConnection, file: rrf.RrfFile | None,
                       options: LoadOptions) -> None:
    if file is None:
        con.execute("CREATE TABLE definitions (cui VARCHAR, aui VARCHAR, sab VARCHAR, "
                    "def VARCHAR, suppress VARCHAR)")
        return
    conds = [rrf.end_check_sql()] + _sab_filter(options) + _suppress_filter(options)
    conds.append("CUI IN (SELECT cui FROM concepts)")
    _run(con, file, f"""
        CREATE TABLE definitions AS
        SELECT CUI AS cui, AUI AS aui, SAB AS sab, DEF AS def, SUPPRESS AS suppress
        FROM {rrf.read_csv_sql(file)} {_where(conds)}""")


def _build_sources(con: duckdb.DuckDBPyConnection, file: rrf.RrfFile | None) -> None:
    """One row per source with kept names; MRSAB adds the source's full name and version."""
    if file is None:
        con.execute("""CREATE TABLE sources AS
            SELECT sab, NULL::VARCHAR AS name, NULL::VARCHAR AS version, count(*) AS names
            FROM names GROUP BY sab ORDER BY sab""")
        return
    _run(con, file, f"""
        CREATE TABLE sources AS
        WITH sab AS (
            SELECT RSAB AS sab, first(SON ORDER BY CURVER DESC) AS name,
                   first(VSAB ORDER BY CURVER DESC) AS version
            FROM {rrf.read_csv_sql(file)} WHERE {rrf.end_check_sql()} GROUP BY RSAB)
        SELECT n.sab, sab.name, sab.version, count(*) AS names
        FROM names n LEFT JOIN sab USING (sab)
        GROUP BY n.sab, sab.name, sab.version ORDER BY n.sab""")


def _write_release_info(con: duckdb.DuckDBPyConnection, meta: Path,
                        files: dict[str, rrf.RrfFile], options: LoadOptions) -> None:
    settings = {k: v for k, v in asdict(options).items() if k not in ("memory_limit", "threads")}
    release_store.write(con, {
        "path": str(meta.resolve()),
        "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "files": json.dumps({n: [str(p.name) for p in f.parts] for n, f in files.items()}),
        "options": json.dumps(settings),
    })


#: Tables a reload does not carry over: rebuilt from the new release, or derived from it.
NOT_CARRIED = frozenset((*UMLS_TABLES, *schema.DERIVED))


def _carry_over(con: duckdb.DuckDBPyConnection, old: Path) -> None:
    """Copy the pipeline's own tables (annotations, predictions, corpora…) from the old file.

    The old file is at this program's schema version (`load_release` upgraded it), so each
    known table is created from its DDL (keys and defaults kept) and filled by name; a
    table umlsgraph does not know is copied as it is.
    """
    con.execute(f"ATTACH {literal(old)} AS previous (READ_ONLY)")
    try:
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name='previous'"
        ).fetchall()
        for schema_name, table in tables:
            if schema_name == "main" and table in NOT_CARRIED:
                continue
            _copy_table(con, schema_name, table)
    except duckdb.Error as exc:
        raise StoreError(f"{old}: cannot copy pipeline tables into the new load ({exc})") from None
    finally:
        con.execute("DETACH previous")


def _copy_table(con: duckdb.DuckDBPyConnection, schema_name: str, table: str) -> None:
    source = f"previous.{identifier(schema_name)}.{identifier(table)}"
    ddl = schema.DDL.get(table) or (schema.VERSION_DDL if table == schema.VERSION_TABLE
                                    else None)
    if schema_name == "main" and ddl:
        con.execute(ddl)
        con.execute(f"INSERT INTO {identifier(table)} BY NAME SELECT * FROM {source}")
        return
    if schema_name != "main":
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {identifier(schema_name)}")
    con.execute(f"CREATE TABLE {identifier(schema_name)}.{identifier(table)} AS "
                f"SELECT * FROM {source}")


def info(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Counts of what is loaded: the numbers `umlsgraph info` shows, with what each query's
    predictions select (`umlsgraph.selection`: the count export, check and the report show)."""
    from umlsgraph.selection.selection import summaries

    require_tables(con, "concepts", "names", "relations")

    def count(sql: str) -> int:
        return int(con.execute(sql).fetchone()[0])  # type: ignore[index]

    by_rel = dict(con.execute(
        "SELECT coalesce(rel, ''), count(*) FROM relations GROUP BY ALL ORDER BY 2 DESC"
    ).fetchall())
    release = release_store.info(con)
    return {
        "concepts": count("SELECT count(*) FROM concepts"),
        "names": count("SELECT count(*) FROM names"),
        "relations": count("SELECT count(*) FROM relations"),
        "relations_by_rel": by_rel,
        "semantic_types": count("SELECT count(DISTINCT tui) FROM semantic_types"),
        "semantic_type_assignments": count("SELECT count(*) FROM semantic_types"),
        "definitions": count("SELECT count(*) FROM definitions"),
        "sources": count("SELECT count(*) FROM sources"),
        "languages": count("SELECT count(DISTINCT lat) FROM names"),
        "release": release.get("path"),
        "loaded_at": release.get("loaded_at"),
        "schema_version": migrations.version(con),
        "selections": summaries(con),
    }
