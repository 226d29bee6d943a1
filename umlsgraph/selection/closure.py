"""Which selected concepts pass their selection down the hierarchy (`export --closure`).

A query that asks "is this concept an X?" has an answer closed downwards: a kind of X is an X.
The encoder judges each concept from its own text, and deep concepts (whose names and parents
no longer say what the query asks about) are where it misses most, while an annotator that
misjudges whole branches teaches it to miss them too. The hierarchy answers those concepts:
the descendants of a selected concept can be selected whatever their own labels say. Which
selected concepts may pass their selection down is the rule:

- ``none``: none; the labels as they are (what `check` analyses).
- ``confident``: the concepts the model selected with a probability of at
  least `CONFIDENT` (0.9). A wrong concept high in the hierarchy is usually one the model was
  unsure of; a concept an annotation selected has no probability of its own and passes
  nothing down (`all` closes annotations too).
- ``guarded`` (the default): `confident`, except below a suspicious island
  (`selection.root`: an island, not the selection's root, whose parents the labels believe
  at most 0.2): one confidently wrong island cannot pull its whole branch in.
- ``all``: every selected concept (`--descendants`). Most recall, but one wrong concept high
  in the hierarchy pulls its whole branch in.

`STUDY_CLOSURES` holds rules that `bench/closure_rules.py` scores but the CLI does not offer.

A concept annotated with another category (where the selection reads annotations) is never
added, nor walked through: a paid-for answer outranks the hierarchy, as it outranks the model.
Two guards keep a stray is-a row from pulling a whole branch in: only a concept's main parents
count (those of its best-ranked source, `db.items.ranked_parents_sql`), and no unselected
ancestor of the selection that sits on a cycle of them is added (it is both above and below
the selection; its own label decides). A hole, an unselected concept between selected ones
(what `check` lists), is above the selection but on no cycle: it is filled when the walk
reaches it, from a concept the rule lets pass its selection down.
`bench/closure_rules.py` chose `confident` over `none`, then `guarded` over `confident` (the
worst-case study: one confidently wrong island had pulled 1,306 wrong concepts into the demo),
each on dev subtrees, confirmed on fresh runs (bench/results/closure_rules.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from umlsgraph.errors import QueryError
from umlsgraph.selection.tables import ANNOTATED, PASSED, SCORES, SELECTED

if TYPE_CHECKING:  # the CLI reads the rule names at start-up; duckdb loads when one runs
    import duckdb

KINDS = "selection_kinds"
#: `confident`: the belief a selected concept needs to pass its selection down.
CONFIDENT = 0.9
#: `guarded`: an island (not the root) whose parents the labels believe at most this is
#: suspicious, and passes nothing down.
SUSPICIOUS_PARENT = 0.2


def _confident_sql(threshold: float) -> str:
    """The selected concepts the model selected (an annotation's selection has no probability
    of its own) with a probability of the positive category of at least `threshold`."""
    return f"""SELECT s.id FROM {SELECTED} s JOIN {SCORES} c USING (id)
            WHERE c.annotated IS NULL AND c.probability >= {float(threshold)!r}"""


def _guarded_sql(suspicious_parent: float) -> str:
    """`confident`'s concepts that are not below a suspicious island (`selection.root`)."""
    from umlsgraph.selection.root import trusted_sql

    return (f"SELECT id FROM ({_confident_sql(CONFIDENT)}) "
            f"WHERE id IN ({trusted_sql(suspicious_parent)})")


def _passes(rule: str) -> str | None:
    """SQL of the ids whose selection passes down under `rule` (None: no closure)."""
    return {"none": None, "all": f"SELECT id FROM {SELECTED}",
            "confident": _confident_sql(CONFIDENT),
            "guarded": _guarded_sql(SUSPICIOUS_PARENT),
            "rooted": _guarded_sql(1.0)}[rule]


#: The rules `export --closure` offers.
CLOSURES = ("confident", "guarded", "none", "all")
#: Rules only `bench/closure_rules.py` scores: `rooted` passes nothing down below any island
#: but the root (the study's stricter candidate).
STUDY_CLOSURES = ("rooted",)
#: The rules that read the islands (`selection.root.create_islands` must run first).
NEEDS_ISLANDS = ("guarded", "rooted")
#: What `export` does unless told otherwise: chosen on dev subtrees and confirmed on fresh
#: test runs by the pre-registered study in bench/results/closure_rules.md.
DEFAULT_CLOSURE = "guarded"


def resolve(closure: str | None, descendants: bool = False) -> str:
    """The rule `--closure` and `--descendants` (short for `--closure all`) ask for."""
    if closure is not None and closure not in CLOSURES + STUDY_CLOSURES:
        raise QueryError(f"unknown --closure '{closure}'; known: {', '.join(CLOSURES)}")
    if descendants and closure not in (None, "all"):
        raise QueryError(f"--descendants means --closure all; drop --descendants or "
                         f"--closure {closure}")
    return "all" if descendants else closure or DEFAULT_CLOSURE


def _create_cyclic(con: duckdb.DuckDBPyConnection) -> None:
    """Temp table `selection_cyclic`: the unselected ancestors of the selection that are their
    own ancestors (they sit on a cycle of main parents, so they are both above and below the
    selection; their own labels decide). Walking up from only these keeps the work at
    (ancestors of the selection) x (their ancestors); a hole, an unselected concept between
    selected ones, is above the selection too but on no cycle, and the closure fills it."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE selection_cyclic AS
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


def ensure_kinds(con: duckdb.DuckDBPyConnection) -> str:
    """Temp table `KINDS(child, parent)`: every concept's main parents (those of its
    best-ranked source, `db.items.ranked_parents_sql`), built once per selection; its name."""
    from umlsgraph.db.items import ranked_parents_sql

    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary AND "
                         "table_name = ?", [KINDS]).fetchall()[0][0]
    if not exists:
        con.execute(f"""CREATE TEMP TABLE {KINDS} AS
            SELECT DISTINCT child, parent FROM ({ranked_parents_sql()}) WHERE main""")
    return KINDS


def add_descendants(con: duckdb.DuckDBPyConnection, rule: str, candidates_sql: str,
                    also_pass_sql: str | None = None) -> int:
    """Add to `SELECTED` the descendants (among `candidates_sql`'s ids) of the selected
    concepts `rule` lets pass their selection down (kept in `PASSED`), and of the selected
    ids of `also_pass_sql` (a "yes" verdict, `selection.verdicts`) unless the rule is `none`;
    return how many were added. A concept annotated with another category (where the
    selection reads annotations or verdicts) is neither added nor walked through: a paid-for
    answer outranks the hierarchy."""
    passes = _passes(rule)
    if passes is not None and also_pass_sql is not None:
        passes = (f"{passes} UNION SELECT id FROM ({also_pass_sql}) "
                  f"WHERE id IN (SELECT id FROM {SELECTED})")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {PASSED} AS "
                + (f"SELECT DISTINCT id FROM ({passes})" if passes else
                   "SELECT NULL::VARCHAR AS id LIMIT 0"))
    if passes is None:
        return 0
    ensure_kinds(con)
    _create_cyclic(con)
    # Built once, not re-evaluated at every level of the walk: the cyclic ancestors (never
    # selected, by construction) and the concepts annotated with another category, inside the
    # query's [filter] or not (the walk goes through concepts outside it).
    con.execute(f"""CREATE OR REPLACE TEMP TABLE selection_blocked AS
        SELECT id FROM selection_cyclic
        UNION
        SELECT id FROM {ANNOTATED} WHERE id NOT IN (SELECT id FROM {SELECTED})""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE selection_descendants AS
        WITH RECURSIVE down(id) AS (
            SELECT id FROM {PASSED}
            UNION
            SELECT k.child FROM {KINDS} k JOIN down ON k.parent = down.id
            WHERE k.child NOT IN (SELECT id FROM selection_blocked))
        SELECT id FROM down
        WHERE id NOT IN (SELECT id FROM {SELECTED})
          AND id IN (SELECT id FROM ({candidates_sql}))""")
    con.execute(f"INSERT INTO {SELECTED} SELECT id FROM selection_descendants")
    added = con.execute("SELECT count(*) FROM selection_descendants").fetchall()[0][0]
    for table in ("selection_cyclic", "selection_descendants"):
        con.execute(f"DROP TABLE {table}")
    return int(added)
