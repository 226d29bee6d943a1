"""Predictions written straight into a store (the `predictions` table of TEAM.md), for export tests.

The synthetic release's hierarchy is a 4-ary tree: concept i > 0 has parent (i - 1) // 4, so
the subtree of C0000001 is 1, 5-8, 21-36, 85-148, and C0000005 -> C0000001 is a known
child -> parent edge.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

QUERY = "nervous_system"
MODEL = "models/test-encoder"
PREDICTIONS_DDL = """CREATE TABLE IF NOT EXISTS predictions (
    query VARCHAR, source VARCHAR, id VARCHAR, label VARCHAR, probability DOUBLE,
    model VARCHAR, created_at TIMESTAMP, PRIMARY KEY (query, source, id, model))"""
#: Selected but without a selected relative: isolated in the subontology.
ISOLATED = ("C0000290", "C0000295")
KNOWN_CHILD, KNOWN_PARENT = "C0000005", "C0000001"


def cui(i: int) -> str:
    return f"C{i:07d}"


def subtree(root: int, size: int = 300) -> set[str]:
    """The CUIs of the synthetic subtree under `root`."""
    keep, frontier = {root}, [root]
    while frontier:
        frontier = [c for p in frontier for c in range(4 * p + 1, 4 * p + 5) if c < size]
        keep.update(frontier)
    return {cui(i) for i in keep}


def write_predictions(db: Path, positives: dict[str, float], query: str = QUERY,
                      model: str = MODEL, source: str = "concepts",
                      created: str = "2025-01-02 03:04:05") -> None:
    """Predict every concept: `positives` get label yes with their probability, others no/0.1."""
    con = duckdb.connect(str(db))
    try:
        con.execute(PREDICTIONS_DDL)
        con.execute("CREATE TEMP TABLE pos (id VARCHAR, p DOUBLE)")
        if positives:
            con.executemany("INSERT INTO pos VALUES (?, ?)", list(positives.items()))
        con.execute("""INSERT OR REPLACE INTO predictions
            SELECT ?, ?, c.cui, CASE WHEN pos.id IS NULL THEN 'no' ELSE 'yes' END,
                   coalesce(pos.p, 0.1), ?, ?::TIMESTAMP
            FROM concepts c LEFT JOIN pos ON pos.id = c.cui""", [query, source, model, created])
    finally:
        con.close()


def synthetic_positives() -> dict[str, float]:
    """Subtree of C0000001 (probability 0.9, its deepest level 0.6) plus two isolated leaves."""
    positives = {c: 0.9 for c in subtree(1)}
    positives.update({cui(i): 0.6 for i in range(85, 149)})
    positives.update({c: 0.95 for c in ISOLATED})
    return positives


def rename(db: Path, concept: str, name: str) -> None:
    """Give a concept a new preferred name (and atom string)."""
    con = duckdb.connect(str(db))
    try:
        con.execute("UPDATE concepts SET name = ? WHERE cui = ?", [name, concept])
        con.execute("UPDATE names SET str = ? WHERE cui = ? AND ts = 'P' AND stt = 'PF' "
                    "AND ispref = 'Y'", [name, concept])
    finally:
        con.close()


def hpo_positives(db: Path, root: str) -> dict[str, float]:
    """The real HPO subtree under `root` (e.g. HP:0001250 Seizure), all predicted yes."""
    from umlsgraph.evaluate.gold import subtree_gold_sql

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(f"SELECT id FROM ({subtree_gold_sql(root)}) WHERE label = 'yes'"
                           ).fetchall()
    finally:
        con.close()
    return {r[0]: 0.8 for r in rows}
