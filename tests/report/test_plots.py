"""The report's figures, inspected as matplotlib figures: the subontology drawing's labels are
whole and apart and its connectors never cross; the training curve has a loss panel and a
score panel; the probability histogram has a legend."""

from __future__ import annotations

import importlib.util
import itertools
from typing import Any

import networkx as nx
import pytest

from tests.missing import missing
from tests.report.conftest import model_meta
from umlsgraph.report import sections

if importlib.util.find_spec("matplotlib") is None:
    missing("matplotlib is not installed: pip install 'umlsgraph[report]'")

from umlsgraph.report import plots  # noqa: E402

#: Real HPO names, some longer than a line, and one longer than a label's lines hold.
NAMES = ("Abnormality of the nervous system physiology", "Seizure",
         "Focal-onset seizure with impaired awareness", "Neurodevelopmental abnormality",
         "Abnormal muscle tone", "Abnormality of central nervous system electrophysiology",
         "Functional abnormality of the somatosensory cortex and its connections to the "
         "thalamus and the cerebellum")
#: Names up to this long are drawn whole.
WHOLE = 60


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plots._pyplot().close("all")


def _named(graph: nx.DiGraph) -> nx.DiGraph:
    nx.set_node_attributes(graph, {n: f"{NAMES[n % len(NAMES)]} {n}" for n in graph}, "name")
    return graph


def _drawn(graph: nx.DiGraph) -> tuple[Any, Any, list[Any]]:
    fig = plots.hierarchy_figure(graph, "Largest component")
    fig.canvas.draw()
    ax = fig.axes[0]
    return fig, ax, list(ax.texts)


def _boxes_overlap(a: Any, b: Any) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("graph", [
    nx.balanced_tree(3, 3, create_using=nx.DiGraph),
    sections.top_levels(nx.balanced_tree(8, 3, create_using=nx.DiGraph), 60),
    nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (3, 5), (2, 6)]),
], ids=["tree", "top levels of a wide tree", "dag"])
def test_hierarchy_labels_are_whole_apart_and_clear_of_the_connectors(graph):
    graph = _named(graph.copy())
    fig, ax, texts = _drawn(graph)
    renderer = fig.canvas.get_renderer()
    shown = {" ".join(t.get_text().split()) for t in texts}
    names = [graph.nodes[n]["name"] for n in graph]
    for name in names:
        if len(name) <= WHOLE:
            assert name in shown  # whole, not cut
        else:
            assert any(s.endswith("…") and name.startswith(s[:-2]) for s in shown)
    boxes = [t.get_window_extent(renderer) for t in texts]
    for a, b in itertools.combinations(range(len(boxes)), 2):
        assert not _boxes_overlap(boxes[a], boxes[b]), (texts[a].get_text(), texts[b].get_text())
    for line in _connectors(ax):
        path = line.get_path().transformed(line.get_transform())
        for text, box in zip(texts, boxes, strict=True):
            assert not path.intersects_bbox(box.shrunk(0.98, 0.9), filled=False), text.get_text()


def _connectors(ax: Any) -> list[Any]:
    """The solid lines of the drawing's tree (dashed lines join a node's other parents)."""
    return [line for line in ax.get_lines() if line.get_linestyle() == "-"]


def _segments(ax: Any) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    out = []
    for line in _connectors(ax):
        points = list(zip(line.get_xdata(), line.get_ydata(), strict=True))
        out.extend(zip(points, points[1:], strict=False))
    return out


def _cross(s: Any, t: Any) -> bool:
    """Whether two axis-parallel segments cross at a point inside both (not at an end)."""
    (ax0, ay0), (ax1, ay1) = s
    (bx0, by0), (bx1, by1) = t
    for (h0, h1, hy), (vx, v0, v1) in (((ax0, ax1, ay0), (bx0, by0, by1)),
                                       ((bx0, bx1, by0), (ax0, ay0, ay1))):
        if min(h0, h1) < vx < max(h0, h1) and min(v0, v1) < hy < max(v0, v1):
            return True
    return False


def test_hierarchy_connectors_never_cross_and_stay_under_their_parent():
    graph = _named(sections.top_levels(nx.balanced_tree(8, 3, create_using=nx.DiGraph), 60))
    fig, ax, _ = _drawn(graph)
    segments = _segments(ax)
    assert segments and all(a[0] == b[0] or a[1] == b[1] for a, b in segments)  # elbows
    assert not any(_cross(s, t) for s, t in itertools.combinations(segments, 2))
    # no connector spans the whole drawing: the widest joins the root to its children only
    width = ax.get_xlim()[1] - ax.get_xlim()[0]
    spans = sorted(abs(a[0] - b[0]) for a, b in segments)
    assert spans[-2] < 0.2 * width


def test_training_curve_has_a_loss_panel_and_a_scores_panel():
    history = sections.training_history(model_meta())
    fig = plots.training_figure(history, kept_epoch=2)
    loss, scores = fig.axes
    labels = [[line.get_label() for line in ax.get_lines()] for ax in (loss, scores)]
    assert labels == [["validation loss", "kept epoch"],
                      ["validation F1", "validation accuracy", "kept epoch"]]
    assert scores.get_ylim() == (0, 1.02) and loss.get_ylim()[1] < 1
    for ax in (loss, scores):
        legend = ax.get_legend()
        assert legend is not None
        assert [t.get_text() for t in legend.get_texts()] == labels[fig.axes.index(ax)]
    f1, accuracy = scores.get_lines()[:2]
    assert f1.get_marker() != accuracy.get_marker()


def test_probability_histogram_has_a_legend():
    bins = [(i / 20, (i + 1) / 20, 10 ** (i % 4)) for i in range(20)]
    fig = plots.histogram_figure(bins, "yes")
    legend = fig.axes[0].get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == [
        "predicted not 'yes'", "predicted 'yes'", "decision threshold 0.5"]
    assert plots.probability_histogram(bins, "yes").startswith(b"\x89PNG")
