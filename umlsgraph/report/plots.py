"""The report's figures, drawn with matplotlib (the `report` extra) into PNG bytes.

Every function takes plain data (counts, lists, a networkx graph) and returns a PNG, so the
report can write it beside the HTML and inline it as base64. matplotlib is imported inside
`_pyplot()` with the non-interactive Agg backend: no screen, no `umlsgraph --help` cost.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx

from umlsgraph.errors import missing_extra

#: Colours for categories in order (the positive one is drawn in the first), then grey.
PALETTE = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#b7791f")
FAILED = "#a0aec0"
DPI = 110


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise missing_extra("matplotlib", "report") from None
    matplotlib.use("Agg", force=True)
    # Every string drawn comes from the data (concept names, categories, annotator names):
    # "$x$" must be drawn as written, not parsed as math text (which fails on "$5 $x").
    # matplotlib's own log-scale tick labels are math text, so log axes get `_plain_log_axis`.
    matplotlib.rcParams["text.parse_math"] = False
    matplotlib.rcParams["text.usetex"] = False
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    """The figure as PNG bytes, without matplotlib's software/URL metadata, then closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)
    return buf.getvalue()


def class_balance(counts: Mapping[str, Mapping[str | None, int]],
                  categories: Sequence[str]) -> bytes:
    """Horizontal stacked bars: one bar per annotator, one segment per category + unparseable."""
    plt = _pyplot()
    annotators = list(counts)
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.55 * len(annotators)))
    keys: list[str | None] = [*categories, None]
    left = [0] * len(annotators)
    widest = max(sum(c.values()) for c in counts.values()) or 1
    for i, key in enumerate(keys):
        values = [counts[a].get(key, 0) for a in annotators]
        if key is None and not any(values):
            continue
        color = FAILED if key is None else PALETTE[i % len(PALETTE)]
        bars = ax.barh(annotators, values, left=left, color=color,
                       label="unparseable" if key is None else key)
        for bar, value in zip(bars, values, strict=True):
            if value and value > 0.06 * widest:
                ax.text(bar.get_x() + bar.get_width() / 2, bar.get_y() + bar.get_height() / 2,
                        f"{value:,}", ha="center", va="center", color="white", fontsize=9)
        left = [lo + v for lo, v in zip(left, values, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("annotated items")
    ax.set_title("Annotations per annotator and category")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35 if len(annotators) < 3 else -0.2),
              ncol=len(keys), frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def training_curve(epochs: Sequence[Mapping[str, float]], kept_epoch: float | None = None) -> bytes:
    """Two panels over the epochs: the losses, and the validation scores (see
    `training_figure`)."""
    return _png(training_figure(epochs, kept_epoch))


def training_figure(epochs: Sequence[Mapping[str, float]], kept_epoch: float | None = None
                    ) -> Any:
    """Loss per epoch (left panel) and validation F1 and accuracy (right panel, 0 to 1), each
    with its own legend and the kept epoch marked: one scale per panel, and markers of
    different shapes, so no value hides another."""
    plt = _pyplot()
    x = [e.get("epoch", i + 1) for i, e in enumerate(epochs)]
    fig, (loss, scores) = plt.subplots(1, 2, figsize=(9.2, 3.4), sharex=True)
    series = ((loss, "train_loss", "#718096", "s", ":", "train loss"),
              (loss, "val_loss", "#1a202c", "o", "-", "validation loss"),
              (scores, "val_f1", PALETTE[0], "o", "-", "validation F1"),
              (scores, "val_accuracy", PALETTE[2], "D", "--", "validation accuracy"))
    for ax, key, color, marker, style, label in series:
        ys = [e.get(key, float("nan")) for e in epochs]
        if any(y == y for y in ys):
            ax.plot(x, ys, style, color=color, marker=marker, markersize=7 if marker == "o"
                    else 5, markerfacecolor="none" if marker == "D" else color, label=label)
    scores.set_ylim(0, 1.02)
    for ax, title, ylabel in ((loss, "Loss", "loss"),
                              (scores, "Validation scores (against the annotator's labels)",
                               "score")):
        if kept_epoch:
            ax.axvline(kept_epoch, color=PALETTE[1], linestyle="--", linewidth=1,
                       label="kept epoch")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(loc="upper center", frameon=False, bbox_to_anchor=(0.5, -0.2),
                  ncol=len(ax.get_lines()), fontsize=8)
    fig.tight_layout()
    return fig


def confusion_matrix(matrix: Sequence[Sequence[int]], categories: Sequence[str]) -> bytes:
    """Counts heat map: rows are the annotations (truth), columns the model's predictions."""
    plt = _pyplot()
    n = len(categories)
    fig, ax = plt.subplots(figsize=(1.3 + 0.9 * n, 1.1 + 0.85 * n))
    ax.imshow(matrix, cmap="Blues")
    top = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, f"{value:,}", ha="center", va="center", fontsize=12,
                    color="white" if value > top / 2 else "black")
    ax.set_xticks(range(n), categories)
    ax.set_yticks(range(n), categories)
    ax.set_xlabel("predicted")
    ax.set_ylabel("annotated")
    ax.set_title("Validation confusion matrix")
    return _png(fig)


def probability_histogram(bins: Sequence[tuple[float, float, int]], positive: str,
                          threshold: float = 0.5) -> bytes:
    """Bars of (low, high, count) on a log count axis (see `histogram_figure`)."""
    return _png(histogram_figure(bins, positive, threshold))


def histogram_figure(bins: Sequence[tuple[float, float, int]], positive: str,
                     threshold: float = 0.5) -> Any:
    """Bars of (low, high, count) on a log count axis, coloured by the category they are
    predicted, with the decision threshold marked and a legend saying which is which."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    handles = []
    for above, color, label in ((False, PALETTE[1], f"predicted not '{positive}'"),
                                (True, PALETTE[0], f"predicted '{positive}'")):
        part = [(lo, hi, c) for lo, hi, c in bins if (lo >= threshold) == above]
        if part:
            handles.append(ax.bar([lo for lo, _, _ in part], [c for _, _, c in part],
                                  width=[hi - lo for lo, hi, _ in part], align="edge",
                                  color=color, edgecolor="white", label=label))
    handles.append(ax.axvline(threshold, color="#1a202c", linestyle="--", linewidth=1,
                              label=f"decision threshold {threshold:g}"))
    ax.set_yscale("log")
    counts = [c for _, _, c in bins if c > 0]
    _plain_log_axis(ax.yaxis, min(counts, default=1), max(counts, default=1))
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"predicted probability of '{positive}'")
    ax.set_ylabel("items (log scale)")
    ax.set_title("Distribution of predicted probabilities")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(handles=handles, loc="upper center", frameon=False, bbox_to_anchor=(0.5, -0.2),
              ncol=3, fontsize=8)
    return fig


def _plain_log_axis(axis: Any, low: float, high: float) -> None:
    """Tick labels of a log axis as plain numbers (100, 1,000, 10,000).

    matplotlib writes them as math text (`$\\mathdefault{10^{4}}$`), which shows raw with
    math text off; minor ticks are labelled only when the data span less than a decade."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda value, _pos: f"{value:,.0f}" if value >= 1 else f"{value:g}")
    axis.set_major_formatter(plain)
    axis.set_minor_formatter(plain if high < 10 * low else NullFormatter())


#: The drawing's grid: one column (inches) per leaf or stack of leaves, one row per stacked
#: leaf, the gap above a parent's children (room for the connectors), the label's wrap width.
COLUMN_IN = 1.7
ROW_IN = 0.62
LAYER_GAP_IN = 0.7
LABEL_CHARS = 20
LABEL_LINES = 4
#: The widest drawing (inches); wider ones get narrower columns and a smaller font.
MAX_WIDTH_IN = 24.0


def hierarchy_drawing(graph: nx.DiGraph, title: str) -> bytes:
    """A layered top-down drawing of a small DAG whose nodes carry `name` (see
    `hierarchy_figure`)."""
    return _png(hierarchy_figure(graph, title))


def hierarchy_figure(graph: nx.DiGraph, title: str) -> Any:
    """An org-chart drawing of a small DAG (parents above children) whose nodes carry `name`.

    Each node hangs under one main parent (the first, by name, one layer up: `_tree`); a
    subtree gets its own columns, a parent sits above the middle of its children with elbow
    connectors, and children that are all leaves are stacked in one column under their
    parent. Labels are wrapped (`LABEL_CHARS` a line, at most `LABEL_LINES`) to the right of
    their node, inside its column, so none is cut by a neighbour and no connector crosses
    another; a node's other parents are joined by thin dashed lines.
    """
    plt = _pyplot()
    children, roots = _tree(graph)
    layout = _Layout(children)
    for root in roots:
        layout.place(root, 0)
    xs, ys = layout.coordinates()
    column = min(COLUMN_IN, MAX_WIDTH_IN / max(layout.columns, 1))
    scale = column / COLUMN_IN
    pos = {n: (xs[n] * column, ys[n]) for n in graph}
    # The axes fill the figure and its limits equal its size, so one data unit is one inch
    # and the labels' width in inches can be matched to the columns.
    width, bottom = max(4.0, layout.columns * column + 0.4), min(ys.values()) - 0.4
    fig, ax = plt.subplots(figsize=(width, 0.45 - bottom))
    ax.set_position((0.0, 0.0, 1.0, 1.0))
    tree_edges: set[tuple[Any, Any]] = set()
    for parent, kids in children.items():
        tree_edges.update((parent, k) for k in kids)
        _connect(ax, pos, parent, kids, layout.stacked(parent))
    for parent, child in graph.edges():
        if (parent, child) not in tree_edges:
            (x0, y0), (x1, y1) = pos[parent], pos[child]
            ax.plot([x0, x1], [y0, y1], color="#cbd5e0", linestyle=(0, (3, 3)), linewidth=0.7,
                    zorder=1)
    others = [n for n in graph if n not in roots]
    ax.scatter([pos[n][0] for n in others], [pos[n][1] for n in others], s=28 * scale,
               color=PALETTE[0], zorder=3)
    ax.scatter([pos[n][0] for n in roots], [pos[n][1] for n in roots], s=70 * scale,
               color=PALETTE[1], zorder=3)
    for node in graph:
        x, y = pos[node]
        ax.text(x + 0.08 * scale, y, node_label(graph, node), fontsize=max(5.0, 8 * scale),
                ha="left", va="center", linespacing=1.05, zorder=4)
    ax.set_xlim(-0.2, width - 0.2)
    ax.set_ylim(bottom, 0.45)
    ax.set_title(title, fontsize=12)
    ax.axis("off")
    return fig


def node_label(graph: nx.DiGraph, node: Any) -> str:
    """A node's name wrapped to `LABEL_CHARS` a line, shortened only past `LABEL_LINES`."""
    import textwrap

    name = " ".join(str(graph.nodes[node].get("name") or node).split())
    return "\n".join(textwrap.wrap(name, LABEL_CHARS, max_lines=LABEL_LINES, placeholder=" …",
                                   break_on_hyphens=True)) or str(node)


def _tree(graph: nx.DiGraph) -> tuple[dict[Any, list[Any]], list[Any]]:
    """({node: its children in the drawing's tree}, roots): each node hangs under its first
    parent (by name) one layer up; a node with none there is a root."""
    layers = _layers(graph)
    depth = {n: d for d, nodes in layers.items() for n in nodes}
    order = {n: i for i, n in enumerate(n for nodes in layers.values() for n in nodes)}
    children: dict[Any, list[Any]] = {n: [] for n in graph}
    roots = []
    for node in sorted(graph, key=order.__getitem__):
        parents = [p for p in graph.predecessors(node) if depth[p] == depth[node] - 1]
        if parents:
            children[min(parents, key=order.__getitem__)].append(node)
        else:
            roots.append(node)
    return children, roots


class _Layout:
    """Columns and heights of the drawing's tree: leaves (or a stack of leaves) take the next
    column, a parent sits over the middle of its children. Subtrees own disjoint columns, so
    each is as tall as it needs: children hang one row and a connector gap under their
    parent, stacked leaves one row apart."""

    def __init__(self, children: dict[Any, list[Any]]) -> None:
        self.children = children
        self.columns = 0
        self.x: dict[Any, float] = {}
        self.y: dict[Any, float] = {}

    def stacked(self, node: Any) -> bool:
        kids = self.children[node]
        return len(kids) >= 2 and not any(self.children[k] for k in kids)

    def place(self, node: Any, y: float) -> None:
        """Place `node` at height `y` (inches, 0 at the top, down is negative), then its
        subtree in the next free columns."""
        self.y[node] = y
        kids = self.children[node]
        if self.stacked(node):
            self.x[node] = self.columns + 0.05
            for i, kid in enumerate(kids):
                self.x[kid], self.y[kid] = self.columns + 0.17, y - (i + 1) * ROW_IN
            self.columns += 1
        elif kids:
            for kid in kids:
                self.place(kid, y - ROW_IN - LAYER_GAP_IN)
            self.x[node] = (self.x[kids[0]] + self.x[kids[-1]]) / 2
        else:
            self.x[node] = self.columns + 0.05
            self.columns += 1

    def coordinates(self) -> tuple[dict[Any, float], dict[Any, float]]:
        """x in columns, y in inches."""
        return self.x, self.y


def _connect(ax: Any, pos: dict[Any, tuple[float, float]], parent: Any, kids: list[Any],
             stacked: bool) -> None:
    """Elbow connectors from a parent to its children: down a spine along a stack, or down to
    a bar above the children's layer and down again to each."""
    if not kids:
        return
    style = {"color": "#a0aec0", "linewidth": 0.8, "zorder": 2}
    px, py = pos[parent]
    if stacked:
        ax.plot([px, px], [py, pos[kids[-1]][1]], **style)
        for kid in kids:
            ax.plot([px, pos[kid][0]], [pos[kid][1]] * 2, **style)
        return
    bar = pos[kids[0]][1] + LAYER_GAP_IN / 2
    ax.plot([px, px], [py, bar], **style)
    xs = [pos[k][0] for k in kids]
    ax.plot([min(xs + [px]), max(xs + [px])], [bar, bar], **style)
    for kid in kids:
        ax.plot([pos[kid][0]] * 2, [bar, pos[kid][1]], **style)


def _layers(graph: nx.DiGraph) -> dict[int, list[Any]]:
    depth: dict[Any, int] = {}
    for node, data in graph.nodes(data=True):
        if "depth" in data:
            depth[node] = int(data["depth"])
    if len(depth) < len(graph):
        roots = [n for n in graph if graph.in_degree(n) == 0] or [min(graph)]
        for node, d in nx.multi_source_dijkstra_path_length(graph, roots).items():
            depth.setdefault(node, int(d))
        for node in graph:
            depth.setdefault(node, 0)
    layers: dict[int, list[Any]] = {}
    for node in sorted(graph, key=lambda n: (depth[n], str(graph.nodes[n].get("name", n)))):
        layers.setdefault(depth[node], []).append(node)
    return dict(sorted(layers.items()))
