"""`umlsgraph review` in a real headless Chromium: load the page from file://, filter, mark
three concepts, download the labels CSV, import it as a human annotator, and use it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.browser import chromium, wait_for_file
from umlsgraph.annotate.driver import import_labels
from umlsgraph.db.prediction_store import ensure_table as ensure_predictions
from umlsgraph.errors import StoreError
from umlsgraph.report.review import build_review, script_json, write_page

runner = CliRunner()
QUERY = "hpo_nervous"
HOSTILE = "Evil </script><script>window.__pwned = 1</script> & \u2028 <b>name</b>"


@pytest.fixture
def predicted(loaded_db: Path, tmp_path: Path) -> Path:
    """The synthetic store with predictions (P(yes) spread over [0, 1)), some LLM labels,
    and one concept whose name tries to break out of the page."""
    con = duckdb.connect(str(loaded_db))
    ensure_predictions(con)
    con.execute("""INSERT INTO predictions (query, source, id, label, probability, model)
        SELECT ?, 'concepts', cui, CASE WHEN p >= 0.5 THEN 'yes' ELSE 'no' END, p, 'runs/m'
        FROM (SELECT cui, (row_number() OVER (ORDER BY cui) % 100) / 100.0 AS p FROM concepts)
        """, [QUERY])
    first = con.execute("SELECT min(id) FROM predictions WHERE label = 'yes'").fetchall()[0][0]
    con.execute("UPDATE concepts SET name = ? WHERE cui = ?", [HOSTILE, first])
    ids = [r[0] for r in con.execute("SELECT cui FROM concepts ORDER BY cui LIMIT 5").fetchall()]
    con.close()
    labels = tmp_path / "llm.csv"
    labels.write_text("id,label\n" + "".join(f"{i},yes\n" for i in ids))
    import_labels(loaded_db, QUERY, labels, annotator="llm:test")
    return loaded_db


def _js_errors(driver: object) -> list[str]:
    return [e["message"] for e in driver.get_log("browser")  # type: ignore[attr-defined]
            if e["level"] == "SEVERE"]


def test_review_round_trip_in_chromium(predicted: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    page = tmp_path / "review.html"
    out = runner.invoke(app, ["review", QUERY, "--db", str(predicted), "--out", str(page),
                              "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)
    total = summary["selected"] + summary["borderline"]
    assert summary["selected"] == 150 and summary["borderline"] == 90  # P >= 0.2
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with chromium(downloads) as driver:
        driver.get(page.as_uri())
        info = driver.find_element(By.ID, "pageinfo")
        assert info.text == f"page 1 of 3 ({total} rows)"
        assert _js_errors(driver) == []
        assert driver.execute_script("return window.__pwned") is None
        rows = driver.find_elements(By.CSS_SELECTOR, "#rows tbody tr")
        assert len(rows) == 100
        # islands and holes of the hierarchy first, most surprising first; then the rest,
        # most uncertain first
        flagged = summary["contradictions"]
        assert 0 < flagged < 100
        hier = [r.find_element(By.CSS_SELECTOR, "td.hier").text for r in rows]
        assert all(hier[:flagged]) and not any(hier[flagged:])
        surprise = [float(h.split("surprise ")[1].rstrip(")")) for h in hier[:flagged]]
        assert surprise == sorted(surprise, reverse=True)
        assert all(h.split()[0] in ("island", "hole") for h in hier[:flagged])
        probs = [float(r.find_element(By.CSS_SELECTOR, "td.num").text) for r in rows][flagged:]
        assert abs(probs[0] - 0.5) <= abs(probs[-1] - 0.5)  # then most uncertain first
        names = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "td.name")]
        driver.find_element(By.ID, "search").send_keys("evil </script>")
        WebDriverWait(driver, 20).until(lambda d: "(3 rows)" in info.text)  # + 2 children
        shown = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#rows tbody td.name")]
        assert " ".join(HOSTILE.replace("\u2028", " ").split()) in shown  # text, not markup
        driver.find_element(By.ID, "search").clear()
        driver.execute_script("document.getElementById('search')"
                              ".dispatchEvent(new Event('input'))")
        WebDriverWait(driver, 20).until(lambda d: f"({total} rows)" in info.text)
        assert names

        types = Select(driver.find_element(By.ID, "type"))
        chosen = types.options[1].get_attribute("value")
        types.select_by_value(chosen)
        WebDriverWait(driver, 20).until(lambda d: f"({total} rows)" not in info.text)
        filtered = driver.find_elements(By.CSS_SELECTOR, "#rows tbody tr")
        assert filtered and all(chosen in r.find_element(By.CSS_SELECTOR, "td.types").text
                                for r in filtered)

        cuis = [r.get_attribute("data-cui") for r in filtered[:3]]  # a click re-renders
        marks = dict(zip(cuis, ["yes", "yes", "no"], strict=True))
        for cui, label in marks.items():
            driver.find_element(
                By.CSS_SELECTOR, f'tr[data-cui="{cui}"] button[data-mark="{label}"]').click()
        assert driver.find_element(By.ID, "marked").text == "3 marked"
        driver.find_element(By.ID, "download").click()
        csv_path = wait_for_file(downloads, "review_labels_*.csv")
        assert _js_errors(driver) == []

    with csv_path.open(newline="") as f:
        assert {r["id"]: r["label"] for r in csv.DictReader(f)} == marks
    imported = runner.invoke(app, ["annotate", QUERY, "--db", str(predicted), "--labels-file",
                                   str(csv_path), "--annotator", "human:tester", "--json"])
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.output)["imported"] == 3
    con = duckdb.connect(str(predicted), read_only=True)
    stored = dict(con.execute("SELECT id, label FROM annotations WHERE annotator = "
                              "'human:tester'").fetchall())
    con.close()
    assert stored == marks
    exported = runner.invoke(app, ["export", QUERY, "--db", str(predicted), "--source",
                                   "annotations", "--annotator", "human:tester", "-f", "csv",
                                   "-o", str(tmp_path / "sub"), "--json"])
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.output)["selected"] == 2  # the two accepted


def test_hundred_thousand_rows_stay_responsive(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    rows = [[f"C{i:07d}", f"concept number {i}", f"text {i}; synonym {i}", (i % 1000) / 1000,
             i % 2 == 0, None, None, [f"T{i % 7:03d}"], [f"parent {i // 10}"]]
            for i in range(100_000)]
    meta = {"query": "big", "positive": "yes", "categories": ["yes", "no"], "model": "m",
            "borderline": 0.2, "generated": "now"}
    page = tmp_path / "big.html"
    write_page(page, meta, rows)
    with chromium(tmp_path) as driver:
        driver.set_page_load_timeout(60)
        driver.get(page.as_uri())
        info = driver.find_element(By.ID, "pageinfo")
        assert info.text == "page 1 of 1000 (100000 rows)"
        assert len(driver.find_elements(By.CSS_SELECTOR, "#rows tbody tr")) == 100
        driver.find_element(By.ID, "next").click()
        assert info.text.startswith("page 2 of 1000")
        driver.find_element(By.ID, "search").send_keys("number 9999")
        WebDriverWait(driver, 30).until(lambda d: "(11 rows)" in info.text)
        assert _js_errors(driver) == []


def test_script_json_cannot_close_the_block() -> None:
    text = script_json({"s": "</script><!-- & \u2028 \u2029 <SCRIPT>"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"s": "</script><!-- & \u2028 \u2029 <SCRIPT>"}


def test_review_errors(loaded_db: Path, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no predictions for query 'hpo_nervous'"):
        build_review(loaded_db, QUERY, tmp_path / "r.html")
    out = runner.invoke(app, ["review", QUERY, "--db", str(loaded_db), "--out",
                              str(tmp_path / "r.html")])
    assert out.exit_code == 1 and "umlsgraph label hpo_nervous" in out.output
    assert not (tmp_path / "r.html").exists()


def test_contradictions_come_first_whatever_their_probability(loaded_db: Path,
                                                               tmp_path: Path) -> None:
    """A hole predicted 0.1 (below --borderline) is on the page, first; `--order uncertain`
    keeps the old order."""
    from tests.subontology_data import cui, subtree, write_predictions

    positives = {c: 0.9 for c in subtree(1)} | {cui(290): 0.6}
    del positives[cui(6)]
    write_predictions(loaded_db, positives, query=QUERY)
    result = build_review(loaded_db, QUERY, tmp_path / "r.html")
    rows = _page_rows(tmp_path / "r.html")
    kind = {r[0]: r[9] for r in rows}
    assert kind[cui(6)] == "hole" and kind[cui(290)] == "island" and kind[cui(1)] is None
    assert {rows[0][0], rows[1][0]} == {cui(6), cui(290)} and result.contradictions == 2
    build_review(loaded_db, QUERY, tmp_path / "u.html", order="uncertain")
    plain = _page_rows(tmp_path / "u.html")
    assert [abs(r[3] - 0.5) for r in plain] == sorted(abs(r[3] - 0.5) for r in plain)
    out = runner.invoke(app, ["review", QUERY, "--db", str(loaded_db), "--out",
                              str(tmp_path / "x.html"), "--order", "nope"])
    assert out.exit_code == 1 and "unknown --order 'nope'" in out.output


def _page_rows(page: Path) -> list[list]:
    """The rows the page carries (its JSON block, decoded as the page's script does)."""
    text = page.read_text(encoding="utf-8")
    block = text.split('id="review-data">', 1)[1].split("</script>", 1)[0]
    return json.loads(block)["rows"]
