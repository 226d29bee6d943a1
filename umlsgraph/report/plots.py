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
    """Loss per epoch on the left axis, validation F1 and accuracy on the right axis."""
    plt = _pyplot()
    x = [e.get("epoch", i + 1) for i, e in enumerate(epochs)]
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    lines = []
    for key, style, label in (("train_loss", ":", "train loss"), ("val_loss", "-", "val loss")):
        ys = [e.get(key, float("nan")) for e in epochs]
        if any(y == y for y in ys):
            lines += ax.plot(x, ys, style, color="#4a5568", marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    right = ax.twinx()
    for key, color, label in (("val_f1", PALETTE[0], "val F1"),
                              ("val_accuracy", PALETTE[2], "val accuracy")):
        ys = [e.get(key, float("nan")) for e in epochs]
        if any(y == y for y in ys):
            lines += right.plot(x, ys, "-", color=color, marker="s", label=label)
    right.set_ylim(0, 1.02)
    right.set_ylabel("validation score")
    if kept_epoch:
        lines.append(ax.axvline(kept_epoch, color=PALETTE[1], linestyle="--", linewidth=1,
                                label="kept epoch"))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title("Training curve")
    ax.legend(lines, [ln.get_label() for ln in lines], loc="upper center", frameon=False,
              bbox_to_anchor=(0.5, -0.16), ncol=len(lines))
    return _png(fig)


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
    """Bars of (low, high, count) on a log count axis, with the decision threshold marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    colors = [PALETTE[0] if lo >= threshold else PALETTE[1] for lo, _, _ in bins]
    ax.bar([lo for lo, _, _ in bins], [c for _, _, c in bins],
           width=[hi - lo for lo, hi, _ in bins], align="edge", color=colors, edgecolor="white")
    ax.axvline(threshold, color="#1a202c", linestyle="--", linewidth=1)
    ax.set_yscale("log")
    counts = [c for _, _, c in bins if c > 0]
    _plain_log_axis(ax.yaxis, min(counts, default=1), max(counts, default=1))
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"predicted probability of '{positive}'")
    ax.set_ylabel("items (log scale)")
    ax.set_title("Distribution of predicted probabilities")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _plain_log_axis(axis: Any, low: float, high: float) -> None:
    """Tick labels of a log axis as plain numbers (100, 1,000, 10,000).

    matplotlib writes them as math text (`$\\mathdefault{10^{4}}$`), which shows raw with
    math text off; minor ticks are labelled only when the data span less than a decade."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda value, _pos: f"{value:,.0f}" if value >= 1 else f"{value:g}")
    axis.set_major_formatter(plain)
    axis.set_minor_formatter(plain if high < 10 * low else NullFormatter())


def hierarchy_drawing(graph: nx.DiGraph, title: str, max_labels: int = 80) -> bytes:
    """A layered drawing (parents above children) of a small DAG whose nodes carry `name`.

    Nodes are placed by depth from the graph's roots (nodes without a parent in it; a `depth`
    attribute wins), and each layer is ordered by its parents' positions to limit crossings.
    Labels of crowded layers are slanted below their node.
    """
    plt = _pyplot()
    layers = _layers(graph)
    width = max(len(nodes) for nodes in layers.values())
    fig_width = min(13.0, 5 + 0.25 * width)
    pos: dict[Any, tuple[float, float]] = {}
    for depth, nodes in layers.items():
        nodes.sort(key=lambda n: _parent_x(graph, n, pos))
        for i, node in enumerate(nodes):
            pos[node] = ((i + 0.5) / len(nodes) * width, -depth)
    fig, ax = plt.subplots(figsize=(fig_width, 2.0 + 1.8 * len(layers)))
    nx.draw_networkx_edges(graph, pos, ax=ax, edge_color="#a0aec0", arrows=False, width=0.7)
    roots = layers[min(layers)]
    nx.draw_networkx_nodes(graph, pos, ax=ax, nodelist=[n for n in graph if n not in roots],
                           node_size=50, node_color=PALETTE[0])
    nx.draw_networkx_nodes(graph, pos, ax=ax, nodelist=roots, node_size=140,
                           node_color=PALETTE[1])
    shown = 0
    for nodes in layers.values():
        names = [str(graph.nodes[n].get("name") or n) for n in nodes]
        labels = [_short(t, 40) for t in names]
        # ~0.07 inch per character at 8-9 pt: slant the layer's labels when they can't fit.
        crowded = sum(0.07 * len(t) + 0.15 for t in labels) > fig_width * 0.9
        if crowded:
            labels = [_short(t, 30) for t in names]
        for node, label in zip(nodes, labels, strict=True):
            if shown >= max_labels:
                break
            shown += 1
            x, y = pos[node]
            if crowded:
                ax.text(x, y - 0.08, label, fontsize=8, rotation=40, ha="right", va="top",
                        rotation_mode="anchor")
            else:
                ax.text(x, y + 0.12, label, fontsize=9, ha="center", va="bottom")
    ax.set_ylim(-max(layers) - 0.9, 0.5)
    ax.set_title(title, fontsize=12)
    ax.axis("off")
    return _png(fig)


def _parent_x(graph: nx.DiGraph, node: Any, pos: dict[Any, tuple[float, float]]) -> float:
    xs = [pos[p][0] for p in graph.predecessors(node) if p in pos]
    return sum(xs) / len(xs) if xs else float("inf")


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


def _short(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
