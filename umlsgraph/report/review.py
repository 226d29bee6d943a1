"""`umlsgraph review`: one offline HTML page where a reviewer accepts or rejects concepts.

The page lists the concepts the query's predictions select and the borderline ones (not
selected, but with a positive probability of at least `borderline`), each with its text,
probability, the annotator's label and its parents. Where the selection contradicts the
hierarchy (`umlsgraph check`: islands and holes, whatever their probability) comes first, most
surprising first, marked; then the rest, most uncertain first (closest to 0.5).
Which predictions and whose labels are shown follow the store's two rules,
`prediction_store.resolve_model` and `annotation_store.choose_annotators` (several annotators
without `--annotator` is the same error as in train, eval and export).
The reviewer filters by semantic type, searches, pages through, marks accept/reject, and
downloads a labels CSV (``id,label``) that ``umlsgraph annotate QUERY --labels-file FILE
--annotator human:NAME`` imports; `train`, `eval` and `export --source` then use it.

Everything is inline (CSS, JS, data); nothing is fetched, so it works from file://. The
rows travel as JSON in a ``<script type="application/json">`` block with ``<``, ``>`` and
``&`` written as \\u escapes, so no string in the store can close the block or open a tag;
the script puts every value into the page with `textContent`, never as HTML. Only the
current page of rows (100 by default) is in the DOM, so 100k rows stay responsive.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from umlsgraph.db import annotation_store, connect, prediction_store
from umlsgraph.db.hierarchy import oriented_rows_sql
from umlsgraph.db.items import ConceptSource, concept_text_sql
from umlsgraph.errors import NotFoundError, QueryError
from umlsgraph.export.formats import atomic_file
from umlsgraph.query import Query, load_query

COLUMNS = ["cui", "name", "text", "probability", "selected", "annotator_label", "annotator",
           "semantic_types", "parents", "contradiction", "surprise"]
#: Row orders: contradictions of the hierarchy first (by surprise, then most uncertain), or
#: most uncertain first.
ORDERS = ("contradictions", "uncertain")
NO_FLAGS = "SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS kind, NULL::DOUBLE AS surprise LIMIT 0"
NOTHING = "SELECT NULL::VARCHAR AS id LIMIT 0"


@dataclass(frozen=True)
class ReviewResult:
    """What `build_review` wrote."""

    path: Path
    model: str
    selected: int
    borderline: int
    contradictions: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "model": self.model, "selected": self.selected,
                "borderline": self.borderline, "contradictions": self.contradictions}


def build_review(db: str | Path, query: Query | str, out: Path, model: str | None = None,
                 borderline: float = 0.2, annotator: str | None = None,
                 order: str = "contradictions", closure: str | None = None) -> ReviewResult:
    """Write the review page for `query`'s latest (or `model`'s) predictions to `out`, with
    the labels of `annotator` (default: the only one; none shown when nobody annotated).
    "selected" is what `export` selects from those predictions (`umlsgraph.selection`, under
    `closure`, export's default when None): the concepts the closure adds are on the page.

    Islands and holes of the selection (`evaluate.consistency`) are always on the page,
    whatever their probability, marked; `order="contradictions"` lists them first."""
    query = load_query(query) if isinstance(query, str) else query
    if not 0.0 <= borderline <= 0.5:
        raise QueryError(f"--borderline must be between 0 and 0.5, got {borderline}")
    if order not in ORDERS:
        raise QueryError(f"unknown --order '{order}'; known: {', '.join(ORDERS)}")
    con = connect(db, read_only=True)
    try:
        source = ConceptSource()
        source.check(con)
        used = prediction_store.resolve_model(con, query.name, source.key, model)
        assert used is not None  # required=True raises when there are none
        annotators = _annotators(con, query.name, source.key, annotator)
        flagged, selected = _flagged(con, query, used, closure)
        rows = review_rows(con, query, used, borderline, annotators, flagged, order, selected)
    finally:
        con.close()
    if not rows:
        raise NotFoundError(f"model {used} selects no concept of '{query.name}' and none has "
                            f"a positive probability ≥ {borderline}; nothing to review")
    meta = {"query": query.name, "positive": query.positive, "categories": query.categories,
            "model": used, "borderline": borderline, "order": order,
            "generated": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    write_page(out, meta, rows)
    chosen = sum(1 for r in rows if r[4])
    contradictions = sum(1 for r in rows if r[COLUMNS.index("contradiction")])
    return ReviewResult(out, used, chosen, len(rows) - chosen, contradictions)


def _flagged(con: duckdb.DuckDBPyConnection, query: Query, model: str,
             closure: str | None) -> tuple[str, str]:
    """SQL of (id, kind, surprise) of the islands and holes of `model`'s selection, and SQL of
    the ids that selection selects."""
    from umlsgraph.evaluate import consistency
    from umlsgraph.selection import SelectionOptions, resolve

    try:
        found = consistency.find_contradictions(
            con, query, SelectionOptions(model=model, closure=resolve(closure)), limit=0)
    except NotFoundError:  # nothing selected: nothing contradicts the hierarchy
        return NO_FLAGS, NOTHING
    return consistency.flagged_sql(), found.selected_sql


def _annotators(con: duckdb.DuckDBPyConnection, query: str, source: str,
                annotator: str | None) -> list[str]:
    """Whose labels the page shows: `choose_annotators`' answer, or nobody's when no
    annotator labelled the query and none was asked for."""
    if annotator is None and not annotation_store.annotators(con, query, source):
        return []
    return annotation_store.choose_annotators(con, query, source, annotator)


def review_rows(con: duckdb.DuckDBPyConnection, query: Query, model: str,
                borderline: float, annotators: list[str] | None = None,
                flagged: str = NO_FLAGS, order: str = "contradictions",
                selected: str = NOTHING) -> list[list[Any]]:
    """The rows of the page (in `COLUMNS` order): the `selected` (SQL of ids: the
    selection's), the borderline and the `flagged` (id, kind, surprise) ones, by `order` (see
    `ORDERS`); the annotator columns hold the labels of `annotators` (see
    `choose_annotators`), empty without."""
    ann = (annotation_store.labels_sql(query.name, "concepts", annotators, with_annotator=True)
           if annotators else
           "SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS label, NULL::VARCHAR AS annotator "
           "LIMIT 0")
    sql = f"""
    WITH f AS ({flagged}), s AS ({selected}),
    r AS (SELECT id, label, probability FROM predictions WHERE query = $q
               AND source = 'concepts' AND model = $m
               AND (id IN (SELECT id FROM s) OR probability >= $low
                    OR id IN (SELECT id FROM f))),
    t AS ({concept_text_sql(query.text, "SELECT id FROM r")}),
    a AS ({ann}),
    sty AS (SELECT cui, list(DISTINCT sty ORDER BY sty) AS types FROM semantic_types
            WHERE cui IN (SELECT id FROM r) GROUP BY cui),
    edges AS ({oriented_rows_sql(
        "cui1 IN (SELECT id FROM r) OR cui2 IN (SELECT id FROM r)", columns="")}),
    par AS (SELECT e.child AS cui,
                   list(DISTINCT replace(c.name, '&#x7C;', '|') ORDER BY
                        replace(c.name, '&#x7C;', '|'))[1:5] AS parents
            FROM edges e JOIN concepts c ON c.cui = e.parent
            WHERE e.child IN (SELECT id FROM r) GROUP BY e.child)
    SELECT r.id, replace(c.name, '&#x7C;', '|'), t.text, round(r.probability, 4),
           r.id IN (SELECT id FROM s), a.label, a.annotator,
           coalesce(sty.types, []::VARCHAR[]), coalesce(par.parents, []::VARCHAR[]),
           f.kind, round(f.surprise, 4)
    FROM r JOIN concepts c ON c.cui = r.id LEFT JOIN t ON t.id = r.id
    LEFT JOIN a ON a.id = r.id LEFT JOIN sty ON sty.cui = r.id LEFT JOIN par ON par.cui = r.id
    LEFT JOIN f ON f.id = r.id
    ORDER BY {"f.surprise IS NULL, f.surprise DESC, " if order == "contradictions" else ""}
             abs(coalesce(r.probability, 0.5) - 0.5), r.id"""
    params = {"q": query.name, "m": model, "low": float(borderline)}
    return [list(row) for row in con.execute(sql, params).fetchall()]


def script_json(data: Any) -> str:
    """JSON that is safe inside a <script> block: no `<`, `>` or `&` appear literally, and
    every non-ASCII character (U+2028 included) is escaped."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def write_page(out: Path, meta: dict[str, Any], rows: list[list[Any]]) -> None:
    """Write the page atomically (a failure leaves no half-written file)."""
    data = {"meta": meta, "columns": COLUMNS, "rows": rows}
    parts = {"__TITLE__": html.escape(f"review: {meta['query']}"), "__STYLE__": _asset("css"),
             "__SCRIPT__": _asset("js"), "__DATA__": script_json(data)}
    page = re.sub("__(TITLE|STYLE|SCRIPT|DATA)__", lambda m: parts[m.group(0)], _asset("html"))
    with atomic_file(out) as tmp:
        tmp.write_text(page, encoding="utf-8")


def _asset(kind: str) -> str:
    """The page's template, style or script (umlsgraph/report/assets/review.*)."""
    return (resources.files("umlsgraph.report") / "assets" / f"review.{kind}").read_text(
        encoding="utf-8")
