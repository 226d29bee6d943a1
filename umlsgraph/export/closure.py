"""Which selected concepts pass their selection down the hierarchy (`export --closure`).

A query that asks "is this concept an X?" has an answer closed downwards: a kind of X is an X.
The encoder judges each concept from its own text, and deep concepts (whose names and parents
no longer say what the query asks about) are where it misses most, while an annotator that
misjudges whole branches teaches it to miss them too. The hierarchy answers those concepts:
the descendants of a selected concept can be selected whatever their own labels say. Which
selected concepts may pass their selection down is the rule:

- ``none``: none; the labels as they are (what `check` reads).
- ``confident`` (the default): the concepts the model selected with a probability of at
  least `CONFIDENT` (0.9). A wrong concept high in the hierarchy is usually one the model was
  unsure of; a concept an annotation selected has no probability of its own and passes
  nothing down (`all` closes annotations too).
- ``all``: every selected concept (`--descendants`). Most recall, but one wrong concept high
  in the hierarchy pulls its whole branch in.
- ``body``: the concepts inside the selection's body, those with a selected main parent, and
  the selection's root (the island with the most selected descendants through selected
  concepts, the first by id among equals).
  An island, a selected concept none of whose main parents is selected, passes nothing down.
- ``top50``/``top25``: the model-selected concepts whose probability is among the top half
  (quarter) of theirs: a threshold that follows the model's calibration.

A concept annotated with another category (where the selection reads annotations) is never
added, nor walked through: a paid-for answer outranks the hierarchy, as it outranks the model.
Two guards keep a stray is-a row from pulling a whole branch in: only a concept's main parents
count (those of its best-ranked source, `db.items.ranked_parents_sql`), and no unselected
ancestor of the selection that sits on a cycle of them is added (it is both above and below
the selection; its own label decides). A hole, an unselected concept between selected ones
(what `check` lists), is above the selection but on no cycle: it is filled when the walk
reaches it, from a concept the rule lets pass its selection down.
`bench/closure_rules.py` chose the default on dev subtrees
and confirmed it on test subtrees (bench/results/closure_rules.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from umlsgraph.errors import QueryError

if TYPE_CHECKING:  # the CLI reads the rule names at start-up; duckdb loads when one runs
    import duckdb

SELECTED = "subontology_selected"
SCORES = "subontology_scores"
KINDS = "subontology_kinds"


def _belief_sql() -> str:
    """(id, belief) of the selected concepts the model selected: its predicted probability of
    the positive category. A concept an annotation selected has no probability of its own
    (the model's is overruled), so the probability rules pass nothing down from it."""
    return f"""SELECT s.id, c.probability AS belief
            FROM {SELECTED} s JOIN {SCORES} c USING (id)
            WHERE c.annotated IS NULL AND c.probability IS NOT NULL"""


def _confident_sql(threshold: float) -> str:
    """The selected concepts whose belief is at least `threshold`."""
    return f"SELECT id FROM ({_belief_sql()}) WHERE belief >= {float(threshold)!r}"


def _top_sql(share: float) -> str:
    """The model-selected concepts whose probability is among the top `share` of theirs: at
    least the one at position floor(n * (1 - share)) of the n in ascending order."""
    return f"""WITH b AS ({_belief_sql()}),
        ranked AS (SELECT belief, row_number() OVER (ORDER BY belief) - 1 AS k,
                          count(*) OVER () AS n FROM b)
        SELECT id FROM b WHERE belief >= (
            SELECT belief FROM ranked WHERE k = least(n - 1, floor(n * {1 - share!r})))"""


#: `confident`: the belief a selected concept needs to pass its selection down.
CONFIDENT = 0.9
#: SQL of the ids whose selection passes down, per rule (on `KINDS` and `SELECTED`).
ROOTS: dict[str, str | None] = {
    "none": None,
    "all": f"SELECT id FROM {SELECTED}",
    "body": f"""WITH RECURSIVE
        inside AS (SELECT DISTINCT k.child AS id FROM {KINDS} k
                   JOIN {SELECTED} p ON p.id = k.parent
                   WHERE k.child IN (SELECT id FROM {SELECTED})),
        islands AS (SELECT id FROM {SELECTED} WHERE id NOT IN (SELECT id FROM inside)),
        down(island, id) AS (
            SELECT id, id FROM islands
            UNION
            SELECT d.island, k.child FROM down d JOIN {KINDS} k ON k.parent = d.id
            WHERE k.child IN (SELECT id FROM {SELECTED}))
        SELECT id FROM inside
        UNION ALL
        (SELECT island FROM down GROUP BY island ORDER BY count(*) DESC, island LIMIT 1)""",
    "confident": _confident_sql(CONFIDENT),
    "top50": _top_sql(0.5),
    "top25": _top_sql(0.25),
}
CLOSURES = tuple(ROOTS)
#: What `export` does unless told otherwise: chosen on dev subtrees and confirmed on fresh
#: test runs by the pre-registered study in bench/results/closure_rules.md.
DEFAULT_CLOSURE = "confident"


def resolve(closure: str | None, descendants: bool = False) -> str:
    """The rule `--closure` and `--descendants` (short for `--closure all`) ask for."""
    if closure is not None and closure not in CLOSURES:
        raise QueryError(f"unknown --closure '{closure}'; known: {', '.join(CLOSURES)}")
    if descendants and closure not in (None, "all"):
        raise QueryError(f"--descendants means --closure all; drop --descendants or "
                         f"--closure {closure}")
    return "all" if descendants else closure or DEFAULT_CLOSURE


def _create_cyclic(con: duckdb.DuckDBPyConnection) -> None:
    """Temp table `subontology_cyclic`: the unselected ancestors of the selection that are their
    own ancestors (they sit on a cycle of main parents, so they are both above and below the
    selection; their own labels decide). Walking up from only these keeps the work at
    (ancestors of the selection) x (their ancestors); a hole, an unselected concept between
    selected ones, is above the selection too but on no cycle, and the closure fills it."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE subontology_cyclic AS
        WITH RECURSIVE up(id) AS (
            SELECT k.parent FROM {KINDS} k WHERE k.child IN (SELECT id FROM {SELECTED})
            UNION
            SELECT k.parent FROM {KINDS} k JOIN up ON k.child = up.id),
        above AS (SELECT id FROM up WHERE id NOT IN (SELECT id FROM {SELECTED})),
        walk(start, id) AS (
            SELECT a.id, k.parent FROM above a JOIN {KINDS} k ON k.child = a.id
            UNION
            SELECT w.start, k.parent FROM walk w JOIN {KINDS} k ON k.child = w.id)
        SELECT DISTINCT start AS id FROM walk WHERE id = start""")


def add_descendants(con: duckdb.DuckDBPyConnection, rule: str, candidates_sql: str) -> int:
    """Add to `SELECTED` the descendants (among `candidates_sql`'s ids) of the selected
    concepts `rule` lets pass their selection down; return how many were added. A concept
    annotated with another category (where the selection reads annotations) is neither added
    nor walked through: a paid-for answer outranks the hierarchy, as it outranks the model."""
    from umlsgraph.db.items import ranked_parents_sql

    roots = ROOTS[rule]
    if roots is None:
        return 0
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {KINDS} AS
        SELECT DISTINCT child, parent FROM ({ranked_parents_sql()}) WHERE main""")
    _create_cyclic(con)
    # Built once, not re-evaluated at every level of the walk: the cyclic ancestors (never
    # selected, by construction) and the concepts annotated with another category.
    con.execute(f"""CREATE OR REPLACE TEMP TABLE subontology_blocked AS
        SELECT id FROM subontology_cyclic
        UNION
        SELECT id FROM {SCORES} WHERE annotated IS NOT NULL
            AND id NOT IN (SELECT id FROM {SELECTED})""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE subontology_descendants AS
        WITH RECURSIVE down(id) AS (
            SELECT id FROM ({roots})
            UNION
            SELECT k.child FROM {KINDS} k JOIN down ON k.parent = down.id
            WHERE k.child NOT IN (SELECT id FROM subontology_blocked))
        SELECT id FROM down
        WHERE id NOT IN (SELECT id FROM {SELECTED})
          AND id IN (SELECT id FROM ({candidates_sql}))""")
    con.execute(f"INSERT INTO {SELECTED} SELECT id FROM subontology_descendants")
    added = con.execute("SELECT count(*) FROM subontology_descendants").fetchall()[0][0]
    for table in (KINDS, "subontology_cyclic", "subontology_blocked",
                  "subontology_descendants"):
        con.execute(f"DROP TABLE {table}")
    return int(added)
