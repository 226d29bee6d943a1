"""Fine-tuning the real MiniLM: it learns, resumes after kill -9, continues in combined mode,
and refuses bad inputs with one line."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.training_data import HeldOut, annotate, killed_after_first, values_sql, word_gold
from umlsgraph.db.items import ConceptSource
from umlsgraph.errors import AnnotationError, ModelError, TrainingError
from umlsgraph.evaluate.evaluation import evaluate
from umlsgraph.label.labeller import label
from umlsgraph.query import load_query, parse_query
from umlsgraph.settings import TrainConfig
from umlsgraph.train.data import class_weights, split
from umlsgraph.train.trainer import CHECKPOINT, train

QUERY = load_query("nervous_system")


def tiny(minilm: Path, **overrides: object) -> TrainConfig:
    """A configuration that trains in seconds on CPU."""
    settings = {"base_model": str(minilm), "epochs": 2, "min_steps": 0, "max_length": 24,
                "batch_size": 16, "val_fraction": 0.15, "seed": 3}
    return TrainConfig(**{**settings, **overrides})  # type: ignore[arg-type]


@pytest.fixture
def labelled_db(loaded_db: Path) -> Path:
    """The synthetic store with 200 of its 300 concepts labelled by the LLM stand-in."""
    gold = word_gold(loaded_db)
    annotate(loaded_db, QUERY, dict(list(gold.items())[:200]))
    return loaded_db


# ------------------------------------------------------------------ configuration and data


@pytest.mark.parametrize(("field", "value", "message"), [
    ("lr", 0.0, "--lr"), ("epochs", 0, "--epochs"), ("class_weighting", "inverse", "balanced"),
    ("val_fraction", 0.95, "--val-fraction"), ("text", ("synonyms_x",), "--text"),
    ("label_smoothing", 0.6, "--label-smoothing"), ("keep", "first", "--keep"),
])
def test_config_is_validated(field: str, value: object, message: str) -> None:
    with pytest.raises(TrainingError, match=message):
        TrainConfig(**{field: value})  # type: ignore[arg-type]


def test_split_is_stratified_and_weights_are_balanced() -> None:
    from umlsgraph.train.data import Example

    examples = [Example(f"c{i}", int(i < 20), "t") for i in range(100)]
    train_set, val = split(examples, 0.1, seed=1)
    assert sum(e.label for e in val) == 2 and len(val) == 10
    assert split(examples, 0.1, seed=1) == (train_set, val)
    weights = class_weights(train_set, 2, "balanced")
    assert weights[1] == pytest.approx(90 / (2 * 18)) and weights[0] == pytest.approx(90 / 144)
    assert class_weights(train_set, 2, "none") == [1.0, 1.0]
    tempered = class_weights(train_set, 2, "sqrt")
    assert tempered[1] == pytest.approx((90 / 36) ** 0.5) and 1 < tempered[1] < weights[1]


def test_concept_text_carries_the_hierarchy_by_default(hpo_db: Path) -> None:
    """By default the encoder reads a concept's parents' and grandparents' names from the
    store: what the issue-11 measurements showed a noisy-label encoder needs."""
    from umlsgraph.train.data import Example, load_examples, training_text

    query = parse_query({"name": "q", "prompt": "{text}?", "labels": {"yes": ["yes"],
                         "no": ["no"]}, "positive": "yes"})
    annotate(hpo_db, query, {"HP:0002868": "no", "HP:0001250": "yes"})
    default = load_examples(hpo_db, training_text(query, TrainConfig()), ConceptSource())
    assert Example("HP:0002868", 1, "narrow iliac wing; narrow iliac wings | parents: "
                   "abnormal iliac wing morphology | grandparents: abnormal ilium "
                   "morphology") in default
    parents = training_text(query, TrainConfig(text=("parents",)))
    texts = dict((e.id, e.text) for e in load_examples(hpo_db, parents, ConceptSource()))
    assert texts["HP:0002868"].endswith("| parents: abnormal iliac wing morphology")
    names_only = load_examples(hpo_db, training_text(query, TrainConfig(text=())),
                               ConceptSource())
    assert "parents" not in " ".join(e.text for e in names_only)


def test_user_errors_are_one_line(loaded_db: Path, tmp_path: Path, minilm_path: Path) -> None:
    with pytest.raises(AnnotationError, match="no annotations for query 'nervous_system'"):
        train(loaded_db, QUERY, ConceptSource(), tiny(minilm_path), tmp_path / "m")
    annotate(loaded_db, QUERY, {"C0000001": "yes", "C0000002": "yes", "C0000003": "yes",
                                "C0000004": "yes", "C0000005": "yes"})
    with pytest.raises(TrainingError, match="at least two categories"):
        train(loaded_db, QUERY, ConceptSource(), tiny(minilm_path), tmp_path / "m")
    with pytest.raises(AnnotationError, match="--annotator 'gpt': no labels by it"):
        train(loaded_db, QUERY, ConceptSource(), tiny(minilm_path), tmp_path / "m",
              annotator="gpt")
    annotate(loaded_db, QUERY, {f"C000001{i}": "no" for i in range(5)})
    with pytest.raises(ModelError, match="no such model folder") as info:
        train(loaded_db, QUERY, ConceptSource(), tiny(tmp_path / "nowhere"), tmp_path / "m")
    assert "\n" not in str(info.value)
    result = CliRunner().invoke(app, ["train", "nervous_system", "--db", str(loaded_db),
                                      "--base-model", "./no/such/model", "--out",
                                      str(tmp_path / "m")])
    assert result.exit_code == 1
    assert "no such model folder" in result.output and "Traceback" not in result.output


def test_keep_last_or_best_epoch(labelled_db: Path, tmp_path: Path, minilm_path: Path) -> None:
    """keep=last (the default) keeps the final weights whatever validation says; keep=best
    keeps the epoch with the best validation score. Tempered weights and label smoothing
    train too."""
    last = train(labelled_db, QUERY, ConceptSource(), tiny(minilm_path, epochs=3,
                 class_weighting="sqrt", label_smoothing=0.1), tmp_path / "last", progress=False)
    assert last.epochs == 3 and last.best_epoch == 3 and last.best == last.history[-1]
    meta = json.loads((tmp_path / "last" / "umlsgraph.json").read_text())
    assert meta["config"]["keep"] == "last" and meta["config"]["label_smoothing"] == 0.1
    best = train(labelled_db, QUERY, ConceptSource(), tiny(minilm_path, epochs=3, keep="best"),
                 tmp_path / "best", progress=False)
    scores = [(h["f1"], h["f1_macro"], -h["loss"]) for h in best.history]
    assert best.best_epoch == 1 + scores.index(max(scores))


# ------------------------------------------------------------------ learning


@pytest.mark.slow
def test_learns_the_eye_subtree_of_real_hpo(hpo_db: Path, tmp_path: Path,
                                            minilm_path: Path) -> None:
    """Trained on 300 HPO phenotypes, it finds eye abnormalities (HP:0000478) among 400
    phenotypes it never saw far better than chance (chance F1 is about 0.1)."""
    from umlsgraph.evaluate.gold import subtree_gold_sql

    query = parse_query({"name": "hpo_eye", "prompt": "Is {text} an abnormality of the eye?",
                         "labels": {"yes": ["yes"], "no": ["no"]}, "positive": "yes",
                         "text": {"parents": True}})
    gold_sql = subtree_gold_sql("HP:0000478")
    con = duckdb.connect(str(hpo_db))
    picked = (con.execute(f"SELECT id, label FROM ({gold_sql}) WHERE label = 'yes' "
                          "ORDER BY hash(id) LIMIT 90").fetchall()
              + con.execute(f"SELECT id, label FROM ({gold_sql}) WHERE label = 'no' "
                            "ORDER BY hash(id) LIMIT 210").fetchall())
    unseen = [r[0] for r in con.execute(
        f"SELECT id FROM ({gold_sql}) WHERE id NOT IN ({values_sql([i for i, _ in picked])}) "
        "ORDER BY hash(id || 'held-out') LIMIT 400").fetchall()]
    con.close()
    annotate(hpo_db, query, dict(picked))
    config = tiny(minilm_path, max_length=40, min_steps=50, val_fraction=0.1)
    result = train(hpo_db, query, ConceptSource(), config, tmp_path / "eye", progress=False)
    assert result.n_train + result.n_val == 300 and result.best["f1"] > 0.5
    held_out = HeldOut(ConceptSource(), values_sql(unseen))
    label(hpo_db, query, held_out, tmp_path / "eye", progress=False)
    metrics = evaluate(hpo_db, query, held_out, gold_sql=gold_sql)
    assert metrics["n"] == 400
    assert metrics["f1"] > 0.5 and metrics["recall"] > 0.6, metrics


# ------------------------------------------------------------------ resume and combined mode


@pytest.mark.slow
def test_resumes_after_kill_and_matches_an_uninterrupted_run(
        labelled_db: Path, tmp_path: Path, minilm_path: Path) -> None:
    config = tiny(minilm_path)
    out = tmp_path / "killed"
    killed_after_first("train", db=labelled_db, query=QUERY.name, out=out,
                       config={k: v for k, v in vars(config).items()})
    assert (out / CHECKPOINT).is_file() and not (out / "umlsgraph.json").exists()

    resumed = train(labelled_db, QUERY, ConceptSource(), config, out, progress=False)
    assert resumed.resumed and resumed.epochs == 2 and not (out / CHECKPOINT).exists()
    straight = train(labelled_db, QUERY, ConceptSource(), config, tmp_path / "straight",
                     progress=False)
    for a, b in zip(resumed.history, straight.history, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-4)
        assert a["confusion"] == b["confusion"]

    # interrupted in the middle of an epoch, right after a step checkpoint: same result too
    from umlsgraph.train import trainer as training

    real_save = training._Trainer._save_checkpoint

    def save_then_stop(self: training._Trainer, started: float) -> None:
        real_save(self, started)
        if self.step_in_epoch == 4:
            raise KeyboardInterrupt

    mid = tiny(minilm_path, checkpoint_steps=4)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training._Trainer, "_save_checkpoint", save_then_stop)
        with pytest.raises(KeyboardInterrupt):
            train(labelled_db, QUERY, ConceptSource(), mid, tmp_path / "mid", progress=False)
    halfway = train(labelled_db, QUERY, ConceptSource(), mid, tmp_path / "mid", progress=False)
    assert halfway.resumed
    assert [h["loss"] for h in halfway.history] == pytest.approx(
        [h["loss"] for h in straight.history], abs=1e-4)

    again = train(labelled_db, QUERY, ConceptSource(), config, out, progress=False)
    assert again.already_done and again.model_id == resumed.model_id
    meta = json.loads((out / "umlsgraph.json").read_text())
    assert meta["categories"] == ["yes", "no"] and meta["positive"] == "yes"
    assert meta["base_model"] == str(minilm_path) and len(meta["history"]) == 2
    assert meta["annotator"] is None and meta["text"]["synonyms"] is True
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()


@pytest.mark.slow
def test_combined_mode_continues_a_trained_model(labelled_db: Path, tmp_path: Path,
                                                 minilm_path: Path) -> None:
    gold = word_gold(labelled_db)
    first = train(labelled_db, QUERY, ConceptSource(), tiny(minilm_path, epochs=1),
                  tmp_path / "llm", annotator="llm", progress=False)
    annotate(labelled_db, QUERY, dict(list(gold.items())[200:]), annotator="labels:gold.csv")
    # no validation split: the last epoch is kept
    config = tiny(minilm_path, epochs=1, base_model="unused/when-continuing", val_fraction=0.0)
    combined = train(labelled_db, QUERY, ConceptSource(), config, tmp_path / "combined",
                     annotator="labels:gold.csv", init_model=first.out, progress=False)
    meta = json.loads((tmp_path / "combined" / "umlsgraph.json").read_text())
    assert (combined.n_train, combined.n_val, combined.best_epoch) == (100, 0, 1)
    assert (tmp_path / "combined" / "model.safetensors").is_file()
    assert meta["init_model"] == str(first.out) and meta["base_model"] == str(minilm_path)
    assert meta["annotator"] == "labels:gold.csv"
    with pytest.raises(ModelError, match="trained for categories"):
        train(labelled_db, replace(QUERY, labels={"a": ("a",), "b": ("b",)}, positive="a"),
              ConceptSource(), config, tmp_path / "x", init_model=first.out)


def test_several_annotators_must_be_chosen_between(loaded_db: Path) -> None:
    """Gold and LLM labels for one query are never silently mixed into one training set."""
    from umlsgraph.db import annotation_store as stored
    from umlsgraph.db.items import ConceptSource
    from umlsgraph.errors import AnnotationError
    from umlsgraph.query import load_query
    from umlsgraph.train.data import load_examples

    query = load_query("nervous_system")
    con = duckdb.connect(str(loaded_db))
    for annotator, answer in (("labels:gold.csv", "yes"), ("embed", "no")):
        stored.write(con, query.name, "concepts", annotator, "h",
                     [stored.Annotation("C0000001", answer, answer)])
    con.close()
    with pytest.raises(AnnotationError, match="choose one with --annotator"):
        load_examples(loaded_db, query, ConceptSource())
    chosen = load_examples(loaded_db, query, ConceptSource(), annotator="embed")
    assert [(e.id, e.label) for e in chosen] == [("C0000001", query.categories.index("no"))]
