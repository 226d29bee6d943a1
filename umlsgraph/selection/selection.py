"""`select`: what a query selects, built once in DuckDB temp tables, read through `Selection`.

The rule: the items whose label for the query is its positive category, from the encoder's
predictions (default), the annotators' answers, or both (an annotation overrides the
prediction where one exists); a probability threshold replaces the argmax rule for predicted
items. Then the closure (`selection.closure`) adds the descendants of the selected concepts
its rule lets pass their selection down. `export`, `check`, `eval --source selection`,
`review`, `concept`, the report, `run`, the demo and `bench/` all call `select`, so a concept
is selected, and the selection counted, the same way wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from umlsgraph.db import annotation_store, prediction_store
from umlsgraph.db.items import ConceptSource, ItemSource
from umlsgraph.db.sql import literal, unbar
from umlsgraph.errors import StoreError
from umlsgraph.query import Query
from umlsgraph.selection import closure as closures
from umlsgraph.selection import root, verdicts
from umlsgraph.selection.options import SelectionOptions
from umlsgraph.selection.tables import (
    ANNOTATED,
    BELIEFS,
    CUT,
    EDGES,
    ISLANDS,
    LABELLED,
    PASSED,
    SCORES,
    SELECTED,
    UP,
    VERDICTS,
)


@dataclass
class Selection:
    """A built selection on `con`: which items are selected, and why.

    `summary`: selection (the source), model, threshold, modified (the predictions' date),
    closure, labelled (selected by their own labels), descendants_added (by the closure),
    selected (the two together).
    """

    con: duckdb.DuckDBPyConnection
    query: Query
    options: SelectionOptions
    items: str
    summary: dict[str, Any] = field(default_factory=dict)
    #: SQL of the selected ids (one column, `id`).
    selected_sql: str = f"SELECT id FROM {SELECTED}"
    #: SQL of (id, predicted, annotated, label, probability) of every labelled candidate.
    scores_sql: str = f"SELECT id, predicted, annotated, label, probability FROM {SCORES}"
    #: SQL of the ids selected by their own labels, before the closure.
    labelled_sql: str = f"SELECT id FROM {LABELLED}"
    #: The temp table of selected ids, for code that narrows it (`export --mentioned-in`).
    table: str = SELECTED

    @property
    def count(self) -> int:
        """How many items are selected (labels and closure)."""
        return int(self.summary["selected"])

    def restrict(self, keep_sql: str) -> int:
        """Keep only the selected ids that `keep_sql` (one column) returns; the new count."""
        self.con.execute(f"DELETE FROM {SELECTED} WHERE id NOT IN ({keep_sql})")
        self.summary["selected"] = _count(self.con, SELECTED)
        return self.count

    def islands_sql(self) -> str:
        """SQL of (id, n_parents, parent_belief, descendants, is_root, closure_adds) of every
        island of the labelled selection (`selection.root`): `closure_adds`, how many
        concepts the closure added below it (through main parents and selected concepts)."""
        self._ensure_islands()
        if not self._closed():
            return f"SELECT *, 0::BIGINT AS closure_adds FROM {ISLANDS}"
        self.con.execute(f"""CREATE OR REPLACE TEMP TABLE selection_island_adds AS
            WITH RECURSIVE down(island, id) AS (
                SELECT id, id FROM {ISLANDS}
                UNION
                SELECT d.island, k.child FROM down d JOIN {closures.KINDS} k ON k.parent = d.id
                WHERE k.child IN (SELECT id FROM {SELECTED}))
            SELECT island AS id, count(*) AS closure_adds FROM down
            WHERE id NOT IN (SELECT id FROM {LABELLED}) GROUP BY island""")
        return f"""SELECT i.*, coalesce(a.closure_adds, 0) AS closure_adds FROM {ISLANDS} i
            LEFT JOIN selection_island_adds a USING (id)"""

    def island_summary(self, top: int = 3) -> dict[str, Any]:
        """The islands (root left out): how many, how many concepts the closure added below
        them, and the `top` that it added most below, {id, name, closure_adds} (what one
        confidently wrong island costs an export)."""
        islands = self.islands_sql()
        row = self.con.execute(f"SELECT count(*), coalesce(sum(closure_adds), 0) FROM "
                               f"({islands}) WHERE NOT is_root").fetchone()
        assert row is not None
        rows = self.con.execute(f"""SELECT i.id, {unbar('c.name')}, i.closure_adds
            FROM ({islands}) i LEFT JOIN concepts c ON c.cui = i.id
            WHERE NOT i.is_root AND i.closure_adds > 0
            ORDER BY i.closure_adds DESC, i.id LIMIT {int(top)}""").fetchall()
        return {"islands": int(row[0]), "added_below_islands": int(row[1]),
                "top": [{"id": r[0], "name": r[1], "closure_adds": int(r[2])} for r in rows]}

    def belief_sql(self) -> str:
        """SQL of (id, probability, annotation, belief) of every scored item."""
        self._ensure_islands()
        return f"SELECT * FROM {BELIEFS}"

    def labelled_edges(self) -> tuple[str, str]:
        """The names of the hierarchy's (child, parent) table and of (child, parent,
        parent_selected) of the labelled-selected children, for `check`'s holes."""
        self._ensure_islands()
        return EDGES, UP

    def explain(self, item: str) -> dict[str, Any]:
        """Why `item` is or is not selected: {id, selected, label, probability, annotated,
        via, why}. `via` names the ancestor the closure selected it through (or the nearest
        selected ancestor that does not pass its selection down). A point query: a few small
        lookups, walking up main parents level by level."""
        row = self.con.execute(f"SELECT predicted, annotated, probability FROM {SCORES} "
                               "WHERE id = ?", [item]).fetchone()
        predicted, annotated, probability = row if row else (None, None, None)
        selected = self._has(SELECTED, item)
        out = {"id": item, "selected": selected, "label": predicted, "annotated": annotated,
               "probability": probability, "via": None}
        if self._has(LABELLED, item):
            return {**out, "why": "selected by its own label: " + self._label_text(row)}
        if selected:
            via = self._nearest(item, PASSED)
            return {**out, "via": via, "why": f"added by the closure `{self.options.closure}`: "
                    f"a descendant of {via}, which passes its selection down"}
        return {**out, **self._not_selected(item, row)}

    # --- internals --------------------------------------------------------------------------

    def _label_text(self, row: tuple[Any, ...] | None) -> str:
        predicted, annotated, probability = row or (None, None, None)
        if annotated is not None and self._reads_annotations():
            return f"annotated '{annotated}'"
        p = "" if probability is None else f" (probability {probability:.2f})"
        return f"predicted '{predicted}'{p}"

    def _not_selected(self, item: str, row: tuple[Any, ...] | None) -> dict[str, Any]:
        if row is None:
            return {"why": "no label for this query (not labelled, or outside its [filter])"}
        above = self._nearest(item, SELECTED) if self._closed() else None
        why = "not selected: " + self._label_text(row)
        below = self._cut_below(item)
        if below:
            why += (f"; taken out: it hangs from {below}, which {self.options.verdicts} "
                    "judged not a member (--verdicts)")
            return {"via": below, "why": why}
        if row[1] is not None and self._reads_annotations() and above:
            why += f"; the annotation outranks the closure from {above}"
        elif above:
            why += (f"; below {above}, selected, which does not pass its selection down "
                    f"under `{self.options.closure}`")
        return {"via": above, "why": why}

    def _cut_below(self, item: str) -> str | None:
        """The "no" verdict whose branch `item` was taken out with (None: not taken out)."""
        if not _exists(self.con, CUT):
            return None
        row = self.con.execute(f"SELECT below FROM {CUT} WHERE id = ?", [item]).fetchone()
        return str(row[0]) if row else None

    def _reads_annotations(self) -> bool:
        return self.options.source != "predictions" or bool(self.options.verdicts)

    def _has(self, table: str, item: str) -> bool:
        return bool(self.con.execute(f"SELECT count(*) FROM {table} WHERE id = ?",
                                     [item]).fetchall()[0][0])

    def _closed(self) -> bool:
        return self.summary.get("closure") != "none" and _exists(self.con, closures.KINDS)

    def _nearest(self, item: str, table: str) -> str | None:
        """The nearest ancestor (through main parents) in `table`, the first by id."""
        if not _exists(self.con, closures.KINDS):
            return None
        seen, frontier = {item}, [item]
        while frontier:
            parents = [r[0] for r in self.con.execute(
                f"SELECT DISTINCT parent FROM {closures.KINDS} WHERE child IN "
                "(SELECT unnest($ids)) ORDER BY parent", {"ids": frontier}).fetchall()
                       if r[0] not in seen]
            if not parents:
                return None
            hit = self.con.execute(f"SELECT min(id) FROM {table} WHERE id IN "
                                   "(SELECT unnest($ids))", {"ids": parents}).fetchall()[0][0]
            if hit:
                return str(hit)
            seen.update(parents)
            frontier = parents
        return None

    def _ensure_islands(self) -> None:
        if not _exists(self.con, ISLANDS):
            root.create_beliefs(self.con, self.query.positive, self._reads_annotations())
            root.create_islands(self.con)


def select(con: duckdb.DuckDBPyConnection, query: Query,
           options: SelectionOptions | None = None,
           items: ItemSource | None = None) -> Selection:
    """Select `query`'s items by `options` (its defaults: the latest model's predictions,
    export's default closure) into temp tables on `con`; the closure applies to concepts
    only (a flat corpus has no hierarchy)."""
    options = options or SelectionOptions()
    source: ItemSource = items if items is not None else ConceptSource()  # type: ignore[assignment]
    source.check(con)
    model, pred, ann = _inputs(con, query, source, options)
    for table in (ISLANDS, BELIEFS, EDGES, UP, CUT, closures.KINDS):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    verdicts.create_verdicts(con, _verdicts_sql(con, query, source, options))
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {SCORES} AS
        WITH p AS ({pred}), a AS ({ann}),
        items AS (SELECT id FROM p UNION SELECT id FROM a)
        SELECT i.id, p.label AS predicted, a.label AS annotated,
               coalesce(a.label, p.label) AS label, p.probability
        FROM items i LEFT JOIN p USING (id) LEFT JOIN a USING (id)
        WHERE i.id IN (SELECT id FROM ({source.candidates_sql(query)}))""")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {ANNOTATED} AS SELECT id, label FROM ({ann})")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {LABELLED} AS "
                f"SELECT id FROM {SCORES} WHERE {_rule(query, options)}")
    hierarchy = isinstance(source, ConceptSource)
    cut = (verdicts.cut_below_no(con, query.positive, closures.ensure_kinds(con))
           if options.verdicts and hierarchy else 0)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {SELECTED} AS SELECT id FROM {LABELLED}")
    modified = con.execute(f"SELECT strftime(max(created_at), '%Y-%m-%d') FROM ({pred})"
                           ).fetchall()[0][0]
    chosen = options.closure if hierarchy else "none"
    selection = Selection(con, query, options, source.key)
    if chosen in closures.NEEDS_ISLANDS:
        selection._ensure_islands()
    labelled = _count(con, LABELLED)
    added = closures.add_descendants(con, chosen, source.candidates_sql(query),
                                     verdicts.positive_sql(query.positive))
    selection.summary = {"selection": options.source, "model": model,
                         "threshold": options.threshold, "modified": modified or "",
                         "closure": chosen, "labelled": labelled, "descendants_added": added,
                         "selected": labelled + added}
    if options.verdicts:
        selection.summary |= {"verdicts": options.verdicts,
                              "verdict_answers": _count(con, VERDICTS), "cut_by_verdicts": cut}
    return selection


def _inputs(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
            options: SelectionOptions) -> tuple[str | None, str, str]:
    """The model whose predictions count, and the SQL of its (id, label, probability,
    created_at) and of the chosen annotators' (id, label)."""
    model = prediction_store.resolve_model(con, query.name, source.key, options.model,
                                           required=False)
    ann = _annotation_labels_sql(con, query, source, options)
    if options.source == "predictions" and model is None:
        raise StoreError(f"no predictions for query '{query.name}' on {source.key}; run "
                         f"`umlsgraph label {query.name}` first (or select from annotations)")
    if ann is None and (options.source == "annotations" or model is None):
        raise StoreError(f"no annotations for query '{query.name}' on {source.key}; run "
                         f"`umlsgraph annotate {query.name}` first")
    pred = (prediction_store.labels_sql(query.name, source.key, model) if model else
            "SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS label, "
            "NULL::DOUBLE AS probability, NULL::TIMESTAMP AS created_at LIMIT 0")
    return model, pred, ann or "SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS label LIMIT 0"


def _annotation_labels_sql(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
                           options: SelectionOptions) -> str | None:
    """SQL of (id, label) from the annotations when the selection uses them and some exist:
    the verdicts' annotator first (`--verdicts`), then the chosen ones (whose labels count is
    `annotation_store.choose_annotators`, the rule train and eval use)."""
    first = [options.verdicts] if options.verdicts else []
    if options.source == "predictions" or (
            not annotation_store.annotators(con, query.name, source.key)
            and options.annotator is None):
        return _verdicts_sql(con, query, source, options)
    chosen = annotation_store.choose_annotators(con, query.name, source.key, options.annotator)
    return annotation_store.labels_sql(query.name, source.key,
                                       first + [a for a in chosen if a not in first])


def _verdicts_sql(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
                  options: SelectionOptions) -> str | None:
    """SQL of (id, label) of the verdicts' annotator (None without one); one that gave no
    label for this query is the one-line error `choose_annotators` makes."""
    if not options.verdicts:
        return None
    chosen = annotation_store.choose_annotators(con, query.name, source.key, options.verdicts)
    return annotation_store.labels_sql(query.name, source.key, chosen)


def _rule(query: Query, options: SelectionOptions) -> str:
    """The SQL condition on `SCORES` that selects an item by its own labels."""
    positive = literal(query.positive)
    by_prediction = (f"probability >= {float(options.threshold)!r}"
                     if options.threshold is not None else f"predicted = {positive}")
    if options.source == "predictions" and not options.verdicts:
        return by_prediction
    if options.source == "annotations":
        return f"annotated = {positive}"
    return (f"(annotated IS NOT NULL AND annotated = {positive}) "
            f"OR (annotated IS NULL AND {by_prediction})")


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary AND "
                            "table_name = ?", [table]).fetchall()[0][0])


def summaries(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """Per query with concept predictions, what `export QUERY` selects by default (its
    summary: model, closure, labelled, descendants_added, selected), or why it cannot say."""
    from umlsgraph.errors import UmlsgraphError
    from umlsgraph.query import load_query

    out: dict[str, dict[str, Any]] = {}
    for name in prediction_store.queries(con, "concepts"):
        try:
            out[name] = select(con, load_query(name)).summary
        except UmlsgraphError as exc:
            out[name] = {"error": str(exc)}
    return out
