"""`umlsgraph concept CUI`: everything the store knows about one concept, as plain data.

The names by source, semantic types, definitions, parents and children (with their names,
oriented by the same REL/RELA rule the export uses), and per query: the annotations with
the annotator's raw answer, the predictions with their probability, and whether the
concept is selected by `umlsgraph export`'s default rule (the latest model's predicted
label is the query's positive category; the latest annotation where nothing is predicted).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from umlsgraph.curies import to_cui
from umlsgraph.db import annotation_store, connect, prediction_store, require_tables
from umlsgraph.db.hierarchy import oriented_rows_sql
from umlsgraph.db.sql import unbar
from umlsgraph.errors import AnnotationError, NotFoundError, QueryError, StoreError
from umlsgraph.query import load_query

#: Children listed in full; a concept near the root may have thousands.
MAX_CHILDREN = 200
SOURCE = "concepts"


def lookup(db: str | Path, cui: str) -> dict[str, Any]:
    """The record of concept `cui` (exact id; upper-cased if that is not found)."""
    con = connect(db, read_only=True)
    try:
        require_tables(con, "concepts", "names", "relations", "semantic_types", "definitions")
        found = _find(con, to_cui(cui))
        record: dict[str, Any] = {"cui": found[0], "name": found[1]}
        record["synonyms"] = _synonyms(con, found[0])
        record["semantic_types"] = _rows(con, "SELECT tui, sty FROM semantic_types WHERE cui = ? "
                                         "ORDER BY tui", found[0])
        record["definitions"] = _rows(con, "SELECT sab, def AS definition FROM definitions "
                                      "WHERE cui = ? ORDER BY sab, def", found[0])
        record["parents"] = _relatives(con, found[0], "parent")
        record["children"] = _relatives(con, found[0], "child")
        record["children_total"] = _children_total(con, found[0])
        record["queries"] = _queries(con, found[0])
        return record
    finally:
        con.close()


def _find(con: duckdb.DuckDBPyConnection, cui: str) -> tuple[str, str]:
    if not cui:
        raise NotFoundError("give a concept id, e.g. umlsgraph concept C0027765")
    for candidate in dict.fromkeys((cui, cui.upper())):
        row = con.execute(f"SELECT cui, {unbar('name')} FROM concepts WHERE cui = ?",
                          [candidate]).fetchall()
        if row:
            return row[0]
    raise NotFoundError(f"unknown concept '{cui}'; find its id with `umlsgraph search NAME`")


def _rows(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> list[dict[str, Any]]:
    cursor = con.execute(sql, list(params))
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _synonyms(con: duckdb.DuckDBPyConnection, cui: str) -> dict[str, list[dict[str, Any]]]:
    """Source (SAB) -> its names for the concept, with term type and language."""
    rows = _rows(con, f"""SELECT sab, {unbar('str')} AS name, tty, lat
        FROM names WHERE cui = ? ORDER BY sab, lat, tty, str""", cui)
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row.pop("sab"), []).append(row)
    return out


def _edges_sql() -> str:
    """(child, parent, sab) of every hierarchy row touching `$cui`, oriented child -> parent."""
    return oriented_rows_sql("cui1 = $cui OR cui2 = $cui", columns="sab")


def _relatives(con: duckdb.DuckDBPyConnection, cui: str, role: str) -> list[dict[str, Any]]:
    """The concept's parents (role 'parent') or children ('child'), with names and sources."""
    other, me = ("parent", "child") if role == "parent" else ("child", "parent")
    cursor = con.execute(f"""
        SELECT e.{other} AS cui, {unbar('c.name')} AS name,
               list(DISTINCT e.sab ORDER BY e.sab) FILTER (WHERE e.sab IS NOT NULL) AS sources
        FROM ({_edges_sql()}) e LEFT JOIN concepts c ON c.cui = e.{other}
        WHERE e.{me} = $cui GROUP BY ALL ORDER BY name, cui LIMIT $limit""",
                         {"cui": cui, "limit": MAX_CHILDREN})
    return [{"cui": r[0], "name": r[1], "sources": r[2] or []} for r in cursor.fetchall()]


def _children_total(con: duckdb.DuckDBPyConnection, cui: str) -> int:
    return int(con.execute(f"SELECT count(DISTINCT child) FROM ({_edges_sql()}) "
                           "WHERE parent = $cui", {"cui": cui}).fetchall()[0][0])


def _queries(con: duckdb.DuckDBPyConnection, cui: str) -> dict[str, dict[str, Any]]:
    """Per query: annotations, predictions, and whether export's default rule selects it."""
    annotations = _rows(con, f"""SELECT query, annotator, prompt_hash, label, raw, score,
        CAST(created_at AS VARCHAR) AS created_at FROM {annotation_store.TABLE}
        WHERE source = ? AND id = ? ORDER BY query, created_at, annotator""", SOURCE, cui
        ) if annotation_store.has_table(con) else []
    predictions = _rows(con, f"""SELECT query, model, label, probability,
        CAST(created_at AS VARCHAR) AS created_at FROM {prediction_store.TABLE}
        WHERE source = ? AND id = ? ORDER BY query, created_at DESC""", SOURCE, cui
        ) if prediction_store.has_table(con) else []
    out: dict[str, dict[str, Any]] = {}
    for kind, rows in (("annotations", annotations), ("predictions", predictions)):
        for row in rows:
            out.setdefault(row.pop("query"), {"annotations": [], "predictions": []}
                           )[kind].append(row)
    for name, entry in out.items():
        entry.update(_selected(con, name, entry, cui))
    return dict(sorted(out.items()))


def _selected(con: duckdb.DuckDBPyConnection, query_name: str,
              entry: dict[str, Any], cui: str) -> dict[str, Any]:
    """Whether `export QUERY` (its defaults: the latest model's predictions and the default
    closure; the annotations where nothing is predicted) selects the concept, and why
    (`Selection.explain`: its own label, or the ancestor the closure selects it through)."""
    from umlsgraph.selection import SelectionOptions, select

    try:
        query = load_query(query_name)
    except QueryError:
        return {"selected": None, "selected_by": f"query file '{query_name}' not found"}
    model = prediction_store.resolve_model(con, query_name, SOURCE, None, required=False)
    options = SelectionOptions(source="predictions" if model else "annotations")
    try:
        selection = select(con, query, options)
    except (AnnotationError, StoreError) as exc:
        return {"selected": None, "selected_by": str(exc)}
    why = selection.explain(cui)
    by = (f"predictions of {model}" if model else
          f"annotations (no predictions), closure {selection.summary['closure']}")
    return {"selected": why["selected"], "selected_by": f"{by}; {why['why']}",
            "selected_via": why["via"], "query_selected": selection.count}
