"""Choosing what to ask: `--llm labels:FILE` answers only what it is asked, the uncertainty
strategy asks the items nearest p = 0.5, a diverse round takes one item per cluster, and
`--reask suspects` asks only what the audit flagged."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.training_data import annotate as store_labels
from tests.training_data import word_gold, write_labels
from umlsgraph.annotate.backends import create
from umlsgraph.annotate.backends.labels import UNANSWERED, LabelsAnnotator
from umlsgraph.annotate.driver import annotate
from umlsgraph.annotate.strategy import one_per_cluster
from umlsgraph.db import audit_store
from umlsgraph.query import load_query

QUERY = load_query("nervous_system")


def stored(db: Path, annotator: str) -> dict[str, tuple[str | None, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT id, label, raw FROM annotations WHERE annotator = ?",
                           [annotator]).fetchall()
    finally:
        con.close()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_labels_file_answers_only_what_it_is_asked(loaded_db: Path, tmp_path: Path) -> None:
    gold = word_gold(loaded_db)
    known = dict(list(gold.items())[::2])  # the file knows every other concept
    path = write_labels(tmp_path / "gold.csv", known)
    bot = create(f"labels:{path}")
    assert isinstance(bot, LabelsAnnotator) and bot.name == "labels:gold.csv"
    result = annotate(loaded_db, QUERY, annotator=bot, n=40, progress=False)
    rows = stored(loaded_db, "labels:gold.csv")
    assert result.asked == 40 and sorted(rows) == sorted(bot.asked)
    answered = {i for i, (label, _) in rows.items() if label is not None}
    assert answered == set(rows) & set(known) and 0 < len(answered) < 40
    assert all(rows[i][0] == known[i] for i in answered)
    assert all(rows[i] == (None, UNANSWERED) for i in set(rows) - answered)
    assert result.unparseable == 40 - len(answered)
    again = annotate(loaded_db, QUERY, annotator=LabelsAnnotator(str(path)), n=40,
                     progress=False)
    assert again.asked == 0 and again.skipped_done == 40


def fixed_predictions(db: Path, model: str, probability: dict[str, float]) -> None:
    """Store an encoder's predictions as `label` would (a model known only by its id)."""
    from umlsgraph.db.prediction_store import TABLE, ensure_table

    con = duckdb.connect(str(db))
    ensure_table(con)
    con.executemany(f"INSERT INTO {TABLE} (query, source, id, label, probability, model) "
                    "VALUES (?, 'concepts', ?, ?, ?, ?)",
                    [[QUERY.name, i, "yes" if p >= 0.5 else "no", p, model]
                     for i, p in probability.items()])
    con.close()


def test_uncertainty_asks_the_items_nearest_one_half(loaded_db: Path, tmp_path: Path) -> None:
    gold = word_gold(loaded_db)
    ids = sorted(gold)
    path = write_labels(tmp_path / "gold.csv", gold)
    first = annotate(loaded_db, QUERY, annotator=LabelsAnnotator(str(path)), n=50,
                     progress=False)
    labelled = set(stored(loaded_db, "labels:gold.csv"))
    assert first.asked == 50
    fixed_predictions(loaded_db, "run-1", {i: k / len(ids) for k, i in enumerate(ids)})
    # what the encoder is least sure of, among the items nobody labelled yet
    unlabelled = [i for i in ids if i not in labelled]
    expected = sorted(unlabelled, key=lambda i: abs(ids.index(i) / len(ids) - 0.5))[:20]

    bot = LabelsAnnotator(str(path))
    result = annotate(loaded_db, QUERY, annotator=bot, n=20, strategy="uncertainty",
                      model="run-1", progress=False)
    assert result.asked == 20 and set(bot.asked) == set(expected)
    assert all(abs(ids.index(i) / len(ids) - 0.5) < 0.1 for i in bot.asked)
    assert set(stored(loaded_db, "labels:gold.csv")) == labelled | set(expected)
    # the round is stored: re-running resumes it instead of choosing 20 more
    again = annotate(loaded_db, QUERY, annotator=LabelsAnnotator(str(path)), n=20,
                     strategy="uncertainty", model="run-1", progress=False)
    assert again.asked == 0 and again.skipped_done == 20


def test_one_per_cluster_spreads_the_picks() -> None:
    """Three tight groups, ranked so the first six rows are all one group: uncertainty alone
    would take the first three; one per cluster takes the best row of each group."""
    group = {0: [1.0, 0.0, 0.0], 1: [0.0, 1.0, 0.0], 2: [0.0, 0.0, 1.0]}
    rows = [0, 0, 0, 0, 0, 0, 1, 2, 1, 2, 1, 2]
    vectors = [[v + 0.01 * k for v in group[g]] for k, g in enumerate(rows)]
    assert one_per_cluster(vectors, 3, seed=1) == [0, 6, 7]


def test_reask_asks_only_the_suspects(loaded_db: Path, tmp_path: Path) -> None:
    gold = word_gold(loaded_db)
    sample = sorted(gold)[:30]
    store_labels(loaded_db, QUERY, {i: gold[i] for i in sample})
    suspects = sample[:4]
    con = duckdb.connect(str(loaded_db))
    audit_store.start(con, QUERY.name, "concepts", "llm", "k1",
                      [(i, gold[i], n % 3, None) for n, i in enumerate(sample)])
    audit_store.write_flags(con, QUERY.name, "concepts", "llm", sample, [0.5] * 30,
                            [i in suspects for i in sample])
    con.close()
    path = write_labels(tmp_path / "second.csv", gold)
    bot = LabelsAnnotator(str(path))
    result = annotate(loaded_db, QUERY, annotator=bot, reask="suspects", progress=False)
    assert result.asked == 4 and sorted(bot.asked) == suspects
    assert sorted(stored(loaded_db, "labels:second.csv")) == suspects


@pytest.mark.parametrize(("args", "message"), [
    (["--strategy", "uncertainty"], "--model RUN"),
    (["--strategy", "nearest"], "choose from random, uncertainty, diverse"),
    (["--reask", "suspects"], "run `umlsgraph audit nervous_system` first"),
    (["--reask", "all"], "the only choices are 'suspects'"),
])
def test_strategy_errors_are_one_line(loaded_db: Path, tmp_path: Path, args: list[str],
                                      message: str) -> None:
    path = write_labels(tmp_path / "gold.csv", word_gold(loaded_db))
    result = CliRunner().invoke(app, ["annotate", "nervous_system", "--db", str(loaded_db),
                                      "--llm", f"labels:{path}", *args])
    assert result.exit_code == 1, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output


@pytest.mark.slow
def test_a_diverse_round_with_a_real_encoder(loaded_db: Path, tmp_path: Path,
                                             minilm_path: Path) -> None:
    """Through the CLI: the encoder scores the unlabelled candidates (stored as its
    predictions), the 4N most uncertain are clustered, N are asked, and `train` then uses
    all of that annotator's labels."""
    from umlsgraph.db.items import ConceptSource
    from umlsgraph.settings import TrainConfig
    from umlsgraph.train.trainer import train

    gold = word_gold(loaded_db)
    path = write_labels(tmp_path / "gold.csv", gold)
    runner = CliRunner()
    args = ["annotate", "nervous_system", "--db", str(loaded_db), "--llm", f"labels:{path}"]
    assert runner.invoke(app, [*args, "-n", "100"]).exit_code == 0
    config = TrainConfig(base_model=str(minilm_path), epochs=1, min_steps=0, max_length=24,
                         val_fraction=0.0)
    first = train(loaded_db, QUERY, ConceptSource(), config, tmp_path / "m1", progress=False)
    result = runner.invoke(app, [*args, "--strategy", "diverse", "--model",
                                 str(tmp_path / "m1"), "-n", "10", "--json"])
    assert result.exit_code == 0, result.output
    assert '"asked": 10' in result.output
    con = duckdb.connect(str(loaded_db), read_only=True)
    scores = dict(con.execute("SELECT id, probability FROM predictions WHERE model = ?",
                              [first.model_id]).fetchall())
    chosen = [r[0] for r in con.execute("SELECT id FROM annotation_rounds").fetchall()]
    con.close()
    assert len(scores) == 200  # every unlabelled candidate was scored (and stored) once
    pool = sorted(scores, key=lambda i: abs(scores[i] - 0.5))[:40]
    assert len(chosen) == 10 and set(chosen) <= set(pool)
    assert len(stored(loaded_db, "labels:gold.csv")) == 110
    second = train(loaded_db, QUERY, ConceptSource(), config, tmp_path / "m2", progress=False)
    assert second.n_train == 110
