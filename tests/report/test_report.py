"""The HTML report: sections, figures that decode, no external URL, and a real browser.

The database is the synthetic release with annotations and predictions written directly
(as `annotate` and `label` store them). The model folder holds a `umlsgraph.json` in the
exact layout `umlsgraph.train.trainer` writes (copied from a real MiniLM run): a real training run
takes a minute on a loaded 2-core machine, too long for this file's budget.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import re
from pathlib import Path

import duckdb
import networkx as nx
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.missing import missing
from tests.report.conftest import MODEL_ID, model_meta, positive_subtree
from umlsgraph.errors import ModelError
from umlsgraph.report import page as report
from umlsgraph.report import sections

if importlib.util.find_spec("matplotlib") is None:
    missing("matplotlib is not installed: pip install 'umlsgraph[report]'")

SECTIONS = ("annotations", "failures", "training", "predictions", "subontology")


def _decode_png(data: bytes) -> tuple[int, ...]:
    import matplotlib.image

    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return matplotlib.image.imread(io.BytesIO(data), format="png").shape


def test_full_report_has_every_section_and_figure(pipeline_db, model_dir, tmp_path):
    db, n_positive = pipeline_db
    result = report.build_report(db, "nervous_system", tmp_path / "out", model_dir=model_dir)
    page = result.html.read_text(encoding="utf-8")

    for key in SECTIONS:
        assert f'<section id="{key}">' in page
        assert "missing" not in result.sections[key]
    assert "not run yet" not in page
    names = sorted(p.name for p in result.images)
    assert names == sorted(f"{n}.png" for n in ("class_balance", "training_curve",
                                                 "confusion_matrix", "probabilities",
                                                 "subontology"))
    # Every inlined image is a PNG that decodes, and the same bytes as the file beside it.
    inlined = re.findall(r'<img src="data:image/png;base64,([^"]+)"[^>]*title="([^"]+)"', page)
    assert len(inlined) == 5
    for data, title in inlined:
        png = base64.b64decode(data)
        height, width, _ = _decode_png(png)
        assert height > 100 and width > 100
        assert png == (tmp_path / "out" / title).read_bytes()
    # Self-contained: no external URL, no script; only data: images and in-page links.
    assert "http" not in page.lower() and "<script" not in page.lower()
    for attr, value in re.findall(r'\b(src|href)="([^"]*)"', page):
        assert value.startswith("data:image/png;base64," if attr == "src" else "#")
    # What the sections found.
    facts = result.sections
    assert facts["annotations"]["hf:smollm"]["unparseable"] == 5
    assert sum(facts["annotations"]["embed:minilm"].values()) == 60
    assert facts["failures"] == {"answers": 160, "unparseable": 5}
    assert "I &lt;b&gt;cannot&lt;/b&gt; tell &amp; won&#x27;t" in page
    assert facts["training"]["model_id"] == MODEL_ID and facts["training"]["epochs"] == 3
    assert facts["training"]["confusion"] == [[3, 1], [2, 14]]
    assert facts["training"]["metrics"]["f1"] == pytest.approx(0.72)
    assert facts["predictions"]["items"] == 300
    assert sum(facts["predictions"]["histogram"]) == 300
    assert facts["predictions"]["labels"]["yes"] == n_positive
    assert facts["subontology"]["nodes"] == n_positive
    assert facts["subontology"]["components"] == 1
    assert facts["subontology"]["edges"] >= n_positive - 1


def test_large_component_draws_its_top_levels(pipeline_db, model_dir, tmp_path, monkeypatch):
    db, n_positive = pipeline_db
    monkeypatch.setattr(sections, "DRAW_NODES", 8)
    result = report.build_report(db, "nervous_system", tmp_path / "out", model_dir=model_dir)
    page = result.html.read_text(encoding="utf-8")
    assert f"the top levels of its largest component (8 of {n_positive:,} concepts" in page


def test_top_levels_is_breadth_first_from_the_roots():
    graph = nx.balanced_tree(3, 4, create_using=nx.DiGraph)
    nx.set_node_attributes(graph, {n: f"node {n}" for n in graph}, "name")
    top = sections.top_levels(graph, 13)
    assert set(top) == set(range(13))
    assert nx.get_node_attributes(top, "depth") == {0: 0, **{n: 1 for n in (1, 2, 3)},
                                                     **{n: 2 for n in range(4, 13)}}


def test_missing_steps_say_which_command_to_run(loaded_db, tmp_path):
    result = report.build_report(loaded_db, "nervous_system", tmp_path / "out")
    page = result.html.read_text(encoding="utf-8")
    assert result.images == [] and "<img" not in page
    assert result.sections["annotations"]["missing"].startswith(
        "not run yet: run `umlsgraph annotate nervous_system --db ")
    assert "umlsgraph train nervous_system" in result.sections["training"]["missing"]
    assert "umlsgraph label nervous_system" in result.sections["predictions"]["missing"]
    assert "<code>umlsgraph annotate nervous_system" in page


def test_predictions_without_model_folder(pipeline_db, tmp_path):
    db, _ = pipeline_db
    result = report.build_report(db, "nervous_system", tmp_path / "out")
    assert result.sections["predictions"]["model"] == MODEL_ID
    assert f"model `{MODEL_ID}`; pass its folder" in result.sections["training"]["missing"]
    assert {p.name for p in result.images} == {"class_balance.png", "probabilities.png",
                                               "subontology.png"}


def test_corpus_report_has_no_subontology(loaded_db, tmp_path):
    con = duckdb.connect(str(loaded_db))
    con.execute("CREATE TABLE corpus_items (corpus VARCHAR, id VARCHAR, text VARCHAR, "
                "gold VARCHAR, split VARCHAR)")
    con.execute("INSERT INTO corpus_items VALUES ('reviews', 'r1', 'great', 'positive', NULL)")
    con.close()
    result = report.build_report(loaded_db, "imdb_sentiment", tmp_path / "out", corpus="reviews")
    assert result.sections["subontology"]["missing"].startswith("not applicable")
    assert "--corpus reviews" in result.sections["annotations"]["missing"]


def test_missing_model_folder_is_a_user_error(loaded_db, tmp_path):
    with pytest.raises(ModelError, match="no such model folder"):
        report.build_report(loaded_db, "nervous_system", tmp_path / "out",
                            model_dir=tmp_path / "nope")


def test_cli(pipeline_db, model_dir, tmp_path):
    db, _ = pipeline_db
    out = tmp_path / "cli-out"
    runner = CliRunner()
    done = runner.invoke(app, ["report", "nervous_system", "--db", str(db), "--model",
                               str(model_dir), "--out", str(out), "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    assert data["html"] == str(out / "report.html") and len(data["images"]) == 5
    assert data["sections"]["subontology"]["nodes"] > 1
    plain = runner.invoke(app, ["report", "nervous_system", "--db", str(db), "--out", str(out)])
    assert plain.exit_code == 0 and "Report:" in plain.output
    bad = runner.invoke(app, ["report", "nervous_system", "--db", str(db), "--model",
                              str(tmp_path / "nope")])
    assert bad.exit_code == 1 and "no such model folder" in bad.output
    assert "Traceback" not in bad.output


def _check_report_script():
    path = Path(__file__).resolve().parents[2] / "scripts" / "check_report.py"
    spec = importlib.util.spec_from_file_location("check_report", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_report_renders_in_headless_chromium(pipeline_db, model_dir, tmp_path):
    check = _check_report_script()
    browser = check.find_chromium()
    if browser is None:
        missing("chromium is not installed (apt-get install -y chromium); .ci/run installs it")
    db, _ = pipeline_db
    result = report.build_report(db, "nervous_system", tmp_path / "out", model_dir=model_dir)
    decoded, total, height = check.probe(browser, result.html)
    assert (decoded, total) == (5, 5)
    assert height > 1500
    shot = check.screenshot(browser, result.html, tmp_path / "shot.png", 1100, height)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (height, 1100)
    # The figures' blue bars and nodes are on the page, not just text on white.
    rgb = pixels[..., :3]
    blue = (rgb[..., 2] > 0.55) & (rgb[..., 0] < 0.3) & (rgb[..., 1] < 0.55)
    assert blue.mean() > 0.005


#: A concept name with math-text syntax: the drawing must show it as written.
MATH_NAME = "$x$ costs $5 \\alpha"
#: What must never be visible: math text or TeX matplotlib failed to render, HTML entities or
#: backticks the page failed to turn into characters or code.
RAW_MARKUP = re.compile(r"\\mathdefault|\$[^$]*\\[a-z]+|\$\S[^$]*\$|&(amp|lt|gt|quot|#\d+);|`")


def test_no_raw_markup_in_any_plot_or_on_the_page(pipeline_db, model_dir, tmp_path,
                                                  monkeypatch):
    """Every figure, drawn again as SVG with its text kept as text (the same figure object
    the report rasterises to PNG), is opened in headless Chromium, which lists the text it
    draws; none may be raw markup except the concept name that really is `$x$ ...`.

    What this can see: every string matplotlib draws (ticks, labels, titles, names), as
    Chromium parses it. What it cannot see: the PNG's pixels themselves (no OCR here); the
    PNG is drawn from the same figure and text objects, right after the SVG."""
    from selenium.webdriver.common.by import By

    from tests.browser import chromium
    from umlsgraph.report import plots

    db, _ = pipeline_db
    con = duckdb.connect(str(db))
    top = min(positive_subtree(con), key=lambda c: int(c[1:]))
    con.execute("UPDATE concepts SET name = ? WHERE cui = ?", [MATH_NAME, top])
    con.close()
    svgs: list[Path] = []
    rasterise = plots._png

    def as_svg_too(fig):
        import matplotlib

        path = tmp_path / f"figure{len(svgs)}.svg"
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            fig.savefig(path, format="svg", bbox_inches="tight")
        svgs.append(path)
        return rasterise(fig)

    monkeypatch.setattr(plots, "_png", as_svg_too)
    result = report.build_report(db, "nervous_system", tmp_path / "out", model_dir=model_dir)
    assert len(svgs) == len(result.images) == 5
    # and a histogram spanning four decades, as a full-size store gives
    plots.probability_histogram([(i / 20, (i + 1) / 20, 10 ** (i % 5)) for i in range(20)],
                                "yes")
    with chromium(tmp_path) as driver:
        texts = {}
        for svg in svgs:
            driver.get(svg.as_uri())
            texts[svg.name] = driver.execute_script(
                "return [...document.querySelectorAll('text')].map(t => t.textContent)")
        driver.get(result.html.as_uri())
        page_text = driver.find_element(By.TAG_NAME, "body").text
    everything = [t for found in texts.values() for t in found]
    assert MATH_NAME in everything  # the name, literally
    raw = [t for t in everything if t != MATH_NAME and RAW_MARKUP.search(t)]
    assert raw == []
    labels = {"items (log scale)", "predicted probability of 'yes'",
              "Distribution of predicted probabilities", "predicted 'yes'",
              "predicted not 'yes'", "decision threshold 0.5"}
    histogram = texts[f"figure{[p.stem for p in result.images].index('probabilities')}.svg"]
    assert labels <= set(histogram)
    ticks = set(histogram) - labels
    assert len(ticks) >= 8 and all(re.fullmatch(r"[\d.,]+", t) for t in ticks), ticks
    assert {"1", "10", "100", "1,000", "10,000"} <= set(texts["figure5.svg"])
    assert RAW_MARKUP.search(page_text.replace(MATH_NAME, "")) is None, page_text
    assert "kept epoch" not in page_text or "best on validation" in page_text


def test_training_section_says_which_epoch_was_kept(pipeline_db, tmp_path):
    """The default keeps the last epoch: the report says so, and names the best-scoring one."""
    db, _ = pipeline_db
    folder = tmp_path / "last"
    folder.mkdir()
    meta = model_meta()
    meta["config"] = {"keep": "last"}
    meta["run"].update(best_epoch=3, best=meta["history"][2])
    (folder / "umlsgraph.json").write_text(json.dumps(meta), encoding="utf-8")
    result = report.build_report(db, "nervous_system", tmp_path / "out", model_dir=folder)
    said = result.sections["training"]["kept"]
    assert said == ("kept the last epoch (3 of 3); epoch 2 scored best on validation "
                    "(F1 of 'yes' 0.720)")
    page = result.html.read_text(encoding="utf-8")
    assert "kept the last epoch (3 of 3); epoch 2 scored best" in page
    assert "best validation F1" not in page
    meta["config"] = {"keep": "best"}
    meta["run"].update(best_epoch=2, best=meta["history"][1])
    (folder / "umlsgraph.json").write_text(json.dumps(meta), encoding="utf-8")
    result = report.build_report(db, "nervous_system", tmp_path / "out", model_dir=folder)
    assert result.sections["training"]["kept"] == (
        "kept epoch 2 of 3, the best on validation (F1 of 'yes' 0.720)")


def test_check_section_names_the_root_and_the_contradictions(pipeline_db, model_dir, tmp_path):
    db, n_positive = pipeline_db
    con = duckdb.connect(str(db))
    subtree = positive_subtree(con)
    top = min(subtree, key=lambda c: int(c[1:]))
    outside = max(set(r[0] for r in con.execute("SELECT cui FROM concepts").fetchall())
                  - subtree - {"C0000000"})
    con.execute("UPDATE predictions SET label = 'yes', probability = 0.97 WHERE id = ?",
                [outside])
    con.close()
    result = report.build_report(db, "nervous_system", tmp_path / "out", model_dir=model_dir)
    facts = result.sections["check"]
    assert facts["roots"] == [top] and facts["selected"] == n_positive + 1
    assert facts["islands"] == 1 and facts["islands_top"] == [outside]
    page = result.html.read_text(encoding="utf-8")
    assert '<section id="check">' in page and "Most surprising islands" in page
    assert "islands and holes" in page  # the summary card
