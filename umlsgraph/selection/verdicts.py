"""A stronger annotator's answers as verdicts on the selection (`--verdicts ANNOTATOR`).

Real LLMs err in whole branches, and the encoder copies them (issue 30): re-asking the
concept at the top of a wrong island (`annotate --reask contradictions`) buys one answer,
while the model still selects the branch under it. When the selection names an annotator
whose answers are verdicts (the stronger one a run re-asked, an expert's review):

- its answer overrides the model's label on the item it answered (a paid-for answer outranks
  the model, as `--source both` has it for every annotator);
- a "no" takes out of the selection the concepts hanging from it: those selected by their
  own labels and reached from it down main parents through such concepts, except where a
  selected parent outside that branch holds one (a concept with two parents can still be a
  member through the other; what it holds stays too). Another verdict below a "no" stands on
  its own, and the closure never walks through a "no";
- a "yes" passes its selection down like a confident prediction (`selection.closure`):
  a kind of a member is a member, the rule `train --second-opinion closure` trains on.

The cut is set-based: two recursive walks bounded by the selection below the "no" answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from umlsgraph.db.sql import literal
from umlsgraph.selection.tables import CUT, LABELLED, VERDICTS

if TYPE_CHECKING:
    import duckdb


def create_verdicts(con: duckdb.DuckDBPyConnection, labels_sql: str | None) -> None:
    """Temp table `VERDICTS(id, label)` from `labels_sql` (None: empty)."""
    body = labels_sql or "SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS label LIMIT 0"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {VERDICTS} AS SELECT id, label FROM ({body})")


def positive_sql(positive: str) -> str:
    """SQL of the ids a verdict says are members (they pass their selection down)."""
    return f"SELECT id FROM {VERDICTS} WHERE label = {literal(positive)}"


def cut_below_no(con: duckdb.DuckDBPyConnection, positive: str, kinds: str) -> int:
    """Take out of `LABELLED` what hangs from a "no" verdict (the module docstring's rule)
    over the (child, parent) main-parent table `kinds`; keep them in `CUT(id, below)`, and
    return how many."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {CUT} AS
        WITH RECURSIVE
        hanging(id, below) AS (
            SELECT k.child, v.id FROM {VERDICTS} v JOIN {kinds} k ON k.parent = v.id
            WHERE v.label <> {literal(positive)}
              AND k.child IN (SELECT id FROM {LABELLED})
              AND k.child NOT IN (SELECT id FROM {VERDICTS})
            UNION
            SELECT k.child, h.below FROM hanging h JOIN {kinds} k ON k.parent = h.id
            WHERE k.child IN (SELECT id FROM {LABELLED})
              AND k.child NOT IN (SELECT id FROM {VERDICTS})),
        branch AS (SELECT id, min(below) AS below FROM hanging GROUP BY id),
        held(id) AS (
            SELECT b.id FROM branch b JOIN {kinds} k ON k.child = b.id
            WHERE k.parent IN (SELECT id FROM {LABELLED})
              AND k.parent NOT IN (SELECT id FROM branch)
            UNION
            SELECT k.child FROM held h JOIN {kinds} k ON k.parent = h.id
            WHERE k.child IN (SELECT id FROM branch))
        SELECT id, below FROM branch WHERE id NOT IN (SELECT id FROM held)""")
    con.execute(f"DELETE FROM {LABELLED} WHERE id IN (SELECT id FROM {CUT})")
    return int(con.execute(f"SELECT count(*) FROM {CUT}").fetchall()[0][0])
