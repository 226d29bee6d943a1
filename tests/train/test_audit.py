"""The label audit: it finds planted wrong labels with the real MiniLM, stores and resumes,
and `train --exclude-suspects` leaves the flagged labels out (or says to run the audit)."""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.training_data import annotate, word_gold
from umlsgraph.db.items import ConceptSource
from umlsgraph.query import load_query
from umlsgraph.settings import TrainConfig
from umlsgraph.train.audit import (
    AuditConfig,
    AuditError,
    assign_folds,
    audit,
    combine,
    confident_learning,
    fold_config,
    labels_without_suspects,
    suspects,
)

QUERY = load_query("nervous_system")
FLIP = {"yes": "no", "no": "yes"}


def planted(db: Path, flips: int, seed: int = 1) -> set[str]:
    """Store the synthetic release's word-rule labels with `flips` of them flipped."""
    gold = word_gold(db)
    wrong = set(random.Random(seed).sample(sorted(gold), flips))
    annotate(db, QUERY, {i: FLIP[lab] if i in wrong else lab for i, lab in gold.items()})
    return wrong


def test_folds_are_stratified_and_reproducible() -> None:
    ids = [f"C{i:03d}" for i in range(100)]
    labels = [int(i < 30) for i in range(100)]
    folds = assign_folds(ids, labels, 5, seed=3)
    assert folds == assign_folds(ids, labels, 5, seed=3) != assign_folds(ids, labels, 5, seed=4)
    for fold in range(5):
        members = [i for i in ids if folds[i] == fold]
        assert len(members) == 20 and sum(ids.index(i) < 30 for i in members) == 6


def test_confident_learning_flags_contradicted_labels() -> None:
    """Labels the out-of-sample probabilities confidently contradict are flagged, the rest
    not; an unsure annotator's label needs less evidence."""
    labels = [0] * 40 + [1] * 40
    probs = [[0.9, 0.1]] * 38 + [[0.05, 0.95]] * 2 + [[0.1, 0.9]] * 37 + [[0.97, 0.03]] * 3
    quality, suspect = confident_learning(labels, probs)
    assert [i for i, s in enumerate(suspect) if s] == [38, 39, 77, 78, 79]
    assert max(quality[i] for i in (38, 39)) < min(quality[i] for i in range(38))
    mixed, used = combine([[0.6, 0.4]], [0.9], positive=0, weight=0.5)
    assert used and mixed == [[0.75, 0.25]]
    assert combine([[0.6, 0.4]], [None], 0, 0.5) == ([[0.6, 0.4]], False)


@pytest.mark.slow
def test_audit_finds_planted_wrong_labels(loaded_db: Path, minilm_path: Path,
                                          tmp_path: Path) -> None:
    """20 of 300 word-rule labels flipped: most are flagged, few clean ones are; the flags are
    stored, a re-run resumes without training, and training can leave them out."""
    wrong = planted(loaded_db, 20)
    # The synthetic labels follow a word of the names: the fold models read the names alone
    # (the synthetic hierarchy is random) and weight the minority class, as this test was tuned.
    config = fold_config(TrainConfig(base_model=str(minilm_path), max_length=24, lr=1e-4,
                                     seed=3, text=(), class_weighting="balanced"), epochs=2)
    result = audit(loaded_db, QUERY, train_config=config, config=AuditConfig(folds=3),
                   progress=False)
    flagged = {s.id for s in result.suspects}
    assert result.n == 300 and result.folds_trained == 3
    assert len(flagged & wrong) >= 14, (len(flagged & wrong), len(flagged))
    assert len(flagged - wrong) <= 8, (len(flagged & wrong), len(flagged))
    first = result.suspects[0]
    assert first.label != first.predicted and first.text
    assert (first.p_positive < 0.5) == (first.label == "yes")

    con = duckdb.connect(str(loaded_db), read_only=True)
    stored = con.execute("SELECT count(*), count(p_out_of_sample), count(*) FILTER (suspect) "
                         "FROM label_audit").fetchall()[0]
    con.close()
    assert stored == (300, 300, len(flagged))

    again = audit(loaded_db, QUERY, train_config=config, config=AuditConfig(folds=3),
                  progress=False)
    assert again.resumed and again.folds_trained == 0
    assert {s.id for s in again.suspects} == flagged == {s.id for s in suspects(loaded_db,
                                                                                QUERY)}
    labels_sql, name = labels_without_suspects(loaded_db, QUERY, ConceptSource())
    con = duckdb.connect(str(loaded_db), read_only=True)
    kept = {r[0] for r in con.execute(f"SELECT id FROM ({labels_sql})").fetchall()}
    con.close()
    assert name == "llm" and len(kept) == 300 - len(flagged) and not kept & flagged


def test_exclude_suspects_without_an_audit_is_one_line(loaded_db: Path, tmp_path: Path) -> None:
    planted(loaded_db, 5)
    result = CliRunner().invoke(app, ["train", "nervous_system", "--db", str(loaded_db),
                                      "--exclude-suspects", "--out", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert "no finished label audit" in result.output and "umlsgraph audit" in result.output
    assert "Traceback" not in result.output


def test_audit_refuses_too_few_labels(loaded_db: Path) -> None:
    annotate(loaded_db, QUERY, {"C0000001": "yes", "C0000002": "no", "C0000003": "no"})
    with pytest.raises(AuditError, match="at least 5 labels"):
        audit(loaded_db, QUERY, progress=False)
