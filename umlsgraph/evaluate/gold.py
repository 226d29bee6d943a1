"""Gold labels from the hierarchy: a concept is positive when it lies in a root's subtree.

For an ontology such as HPO, "Is this phenotype an abnormality of the nervous system?" has a
gold answer: yes for HP:0000707 and every descendant, no for the rest. `subtree_gold` computes
it in DuckDB with a recursive query over the one hierarchy rule of `db/hierarchy.py` (both
PAR and CHD, so a release that states only one of them works too), and `write_gold_csv`
writes the `id,label` file that `umlsgraph eval --gold` reads.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb

from umlsgraph.curies import to_cui
from umlsgraph.db import require_tables
from umlsgraph.db.hierarchy import descendants_sql
from umlsgraph.db.sql import literal
from umlsgraph.errors import QueryError


def subtree_gold_sql(root_id: str, positive: str = "yes", negative: str = "no") -> str:
    """SQL of (id, label) over all concepts, e.g. for `evaluate(..., gold_sql=...)`."""
    return f"""
        WITH sub AS ({descendants_sql(literal(root_id))})
        SELECT c.cui AS id,
               CASE WHEN s.cui IS NULL THEN {literal(negative)} ELSE {literal(positive)} END
               AS label
        FROM concepts c LEFT JOIN sub s ON s.cui = c.cui"""


def subtree_gold(con: duckdb.DuckDBPyConnection, root_id: str, positive: str = "yes",
                 negative: str = "no") -> list[tuple[str, str]]:
    """(id, label) for every concept, ordered by id: `positive` in root_id's subtree."""
    require_tables(con, "concepts", "relations")
    root_id = to_cui(root_id)
    found = con.execute("SELECT count(*) FROM concepts WHERE cui = ?", [root_id]).fetchone()
    if not found or not found[0]:
        raise QueryError(
            f"root {root_id!r} is not a concept in the database; pass a loaded id "
            "(e.g. HP:0000707 or C0027765)")
    sql = subtree_gold_sql(root_id, positive, negative) + " ORDER BY id"
    return [(str(cui), str(label)) for cui, label in con.execute(sql).fetchall()]


def write_gold_csv(rows: list[tuple[str, str]], out: str | Path) -> Path:
    """Write `id,label` rows (with that header) to a CSV file; return its path."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("id", "label"))
        writer.writerows(rows)
    return path


def subtree_gold_csv(db: str | Path, root_id: str, out: str | Path, positive: str = "yes",
                     negative: str = "no") -> dict[str, int | str]:
    """Compute the subtree gold of `root_id` in the store `db` and write it; return counts."""
    from umlsgraph.db import connect

    con = connect(db, read_only=True)
    try:
        rows = subtree_gold(con, root_id, positive, negative)
    finally:
        con.close()
    write_gold_csv(rows, out)
    n_pos = sum(1 for _, label in rows if label == positive)
    return {"out": str(out), "root": root_id, "concepts": len(rows), positive: n_pos,
            negative: len(rows) - n_pos}
