"""The Neo4j store: a Bolt writer (official `neo4j` driver) and the load of a whole DuckDB store.

Every write is `UNWIND $rows AS r MERGE ...` with the data in parameters, batch by batch, one
transaction per batch, so a re-run MERGEs onto what is there and changes nothing. Labels,
relationship types and property names in the Cypher text are constants of this module; a
relationship type comes from the fixed list of UMLS REL codes, never from a data string.

Graph model (shared with `umlsgraph export --format neo4j`):

    (:Concept {cui, name, semantic_types, tuis, synonyms, definition})
    (:SemanticType {tui, name, stn})       (:Concept)-[:HAS_SEMANTIC_TYPE]->(:SemanticType)
    (:Concept)-[:PAR|CHD|RB|RN|RO|... {rel, rela, sab}]->(:Concept)  one per (cui1, cui2, REL):
        MRREL's reading, "the end node is REL of the start node": (child)-[:PAR]->(parent);
        a REL outside the UMLS list becomes [:RELATED {type: REL}]

Big stores: `batch_size` rows per transaction, `parallel` transactions at once (Neo4j takes
concurrent MERGEs and retries the ones that deadlock; a server that inlines parameters gets one
at a time). Concepts are all written before relationships, so a relationship batch only
MATCHes nodes that exist. For a whole Metathesaurus, `export --all --format neo4j-admin` and
`neo4j-admin database import` are faster still (an offline bulk import, Neo4j only).

Servers differ: a uniqueness constraint on `cui` is created where the server allows it, else
an index, else nothing. Bolt servers that paste parameters into the query text (FalkorDB's
Bolt bridge) are detected with one probe query; for them strings are escaped and batches are
capped by size, because such a server fails on a quote and crashes on parameters over ~4 KB.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from umlsgraph.errors import ExportError
from umlsgraph.settings import NEO4J_BATCH, NEO4J_PARALLEL, NEO4J_URI, NEO4J_USER

Progress = Callable[[str, int, int], None]

ENVIRONMENT = {"uri": "NEO4J_URI", "user": "NEO4J_USER", "password": "NEO4J_PASSWORD",
               "database": "NEO4J_DATABASE"}
#: UMLS REL codes: the only relationship types written besides the fixed ones below.
REL_TYPES = frozenset({"AQ", "CHD", "DEL", "PAR", "QB", "RB", "RL", "RN", "RO", "RQ", "RU",
                       "SIB", "SY", "XR"})
FALLBACK_TYPE = "RELATED"
BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
#: Parameter budget (JSON bytes per batch) for servers that inline parameters.
INLINED_PARAMETER_BYTES = 2500
_PROBE = "it's a \\ probe"


@dataclass(frozen=True)
class Neo4jSettings:
    """Where and how to write. Resolve with `Neo4jSettings.resolve` (defaults < env < flags)."""

    uri: str = NEO4J_URI
    user: str = NEO4J_USER
    password: str = ""
    database: str | None = None
    batch_size: int = NEO4J_BATCH
    timeout: float = 10.0
    parallel: int = NEO4J_PARALLEL

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ExportError(f"--batch-size must be at least 1, got {self.batch_size}")
        if not 1 <= self.parallel <= 64:
            raise ExportError(f"--parallel must be between 1 and 64, got {self.parallel}")

    @classmethod
    def resolve(cls, **flags: Any) -> Neo4jSettings:
        """Defaults, overridden by NEO4J_URI/NEO4J_USER/NEO4J_PASSWORD/NEO4J_DATABASE, then by
        the flags that are not None."""
        settings = cls()
        env = {key: os.environ[var] for key, var in ENVIRONMENT.items() if var in os.environ}
        given = {key: value for key, value in flags.items() if value is not None}
        return replace(settings, **{**env, **given})


class BoltWriter:
    """An open Bolt connection that writes rows in batches. Use as a context manager."""

    def __init__(self, settings: Neo4jSettings) -> None:
        self.settings = settings
        self.escape = False
        self.max_bytes: int | None = None
        self.driver = self._connect()
        self._probe_parameters()

    def __enter__(self) -> BoltWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release: the driver stays open for the process (see `_driver`)."""

    def _connect(self) -> Any:
        """The process's driver for these settings, checked to answer (three quick tries)."""
        import neo4j

        s = self.settings
        driver = _driver(s)
        for attempt in range(3):
            try:
                driver.verify_connectivity()
                return driver
            except neo4j.exceptions.AuthError:
                _forget(s)
                raise ExportError(f"Neo4j at {s.uri} refused user '{s.user}'; pass "
                                  "--neo4j-user/--neo4j-password or set NEO4J_USER/"
                                  "NEO4J_PASSWORD") from None
            except (neo4j.exceptions.ServiceUnavailable, neo4j.exceptions.SessionExpired,
                    OSError) as exc:
                if attempt == 2:
                    _forget(s)
                    raise ExportError(f"cannot reach Neo4j at {s.uri} ({_first_line(exc)}); "
                                      "start the server or pass --neo4j-uri / set "
                                      "NEO4J_URI") from None
                time.sleep(0.2)
        raise AssertionError("unreachable")  # pragma: no cover

    def _session(self) -> Any:
        return self.driver.session(database=self.settings.database)

    def _probe_parameters(self) -> None:
        """Detect servers that paste string parameters into the query text (see module doc)."""
        if self._round_trips(_PROBE):
            return
        self.escape = True
        if not self._round_trips(_PROBE):
            raise ExportError(f"the Bolt server at {self.settings.uri} does not return string "
                              "parameters unchanged; it is not a Neo4j-compatible server")
        self.max_bytes = INLINED_PARAMETER_BYTES

    def _round_trips(self, value: str) -> bool:
        import neo4j

        try:
            with self._session() as session:
                record = session.run("RETURN $value AS value",
                                     {"value": self._encode(value)}).single()
            return record is not None and record["value"] == value
        except neo4j.exceptions.Neo4jError:
            return False

    def _encode(self, value: Any) -> Any:
        """Parameters as sent: unchanged, or with quotes and backslashes escaped."""
        if not self.escape:
            return value
        if isinstance(value, str):
            return value.replace("\\", "\\\\").replace("'", "\\'")
        if isinstance(value, list):
            return [self._encode(v) for v in value]
        if isinstance(value, dict):
            return {k: self._encode(v) for k, v in value.items()}
        return value

    def run(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        """Run one statement in a write transaction; return its records as dicts."""
        import neo4j

        encoded = {k: self._encode(v) for k, v in params.items()}

        def work(tx: Any) -> list[dict[str, Any]]:
            return tx.run(cypher, encoded).data()
        try:
            with self._session() as session:
                return session.execute_write(work)
        except neo4j.exceptions.Neo4jError as exc:
            raise ExportError(f"Neo4j at {self.settings.uri} rejected a write "
                              f"({_first_line(exc)})") from None
        except (neo4j.exceptions.ServiceUnavailable, neo4j.exceptions.SessionExpired) as exc:
            raise ExportError(f"lost the connection to Neo4j at {self.settings.uri} "
                              f"({_first_line(exc)}); re-run to resume") from None

    def count(self, cypher: str, **params: Any) -> int:
        """The single number a `RETURN count(...) AS n` statement returns."""
        rows = self.run(cypher, **params)
        return int(rows[0]["n"]) if rows else 0

    def try_run(self, *statements: str) -> str | None:
        """Run the first statement the server accepts; None if it rejects them all."""
        for statement in statements:
            try:
                self.run(statement)
                return statement
            except ExportError:
                continue
        return None

    def ensure_key(self, label: str, key: str) -> str:
        """A uniqueness constraint on label.key where supported, else an index; what was made."""
        name = f"{label.lower()}_{key}"
        made = self.try_run(
            f"CREATE CONSTRAINT {name} IF NOT EXISTS FOR (n:{label}) REQUIRE n.{key} IS UNIQUE",
            f"CREATE INDEX {name} IF NOT EXISTS FOR (n:{label}) ON (n.{key})",
            f"CREATE INDEX FOR (n:{label}) ON (n.{key})",
            f"CREATE INDEX ON :{label}({key})")
        if made is None:
            return "none (rejected or already there)"
        return "constraint" if "CONSTRAINT" in made else "index"

    @property
    def workers(self) -> int:
        """Concurrent write transactions: `parallel`, or 1 on a server that inlines
        parameters (FalkorDB's Bolt bridge, which runs one query at a time anyway)."""
        return 1 if self.escape else self.settings.parallel

    def write(self, cypher: str, rows: Iterable[dict[str, Any]], task: str = "rows",
              total: int = 0, on_progress: Progress | None = None, **params: Any) -> int:
        """Send `rows` as $rows in batches (one transaction each); return how many were sent.

        With `workers` > 1 the batches go in that many concurrent transactions, at most twice
        as many batches in flight (memory stays bounded). Neo4j retries a transaction that
        deadlocks (two batches locking the same nodes), so MERGEs may run side by side.
        """
        if self.workers == 1:
            done = 0
            for batch in self.batches(rows):
                self.run(cypher, rows=batch, **params)
                done += len(batch)
                if on_progress:
                    on_progress(task, done, total)
            return done
        return self._write_parallel(cypher, rows, task, total, on_progress, params)

    def _write_parallel(self, cypher: str, rows: Iterable[dict[str, Any]], task: str,
                        total: int, on_progress: Progress | None, params: dict[str, Any]) -> int:
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        done = 0
        pending: deque[Any] = deque()
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            try:
                for batch in self.batches(rows):
                    pending.append((pool.submit(self.run, cypher, rows=batch, **params),
                                    len(batch)))
                    while len(pending) >= 2 * self.workers:
                        future, size = pending.popleft()
                        future.result()
                        done += size
                        if on_progress:
                            on_progress(task, done, total)
                while pending:
                    future, size = pending.popleft()
                    future.result()
                    done += size
                    if on_progress:
                        on_progress(task, done, total)
            finally:
                for future, _size in pending:
                    future.cancel()
        return done

    def batches(self, rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        """Rows grouped by batch size and, for inlining servers, by parameter bytes."""
        batch: list[dict[str, Any]] = []
        used = 0
        for row in rows:
            size = _json_bytes(row) if self.max_bytes else 0
            if self.max_bytes and size > self.max_bytes:
                raise ExportError(f"a row of {size} bytes ({_describe(row)}) is over the "
                                  f"{self.max_bytes}-byte parameter limit of the Bolt server at "
                                  f"{self.settings.uri}; use a Neo4j server")
            full = len(batch) >= self.settings.batch_size
            if batch and (full or (self.max_bytes and used + size > self.max_bytes)):
                yield batch
                batch, used = [], 0
            batch.append(row)
            used += size
        if batch:
            yield batch


_DRIVERS: dict[tuple[Any, ...], Any] = {}


def _driver(s: Neo4jSettings) -> Any:
    """One driver per server and user for the whole process, as the Neo4j docs advise.

    Drivers are closed at exit. (This also spares FalkorDB's Bolt bridge, which fails to
    answer the first connection opened after a driver closes.)
    """
    key = (s.uri, s.user, s.password, s.timeout)
    if s.uri.split("://", 1)[0].lower() not in BOLT_SCHEMES:
        raise ExportError(f"bad Neo4j URI '{s.uri}' (not a Bolt URI); use e.g. "
                          "bolt://localhost:7687 or neo4j://host:7687")
    if key not in _DRIVERS:
        try:
            import neo4j
        except ImportError:  # pragma: no cover - a core dependency
            raise ExportError("the neo4j driver is not installed: pip install neo4j") from None
        try:
            _DRIVERS[key] = neo4j.GraphDatabase.driver(
                s.uri, auth=(s.user, s.password), connection_timeout=s.timeout,
                max_transaction_retry_time=s.timeout, connection_acquisition_timeout=s.timeout)
        except (ValueError, neo4j.exceptions.ConfigurationError) as exc:
            raise ExportError(f"bad Neo4j URI '{s.uri}' ({_first_line(exc)}); use e.g. "
                              "bolt://localhost:7687 or neo4j://host:7687") from None
        if len(_DRIVERS) == 1:
            atexit.register(close_drivers)
    return _DRIVERS[key]


def _forget(s: Neo4jSettings) -> None:
    driver = _DRIVERS.pop((s.uri, s.user, s.password, s.timeout), None)
    if driver is not None:
        driver.close()


def close_drivers() -> None:
    """Close every driver this process opened."""
    while _DRIVERS:
        _DRIVERS.popitem()[1].close()


def _json_bytes(row: dict[str, Any]) -> int:
    return len(json.dumps(row, default=str, ensure_ascii=False).encode()) + 2


def _describe(row: dict[str, Any]) -> str:
    for key in ("cui", "from_cui", "tui"):
        if key in row:
            return f"{key} {row[key]}"
    return "a row"


def _first_line(exc: BaseException) -> str:
    """The gist of a driver error on one line: its socket reason if it has one."""
    text = str(getattr(exc, "message", None) or exc).strip()
    reason = re.search(r"\(reason ([^)]*)\)", text)
    if reason:
        return reason.group(1)
    return text.splitlines()[0].rstrip(":") if text else type(exc).__name__


def relationship_type(rel: str) -> str:
    """The relationship type for a REL code: the code itself if it is a UMLS REL, else RELATED."""
    return rel if rel in REL_TYPES else FALLBACK_TYPE


def merge_relationships_cypher(rel_type: str) -> str:
    """`UNWIND $rows MERGE (a)-[:TYPE]->(b)` for one fixed type (rows: from_cui, to_cui, ...)."""
    if rel_type not in REL_TYPES | {"BROADER", FALLBACK_TYPE}:
        raise ValueError(f"not a relationship type umlsgraph writes: {rel_type!r}")
    key = " {type: r.type}" if rel_type == FALLBACK_TYPE else ""
    return (f"UNWIND $rows AS r MATCH (a:Concept {{cui: r.from_cui}}) "
            f"MATCH (b:Concept {{cui: r.to_cui}}) MERGE (a)-[e:{rel_type}{key}]->(b) "
            "SET e.rel = r.rel, e.rela = r.rela, e.sab = r.sab")


# --- the whole store ---------------------------------------------------------------------------

SEMANTIC_TYPES_CYPHER = ("UNWIND $rows AS r MERGE (t:SemanticType {tui: r.tui}) "
                         "SET t.name = r.sty, t.stn = r.stn")
CONCEPTS_CYPHER = (
    "UNWIND $rows AS r MERGE (c:Concept {cui: r.cui}) "
    "SET c.name = r.name, c.semantic_types = r.semantic_types, c.tuis = r.tuis, "
    "c.synonyms = r.synonyms, c.definition = r.definition "
    "WITH c, r UNWIND r.tuis AS tui MATCH (t:SemanticType {tui: tui}) "
    "MERGE (c)-[:HAS_SEMANTIC_TYPE]->(t)")


def _relations_sql() -> str:
    """One row per (cui1, cui2, REL) of the store, with the RELAs and sources stating it."""
    def agg(col: str) -> str:
        return (f"coalesce(list(DISTINCT {col} ORDER BY {col}) FILTER "
                f"(WHERE coalesce({col}, '') <> ''), []::VARCHAR[]) AS {col}")
    return (f"SELECT cui1 AS from_cui, cui2 AS to_cui, coalesce(upper(rel), '') AS type, "
            f"{agg('rel')}, {agg('rela')}, {agg('sab')} FROM relations WHERE cui1 <> cui2 "
            "GROUP BY cui1, cui2, coalesce(upper(rel), '')")


def push(db: str | Path, settings: Neo4jSettings,
         on_progress: Progress | None = None) -> dict[str, Any]:
    """Load the whole DuckDB store `db` (concepts, semantic types, relations) into Neo4j."""
    from umlsgraph.db import connect, require_tables
    from umlsgraph.db.concept_attributes import concept_attributes_sql

    con = connect(db, read_only=True)
    try:
        require_tables(con, "concepts", "names", "relations", "semantic_types", "definitions")
        with BoltWriter(settings) as writer:
            keys = {"Concept.cui": writer.ensure_key("Concept", "cui"),
                    "SemanticType.tui": writer.ensure_key("SemanticType", "tui")}
            stys = _stream(con, "SELECT tui, min(sty) AS sty, min(stn) AS stn "
                           "FROM semantic_types GROUP BY tui ORDER BY tui", settings.batch_size)
            sent = {"semantic_types": writer.write(SEMANTIC_TYPES_CYPHER, stys, "semantic types",
                                                   0, on_progress)}
            total = _scalar(con, "SELECT count(*) FROM concepts")
            rows = _stream(con, concept_attributes_sql("SELECT cui AS id FROM concepts")
                           + " ORDER BY c.cui", settings.batch_size)
            sent["concepts"] = writer.write(CONCEPTS_CYPHER, rows, "concepts", total, on_progress)
            sent["relations"] = _push_relations(con, writer, settings, on_progress)
            counts = graph_counts(writer)
    finally:
        con.close()
    return {"uri": settings.uri, "sent": sent, "keys": keys, "graph": counts,
            "batch_size": settings.batch_size, "parallel": writer.workers,
            "parameters": "escaped for an inlining server" if writer.escape else "native"}


def _push_relations(con: Any, writer: BoltWriter, settings: Neo4jSettings,
                    on_progress: Progress | None) -> int:
    con.execute(f"CREATE OR REPLACE TEMP TABLE neo4j_relations AS {_relations_sql()}")
    total = _scalar(con, "SELECT count(*) FROM neo4j_relations")
    done = 0
    types = [r[0] for r in con.execute("SELECT DISTINCT type FROM neo4j_relations ORDER BY 1")
             .fetchall()]
    for rel in types:
        rows = _stream(con, "SELECT * FROM neo4j_relations WHERE type = $1 "
                       "ORDER BY from_cui, to_cui", settings.batch_size, [rel])
        cypher = merge_relationships_cypher(relationship_type(rel))
        done += writer.write(cypher, _progressing(rows, done, total, on_progress))
    return done


def _progressing(rows: Iterable[dict[str, Any]], start: int, total: int,
                 on_progress: Progress | None) -> Iterator[dict[str, Any]]:
    for i, row in enumerate(rows, start + 1):
        if on_progress and i % 1000 == 0:
            on_progress("relations", i, total)
        yield row


def graph_counts(writer: BoltWriter) -> dict[str, int]:
    """Nodes and relationships in the graph, by label and type."""
    return {
        "concepts": writer.count("MATCH (c:Concept) RETURN count(c) AS n"),
        "semantic_types": writer.count("MATCH (t:SemanticType) RETURN count(t) AS n"),
        "relationships": writer.count("MATCH ()-[e]->() RETURN count(e) AS n"),
    }


def _stream(con: Any, sql: str, size: int, params: list[Any] | None = None
            ) -> Iterator[dict[str, Any]]:
    from umlsgraph.db import stream

    for rows in stream(con, sql, max(size, 1000), params):
        yield from rows


def _scalar(con: Any, sql: str) -> int:
    return int(con.execute(sql).fetchall()[0][0])


def run_token(*parts: Any) -> str:
    """A short deterministic token for a set of written data (see the Neo4j exporter)."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]
