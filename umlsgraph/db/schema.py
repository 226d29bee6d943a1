"""The schema of every table the pipeline writes, in one place.

The UMLS tables (`names`, `concepts`, `relations`, …) are built by the loader
(`umlsgraph.load.release`) from the release files; the tables below are what the pipeline
adds to that store. Each step calls `ensure(con, TABLE)` before writing, so the DDL exists
exactly once. The search index (`DERIVED`) is rebuilt from `names` and never carried into a
new load. `VERSION_TABLE` records which migrations (`umlsgraph.db.migrations`) the store has
had: a change to any table here is a new migration there.
"""

from __future__ import annotations

import duckdb

from umlsgraph.db.hierarchy import HIERARCHICAL, edges_sql
from umlsgraph.db.sql import unbar

ANNOTATIONS = "annotations"
PREDICTIONS = "predictions"
CORPUS_ITEMS = "corpus_items"
LABEL_AUDIT = "label_audit"
ANNOTATION_ROUNDS = "annotation_rounds"
MENTION_COUNTS = "mention_counts"
MENTION_SCANS = "mention_scans"
NAME_SEARCH = "name_search"
NAME_SEARCH_STAMP = "name_search_stamp"
HIERARCHY_INDEX = "hierarchy_index"
RELATION_INDEX = "relation_index"
RELATION_INDEX_STAMP = "relation_index_stamp"
VERSION_TABLE = "umlsgraph_schema"

#: Tables a load builds from the release files (`umlsgraph.load.release`), replaced by a reload.
UMLS_TABLES = ("names", "concepts", "relations", "semantic_types", "definitions", "sources",
               "release")

#: Tables the pipeline writes, carried into the new file when a release is reloaded.
DDL: dict[str, str] = {
    ANNOTATIONS: """CREATE TABLE IF NOT EXISTS annotations (
        query VARCHAR NOT NULL, source VARCHAR NOT NULL, id VARCHAR NOT NULL,
        annotator VARCHAR NOT NULL, prompt_hash VARCHAR NOT NULL, label VARCHAR,
        raw VARCHAR, score DOUBLE, created_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (query, source, id, annotator, prompt_hash))""",
    PREDICTIONS: """CREATE TABLE IF NOT EXISTS predictions (
        query VARCHAR NOT NULL, source VARCHAR NOT NULL, id VARCHAR NOT NULL,
        label VARCHAR, probability DOUBLE, model VARCHAR NOT NULL,
        created_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (query, source, id, model))""",
    CORPUS_ITEMS: """CREATE TABLE IF NOT EXISTS corpus_items (
        corpus VARCHAR NOT NULL, id VARCHAR NOT NULL, text VARCHAR NOT NULL, gold VARCHAR,
        split VARCHAR, PRIMARY KEY (corpus, id))""",
    # umlsgraph.db.audit_store: one row per audited annotation (out-of-sample evidence, flags)
    LABEL_AUDIT: """CREATE TABLE IF NOT EXISTS label_audit (
        query VARCHAR NOT NULL, source VARCHAR NOT NULL, annotator VARCHAR NOT NULL,
        id VARCHAR NOT NULL, audit_key VARCHAR NOT NULL, fold INTEGER NOT NULL,
        label VARCHAR NOT NULL, probabilities DOUBLE[], p_out_of_sample DOUBLE,
        annotator_score DOUBLE, quality DOUBLE, suspect BOOLEAN,
        created_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (query, source, annotator, id))""",
    # umlsgraph.db.round_store: the items a sampling strategy chose, stored before asking
    ANNOTATION_ROUNDS: """CREATE TABLE IF NOT EXISTS annotation_rounds (
        query VARCHAR NOT NULL, source VARCHAR NOT NULL, round_key VARCHAR NOT NULL,
        strategy VARCHAR NOT NULL, id VARCHAR NOT NULL, rank INTEGER NOT NULL, score DOUBLE,
        created_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (query, source, round_key, id))""",
    # per (corpus, concept) mention counts, zeros included; see umlsgraph.db.mentions
    MENTION_COUNTS: """CREATE TABLE IF NOT EXISTS mention_counts (
        corpus VARCHAR NOT NULL, cui VARCHAR NOT NULL, mentions BIGINT NOT NULL,
        texts BIGINT NOT NULL, PRIMARY KEY (corpus, cui))""",
    MENTION_SCANS: """CREATE TABLE IF NOT EXISTS mention_scans (
        corpus VARCHAR PRIMARY KEY, fingerprint VARCHAR NOT NULL,
        scanned_at TIMESTAMP DEFAULT current_timestamp)""",
}


#: Indexes derived from the release (`umlsgraph.db.search`): rebuilt when stale, never carried
#: into a new load (the reload would make them stale anyway).
DERIVED: dict[str, str] = {
    # every (cui, name) once, lower-cased beforehand (UMLS's &#x7C; back to |), sorted by `s`
    NAME_SEARCH: f"""CREATE OR REPLACE TABLE name_search AS
        SELECT cui, str, s, length(str)::INTEGER AS len FROM (
            SELECT DISTINCT cui, str, lower({unbar('str')}) AS s FROM names)
        ORDER BY s""",
    NAME_SEARCH_STAMP: "CREATE OR REPLACE TABLE name_search_stamp (stamp VARCHAR)",
    # every distinct hierarchy edge twice, child -> parent (up) and parent -> child, sorted
    # by node so one concept's neighbours are one row group (`umlsgraph.db.relation_index`)
    HIERARCHY_INDEX: f"""CREATE OR REPLACE TABLE hierarchy_index AS
        WITH e AS ({edges_sql()})
        SELECT node, other, up FROM (
            SELECT child AS node, parent AS other, TRUE AS up FROM e
            UNION ALL SELECT parent, child, FALSE FROM e)
        ORDER BY node, up, other""",
    # the other relation rows, distinct, by CUI2
    RELATION_INDEX: f"""CREATE OR REPLACE TABLE relation_index AS
        SELECT DISTINCT cui2, rel, rela, cui1 FROM relations
        WHERE ({HIERARCHICAL}) IS NOT TRUE AND cui1 <> cui2
        ORDER BY cui2, rel, rela, cui1""",
    RELATION_INDEX_STAMP: "CREATE OR REPLACE TABLE relation_index_stamp (stamp VARCHAR)",
}

#: One row per migration the store has had (`umlsgraph.db.migrations`); its version is the
#: highest. Carried into a new load with the pipeline tables, so their history goes along.
VERSION_DDL = f"""CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp, program_version VARCHAR NOT NULL)"""

#: Every table umlsgraph writes: a file holding none of them is not (yet) a umlsgraph store.
KNOWN_TABLES = frozenset((*UMLS_TABLES, *DDL, *DERIVED, VERSION_TABLE))


def rebuild(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """(Re)create a derived table from what the store holds now."""
    con.execute(DERIVED[table])
