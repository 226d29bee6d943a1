"""What each report section says: read from the store and the model folder, in DuckDB.

Each `*_section` returns a `Section` of facts, tables and figures; a step that has not run yet
becomes a section that says which command to run (`Hints`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import networkx as nx

from umlsgraph.db import annotation_store, prediction_store
from umlsgraph.db.items import ItemSource
from umlsgraph.errors import ModelError, NotFoundError
from umlsgraph.query import Query
from umlsgraph.report import plots
from umlsgraph.report.html import Image, Section, clip, escape, num, pct, table
from umlsgraph.train import kept

if TYPE_CHECKING:
    from umlsgraph.evaluate.consistency import Contradictions

PREDICTIONS = prediction_store.TABLE
MODEL_FILE = "umlsgraph.json"
HISTOGRAM_BINS = 20
#: How many nodes of the largest component the drawing shows (its top levels beyond that).
DRAW_NODES = 60
FAILURE_EXAMPLES = 5


class Hints:
    """The commands a section tells the user to run when its step has not run."""

    def __init__(self, query: Query, source: ItemSource, db: Path,
                 model_dir: Path | None = None) -> None:
        corpus = f" --corpus {source.key.split(':', 1)[1]}" if source.key != "concepts" else ""
        self.tail = f"{query.name} --db {db}{corpus}"
        self.model = f" --model {model_dir or 'MODEL_DIR'}"

    def __call__(self, step: str, extra: str = "") -> str:
        return f"not run yet: run `umlsgraph {step} {self.tail}{extra}`"


# --- annotations -------------------------------------------------------------------------


def annotation_counts(con: duckdb.DuckDBPyConnection, query: Query,
                      source: ItemSource) -> dict[str, dict[str | None, int]]:
    """{annotator: {category or None (unparseable): count}}, one key per prompt version."""
    rows = annotation_store.counts(con, query.name, source.key)
    hashes: dict[str, set[str]] = {}
    for annotator, prompt_hash, _, _ in rows:
        hashes.setdefault(annotator, set()).add(prompt_hash)
    out: dict[str, dict[str | None, int]] = {}
    for annotator, prompt_hash, label, n in rows:
        key = annotator if len(hashes[annotator]) == 1 else f"{annotator} @ {prompt_hash}"
        out.setdefault(key, {})[label] = out.get(key, {}).get(label, 0) + n
    return out


def annotation_section(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
                       hint: Hints) -> Section:
    section = Section("annotations", "Annotations: class balance")
    counts = annotation_counts(con, query, source)
    if not counts:
        section.missing = hint("annotate")
        return section
    categories = query.categories
    extra = sorted({k for c in counts.values() for k in c if k is not None} - set(categories))
    columns: list[str | None] = [*categories, *extra, None]
    rows = [[name, *[f"{c.get(k, 0):,}" for k in columns], f"{sum(c.values()):,}",
             pct(sum(c.get(k, 0) for k in categories if k == query.positive),
                  sum(v for k, v in c.items() if k is not None))]
            for name, c in counts.items()]
    section.body.append(table(["annotator", *[k or "unparseable" for k in columns], "total",
                                f"share '{query.positive}'"], rows))
    section.images.append(Image("class_balance", plots.class_balance(counts, categories),
                                "annotations per annotator and category"))
    section.facts = {name: {k or "unparseable": v for k, v in c.items()}
                     for name, c in counts.items()}
    return section


def failure_section(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
                    hint: Hints) -> Section:
    section = Section("failures", "Parse failures")
    if not annotation_store.counts(con, query.name, source.key):
        section.missing = hint("annotate")
        return section
    total, failed = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE label IS NULL) FROM {annotation_store.TABLE} "
        "WHERE query = ? AND source = ?", [query.name, source.key]).fetchone()  # type: ignore[misc]
    section.facts = {"answers": total, "unparseable": failed}
    section.body.append(f"<p><b>{failed:,}</b> of {total:,} answers ({pct(failed, total)}) "
                        "could not be parsed into a category; they are kept with their raw "
                        "text and never used for training.</p>")
    examples = con.execute(
        f"SELECT annotator, id, raw FROM {annotation_store.TABLE} WHERE query = ? AND source = ? "
        f"AND label IS NULL ORDER BY created_at DESC, id LIMIT {FAILURE_EXAMPLES}",
        [query.name, source.key]).fetchall()
    if examples:
        section.body.append(table(["annotator", "item", "raw answer"],
                                   [[a, i, clip(r or "", 300)] for a, i, r in examples],
                                   pre_last=True))
    return section


# --- training ----------------------------------------------------------------------------


def read_model_meta(model_dir: Path | None) -> dict[str, Any] | None:
    """The `umlsgraph.json` of a model folder `umlsgraph train` wrote, or None without one."""
    if model_dir is None:
        return None
    if not model_dir.is_dir():
        raise ModelError(f"{model_dir}: no such model folder; pass the folder `umlsgraph train`"
                         " wrote (its --out), or leave out --model")
    path = model_dir / MODEL_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: not valid JSON ({exc}); re-run `umlsgraph train`") from None


def training_history(meta: dict[str, Any]) -> list[dict[str, float]]:
    """Per-epoch {epoch, val_loss, val_f1, val_accuracy[, train_loss]} from `history`.

    `umlsgraph.train.trainer` records the validation metrics of each epoch under their plain
    names (`loss` is the validation loss).
    """
    names = {"val_loss": "loss", "val_f1": "f1", "val_accuracy": "accuracy",
             "train_loss": "train_loss"}
    out = []
    for i, record in enumerate(meta.get("history") or []):
        row = {"epoch": float(record.get("epoch", i + 1))}
        row.update({key: float(record[name]) for key, name in names.items()
                    if isinstance(record.get(name), (int, float))})
        out.append(row)
    return out


def validation_metrics(meta: dict[str, Any]) -> tuple[dict[str, float], list[list[int]] | None]:
    """(metrics, confusion matrix rows=annotated, columns=predicted) of the kept epoch."""
    best = (meta.get("run") or {}).get("best") or {}
    keys = ("epoch", "accuracy", "precision", "recall", "f1", "f1_macro", "loss", "n")
    metrics = {k: float(best[k]) for k in keys if isinstance(best.get(k), (int, float))}
    confusion = best.get("confusion")
    categories = list(meta.get("categories") or [])
    if isinstance(confusion, dict) and categories:
        confusion = [[int((confusion.get(g) or {}).get(p, 0)) for p in categories]
                     for g in categories]
    return metrics, confusion if is_matrix(confusion) else None


def training_section(meta: dict[str, Any] | None, model_dir: Path | None, model: str | None,
                     query: Query, hint: Hints) -> Section:
    section = Section("training", "Training")
    if meta is None:
        if model_dir is not None:
            section.missing = f"{model_dir} has no {MODEL_FILE}: " + hint(
                "train", f" --out {model_dir}").removeprefix("not run yet: ")
        elif model is not None:
            section.missing = (f"the predictions come from model `{model}`; pass its folder "
                               "with `--model DIR` to show its training curve")
        else:
            section.missing = hint("train", " --out MODEL_DIR")
        return section
    run = meta.get("run") or {}
    kept_text = kept.describe(kept.keep_of(meta), run.get("best_epoch", "?"),
                              run.get("epochs", "?"), meta.get("history") or [], query.positive)
    section.body.append(
        f"<p>Model {path_code(str(model_dir))} "
        f"(id <code>{escape(str(meta.get('model_id')))}</code>), fine-tuned from "
        f"{path_code(str(meta.get('base_model')))} on "
        f"{run.get('n_train', '?')} labelled items, validated on {run.get('n_val', '?')}, "
        f"{run.get('epochs', '?')} epochs in {run.get('seconds', 0):.0f} s; "
        f"{escape(kept_text)}.</p>")
    history = training_history(meta)
    if history:
        section.images.append(Image("training_curve", plots.training_curve(
            history, kept_epoch=run.get("best_epoch")), "validation loss and F1 per epoch"))
    metrics, confusion = validation_metrics(meta)
    against = validation_basis(run)
    if metrics:
        section.body.append(f"<p class='note'>{escape(against)}.</p>")
        section.body.append(table(["validation metric (kept epoch)", "value"],
                                   [[k, num(v)] for k, v in metrics.items()]))
    categories = list(meta.get("categories") or query.categories)
    if confusion is not None and len(confusion) == len(categories):
        section.images.append(Image("confusion_matrix",
                                    plots.confusion_matrix(confusion, categories),
                                    "validation confusion matrix"))
    section.facts = {"model": str(model_dir), "model_id": meta.get("model_id"),
                     "base_model": meta.get("base_model"), "epochs": len(history),
                     "kept": kept_text, "metrics": metrics, "measured_against": against,
                     "confusion": confusion}
    return section


def validation_basis(run: dict[str, Any]) -> str:
    """What the validation metrics are measured against, in words: the annotator's own
    labels on the held-back split, which says how well the encoder copies the annotator."""
    n_train, n_val = run.get("n_train"), run.get("n_val")
    share = (f"a {round(100 * n_val / (n_train + n_val))}% validation split ({n_val:,} items)"
             if isinstance(n_train, int) and isinstance(n_val, int) and n_val else
             "a validation split")
    return (f"F1 against the annotator's own labels on {share}, not against truth: it says "
            "how well the encoder copies the annotator (see Quality against gold)")


def path_code(path: str) -> str:
    """A model path as code: a local folder shows its last two parts, the full path as its
    tooltip; a hub id (`org/name`) as it is."""
    parts = Path(path).parts
    if not (Path(path).is_absolute() or path.startswith(("~", "."))) or len(parts) < 3:
        return f"<code>{escape(path)}</code>"
    return f"<code title=\"{escape(path)}\">…/{escape('/'.join(parts[-2:]))}</code>"


def is_matrix(value: Any) -> bool:
    return (isinstance(value, list) and bool(value)
            and all(isinstance(r, list) and len(r) == len(value) for r in value))


# --- predictions -------------------------------------------------------------------------


def choose_model(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
                  model_dir: Path | None, meta: dict[str, Any] | None) -> str | None:
    """The `model` key of the predictions to show: the given folder's `model_id` (what
    `label` stores), else the most recent one (`prediction_store.resolve_model`)."""
    if model_dir is not None:
        return str((meta or {}).get("model_id") or model_dir)
    return prediction_store.resolve_model(con, query.name, source.key, None, required=False)


def probability_bins(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
                     model: str) -> list[tuple[float, float, int]]:
    """(low, high, count) of the positive-category probability, binned inside DuckDB."""
    n = HISTOGRAM_BINS
    rows = dict(con.execute(
        f"SELECT least(floor(probability * {n}), {n - 1})::INT AS b, count(*) FROM {PREDICTIONS}"
        " WHERE query = ? AND source = ? AND model = ? AND probability IS NOT NULL GROUP BY b",
        [query.name, source.key, model]).fetchall())
    return [(b / n, (b + 1) / n, rows.get(b, 0)) for b in range(n)]


def prediction_section(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
                       model: str | None, hint: Hints) -> Section:
    section = Section("predictions", "Predictions")
    if model is None or not prediction_store.has_table(con):
        section.missing = hint("label", hint.model)
        return section
    labels = dict(con.execute(
        f"SELECT label, count(*) FROM {PREDICTIONS} WHERE query = ? AND source = ? "
        "AND model = ? GROUP BY label ORDER BY label", [query.name, source.key, model]).fetchall())
    if not labels:
        section.missing = hint("label", hint.model)
        return section
    total = sum(labels.values())
    section.body.append(f"<p>{total:,} items labelled by <code>{escape(model)}</code>.</p>")
    section.body.append(table(["category", "items", "share"],
                               [[k, f"{v:,}", pct(v, total)] for k, v in labels.items()]))
    bins = probability_bins(con, query, source, model)
    if any(c for _, _, c in bins):
        section.images.append(Image("probabilities",
                                    plots.probability_histogram(bins, query.positive),
                                    "histogram of predicted probabilities"))
    section.facts = {"model": model, "items": total, "labels": labels,
                     "histogram": [c for _, _, c in bins]}
    return section


# --- subontology -------------------------------------------------------------------------


def largest_component(con: duckdb.DuckDBPyConnection) -> nx.DiGraph:
    """The largest component of a built subontology, edges parent -> child, nodes `name`d.

    `umlsgraph.export.subontology` numbers components by size, so component 1 is the largest; only
    it is read into Python, whatever the size of the whole selection.
    """
    from umlsgraph.export.subontology import EDGES, HIERARCHY_TYPE, NODES

    graph = nx.DiGraph()
    for cui, name in con.execute(f"SELECT cui, name FROM {NODES} WHERE component = 1"
                                 ).fetchall():
        graph.add_node(cui, name=name)
    graph.add_edges_from(con.execute(
        f"SELECT to_cui, from_cui FROM {EDGES} WHERE type = ? AND from_cui IN "
        f"(SELECT cui FROM {NODES} WHERE component = 1)", [HIERARCHY_TYPE]).fetchall())
    return graph


def top_levels(graph: nx.DiGraph, limit: int = DRAW_NODES, max_children: int = 8,
               max_roots: int = 4) -> nx.DiGraph:
    """At most `limit` nodes of `graph` taken breadth-first from its main roots, with depth.

    The main roots are those spanning at least 5% of what the biggest root spans (at most
    `max_roots`), so a few stray roots don't crowd out the real top; each node shows its
    `max_children` biggest children, so one hub doesn't fill the drawing.
    """
    def size(node: Any) -> int:  # how much of the graph a node spans (cheap when large)
        return len(nx.descendants(graph, node)) if len(graph) <= 5000 else graph.out_degree(node)

    roots = sorted((n for n in graph if graph.in_degree(n) == 0), key=lambda n: (-size(n), n))
    roots = roots or [max(graph, key=lambda n: (graph.out_degree(n), n))]
    biggest = size(roots[0])
    roots = [r for r in roots[:max_roots] if size(r) >= 0.05 * biggest][:limit]
    depth = {r: 0 for r in roots}
    frontier = list(roots)
    while frontier and len(depth) < limit:
        nxt = []
        for node in frontier:
            children = sorted((c for c in graph.successors(node) if c not in depth),
                              key=lambda n: (-size(n), n))
            for child in children[:max_children]:
                if len(depth) < limit:
                    depth[child] = depth[node] + 1
                    nxt.append(child)
        frontier = nxt
    sub = graph.subgraph(depth).copy()
    nx.set_node_attributes(sub, depth, "depth")
    return sub


def subontology_section(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
                        model: str | None, hint: Hints, verdicts: str | None = None) -> Section:
    """Size of the subontology the predictions select, and a drawing of its largest part."""
    section = Section("subontology", "Subontology")
    try:
        from umlsgraph.export import subontology
    except ImportError:  # the export step is not installed: say so, draw nothing
        section.missing = "not available: this install has no umlsgraph.export (export)"
        return section
    section.missing = _without_hierarchy(con, query, source, model, hint)
    if section.missing:
        return section
    summary = subontology.build(con, query, source,
                                subontology.SubontologyOptions(model=model,
                                                               verdicts=verdicts)).summary
    keys = ("selected", "labelled", "descendants_added", "cut_by_verdicts", "nodes", "edges",
            "components", "largest_component", "isolated")
    section.facts = {k: summary[k] for k in keys if k in summary}
    if not summary.get("nodes"):
        section.missing = f"empty: no concept is predicted '{query.positive}' by {model}"
        return section
    section.body.append(table(["", "count"], [[k.replace("_", " "), f"{v:,}"]
                                               for k, v in section.facts.items()]))
    largest = largest_component(con)
    drawn = largest if len(largest) <= DRAW_NODES else top_levels(largest, DRAW_NODES)
    what = ("its largest component" if drawn is largest else
            f"the top levels of its largest component ({len(drawn)} of {len(largest):,} "
            "concepts, breadth-first from its roots)")
    section.body.append(f"<p>The concepts predicted '{escape(query.positive)}' (and the "
                        "descendants export's default closure adds) and the is-a edges between "
                        "them, as "
                        "<code>umlsgraph export</code> writes them. The drawing "
                        f"shows {what}; orange nodes have no parent inside the subontology; "
                        "dashed lines join a concept to its other parents.</p>")
    title = "Largest component" + ("" if drawn is largest else ": top levels")
    section.images.append(Image("subontology", plots.hierarchy_drawing(drawn, title),
                                "drawing of the largest component of the subontology"))
    return section


def _without_hierarchy(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
                       model: str | None, hint: Hints) -> str | None:
    """Why a section on the selection in the hierarchy can't be drawn (a flat corpus, no
    predictions yet), or None when it can."""
    if source.key != "concepts":
        return "not applicable: a flat corpus has no hierarchy to select from"
    if model is None or not prediction_store.has_table(con) or not _count_predictions(
            con, query, source, model):
        return hint("label", hint.model)
    return None


def _count_predictions(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
                       model: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {PREDICTIONS} WHERE query = ? AND source = ?"
                           " AND model = ?", [query.name, source.key, model]).fetchall()[0][0])


# --- contradictions of the hierarchy ------------------------------------------------------

#: How many islands and holes of each kind the report lists (`umlsgraph check` lists more).
CHECK_ROWS = 5


def consistency_section(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
                        model: str | None, hint: Hints, verdicts: str | None = None) -> Section:
    """Where the predictions' selection contradicts the hierarchy (`umlsgraph check`): the
    counts, and the most surprising islands and holes, so a reviewer knows where to start."""
    from umlsgraph.evaluate import consistency
    from umlsgraph.selection import SelectionOptions

    section = Section("check", "Contradictions of the hierarchy")
    section.missing = _without_hierarchy(con, query, source, model, hint)
    if section.missing:
        return section
    try:
        found = consistency.find_contradictions(
            con, query, SelectionOptions(model=model, verdicts=verdicts), limit=CHECK_ROWS)
    except NotFoundError:
        section.missing = f"empty: no concept is predicted '{query.positive}' by {model}"
        return section
    section.facts = {**found.counts, "roots": [r["cui"] for r in found.roots],
                     "islands_top": [r["cui"] for r in found.islands],
                     "holes_top": [r["cui"] for r in found.holes]}
    section.body.append(_check_summary(found))
    for rows, title, why in ((found.islands, "islands", consistency.explain_island),
                             (found.holes, "holes", consistency.explain_hole)):
        if rows:
            section.body.append(f"<h3>Most surprising {title}</h3>")
            section.body.append(table(
                ["id", "name", "P", "surprise", "why"],
                [[r["cui"], clip(r["name"] or "", 80), consistency.probability(r["probability"]),
                  f"{r['surprise']:.2f}", clip(why(r), 300)] for r in rows]))
    return section


def _check_summary(found: Contradictions) -> str:
    counts = found.counts
    roots = ", ".join(f"{r['cui']} {r['name']}" for r in found.roots) or "none"
    return (f"<p>{counts['selected']:,} concepts are selected: {counts['labelled']:,} by "
            f"their labels and {counts['closure_added']:,} added by the closure "
            f"<code>{escape(str(found.selection['closure']))}</code>. Of those selected by "
            f"their labels, <b>{counts['islands']:,}</b> "
            "are <i>islands</i> (selected, but none of their parents is) and "
            f"<b>{counts['holes']:,}</b> unselected concepts are <i>holes</i> (a parent "
            f"and a child selected); {counts['under_holes']:,} more islands sit under "
            f"a hole. The selection's root: {escape(roots)}. Review the most surprising first "
            "(<code>umlsgraph check</code> lists them all; <code>umlsgraph review</code> puts "
            "them at the top).</p>")
