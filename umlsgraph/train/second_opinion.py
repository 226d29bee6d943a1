"""Training labels when a second opinion overturns the first annotator on a whole branch.

LLMs err in whole branches (issue 30): an area of the hierarchy misjudged at once. Re-asking a
stronger annotator about the concept at the top of such a branch (`annotate --reask
contradictions`) corrects that one label, but the encoder still learns the branch's other
wrong labels and copies the error. So `train --annotator STRONG,WEAK --second-opinion RULE`
reads a strong answer as a verdict on the branch below it when it overturns the weak
annotator there:

- a strong answer at X *overturns* the weak annotator when, among X and every concept below
  it (is-a, `db.hierarchy`), more weak labels differ from the strong answer than agree with
  it. The weak labels of the branch, not the weak label of X alone, are what the encoder
  would learn from; and a strong "no" above the whole subtree (where the weak annotator
  also mostly said "no") overturns nothing;
- below an overturned X, each weak label that differs from the strong answer is
  - `closure` (the default): replaced by it when the answer is the query's positive category
    (what is below a member is a member: the rule the export's closure applies), left out
    otherwise (below a concept that is not a member, another parent can still make one);
  - `flip`: replaced by it, whichever category; `drop`: left out;
  a concept below two overturned answers that disagree is left out, and the strong
  annotator's own answers always win;
- `off`: the strong answer wins on the items it answered, nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence

from umlsgraph.db import annotation_store
from umlsgraph.db.hierarchy import edges_sql
from umlsgraph.db.sql import literal
from umlsgraph.errors import AnnotationError

RULES = ("closure", "flip", "drop", "off")
DEFAULT_RULE = "closure"


def second_opinion_labels_sql(query: str, source: str, chosen: Sequence[str], rule: str,
                              positive: str = "yes") -> str:
    """SQL of (id, label): the first of `chosen` as the second opinion over the others (in
    their order of priority), under `rule` (see the module docstring); `positive` is the
    query's positive category."""
    if rule not in RULES:
        raise AnnotationError(f"--second-opinion '{rule}': choose {', '.join(RULES)}")
    if rule == "off" or len(chosen) < 2:
        return annotation_store.labels_sql(query, source, chosen)
    flips = {"flip": "TRUE", "drop": "FALSE", "closure": f"f.label = {literal(positive)}"}
    return f"""{_overturned_cte(query, source, chosen)},
        verdict AS (
            SELECT b.id, min(o.label) AS label, count(DISTINCT o.label) AS verdicts
            FROM below b JOIN overturned o ON o.top = b.top WHERE b.id <> b.top GROUP BY b.id)
        SELECT id, label FROM strong
        UNION ALL
        SELECT w.id, CASE WHEN f.id IS NULL OR w.label = f.label THEN w.label
                          ELSE f.label END
        FROM weak w LEFT JOIN verdict f ON f.id = w.id
        WHERE w.id NOT IN (SELECT id FROM strong)
          AND (f.id IS NULL OR w.label = f.label OR (f.verdicts = 1 AND {flips[rule]}))"""


def overturned_counts_sql(query: str, source: str, chosen: Sequence[str]) -> str:
    """SQL of one row (overturned, disputed): strong answers that overturned their branch,
    and weak labels below them that differ from the verdict (what flip or drop touch)."""
    return f"""{_overturned_cte(query, source, chosen)}
        SELECT (SELECT count(*) FROM overturned),
               (SELECT count(DISTINCT b.id) FROM below b JOIN overturned o ON o.top = b.top
                JOIN weak w ON w.id = b.id WHERE b.id <> b.top AND w.label <> o.label
                AND b.id NOT IN (SELECT id FROM strong))"""


def _overturned_cte(query: str, source: str, chosen: Sequence[str]) -> str:
    """WITH strong, weak, below(top, id) (each strong item with every weakly labelled concept
    at or under it) and overturned(top, label) (the strong answers most weak labels of their
    branch differ from).

    The walk goes up from the weak labels (a sample: thousands of items, each with its
    ancestors), not down from the strong answers: one of those high in a full UMLS release has
    hundreds of thousands of descendants, and only the weakly labelled ones count."""
    strong = annotation_store.labels_sql(query, source, chosen[:1])
    weak = annotation_store.labels_sql(query, source, chosen[1:])
    return f"""
        WITH RECURSIVE strong AS ({strong}), weak AS ({weak}), edges AS ({edges_sql()}),
        up(id, ancestor) AS (
            SELECT id, id FROM weak
            UNION
            SELECT u.id, e.parent FROM up u JOIN edges e ON e.child = u.ancestor),
        below(top, id) AS (
            SELECT ancestor, id FROM up WHERE ancestor IN (SELECT id FROM strong)),
        overturned AS (
            SELECT b.top, s.label FROM below b JOIN strong s ON s.id = b.top
            JOIN weak w ON w.id = b.id GROUP BY b.top, s.label
            HAVING count(*) FILTER (WHERE w.label <> s.label)
                 > count(*) FILTER (WHERE w.label = s.label))"""
