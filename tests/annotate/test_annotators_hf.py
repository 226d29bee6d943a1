"""The `hf` backend with the real SmolLM2-135M-Instruct GGUF on CPU: generate and constrained
modes, the shared-prefix KV cache, and load errors. Mechanics, not accuracy (a 135M model
is at chance on these queries). The model is loaded once per session (cached by `hf.load`)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph.annotate.backends import AnnotatorOptions, make_prompt
from umlsgraph.annotate.backends.hf import HFAnnotator, category_tokens
from umlsgraph.annotate.driver import annotate
from umlsgraph.errors import ModelError
from umlsgraph.query import load_query

pytestmark = pytest.mark.slow
QUERY = load_query("nervous_system")
TEXTS = ["brain stem; brainstem", "kidney stone", "seizure disorder; epilepsy",
         "left ventricle of heart"]


def rows(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT annotator, label, raw, score FROM annotations "
                           "ORDER BY annotator, id").fetchall()
    finally:
        con.close()


def test_generate_mode_batches_and_stores_raw_answers(loaded_db: Path, smollm_gguf: Path) -> None:
    bot = HFAnnotator(str(smollm_gguf), AnnotatorOptions(max_new_tokens=4, device="cpu"))
    result = annotate(loaded_db, QUERY, annotator=bot, n=6, batch_size=3, progress=False)
    assert (result.asked, result.annotator) == (6, f"hf:{smollm_gguf}")
    assert sum(result.counts.values()) + result.unparseable == 6
    stored = rows(loaded_db)
    assert len(stored) == 6 and all(r[2] is not None and r[3] is None for r in stored)
    assert {r[1] for r in stored} <= {"yes", "no", None}
    again = annotate(loaded_db, QUERY, annotator=bot, n=6, progress=False)
    assert (again.asked, again.skipped_done) == (0, 6)


def test_constrained_mode_is_never_unparseable(loaded_db: Path, smollm_gguf: Path) -> None:
    bot = HFAnnotator(str(smollm_gguf), AnnotatorOptions(mode="constrained", device="cpu"))
    result = annotate(loaded_db, QUERY, annotator=bot, n=8, batch_size=8, progress=False)
    assert result.asked == 8 and result.unparseable == 0
    assert result.annotator == f"hf:{smollm_gguf}#constrained"
    for _, label, raw, score in rows(loaded_db):
        assert label in ("yes", "no") and raw == label and 0.0 <= score <= 1.0
        assert (score >= 0.5) == (label == "yes")


def test_prefix_cache_changes_nothing(smollm_gguf: Path) -> None:
    prompts = [make_prompt(QUERY, str(i), t) for i, t in enumerate(TEXTS)]
    scorer = HFAnnotator(str(smollm_gguf), AnnotatorOptions(mode="constrained", device="cpu"))
    scorer.setup(QUERY)
    cached = [r.score for r in scorer.ask(prompts)]
    assert len(scorer._shared_prefix()[0]) > 100  # system + two few-shot turns + question
    scorer.prefix_cache = False
    plain = [r.score for r in scorer.ask(prompts)]
    assert cached == pytest.approx(plain, abs=1e-4)
    writer = HFAnnotator(str(smollm_gguf), AnnotatorOptions(max_new_tokens=3, device="cpu"))
    writer.setup(QUERY)
    with_cache = [r.raw for r in writer.ask(prompts[:2])]
    writer.prefix_cache = False
    assert [r.raw for r in writer.ask(prompts[:2])] == with_cache


def test_answer_word_tokens(smollm_gguf: Path) -> None:
    bot = HFAnnotator(str(smollm_gguf), AnnotatorOptions(mode="constrained", device="cpu"))
    bot.setup(QUERY)
    tokens = category_tokens(bot.tokenizer, QUERY.labels)
    assert set(tokens) == {"yes", "no"} and not set(tokens["yes"]) & set(tokens["no"])
    assert bot.tokenizer.encode("Yes", add_special_tokens=False)[0] in tokens["yes"]


def test_model_paths_fail_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"missing\.gguf: no such GGUF file"):
        HFAnnotator(str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelError, match="no such model folder"):
        HFAnnotator(str(tmp_path / "models" / "nothing"))
    (tmp_path / "empty").mkdir()
    bot = HFAnnotator(str(tmp_path / "empty"), AnnotatorOptions(device="cpu"))
    with pytest.raises(ModelError, match="empty: cannot load as a causal language model"):
        bot.setup(QUERY)


def test_cli_constrained(loaded_db: Path, smollm_gguf: Path) -> None:
    out = CliRunner().invoke(app, ["annotate", "nervous_system", "--db", str(loaded_db),
                                   "--llm", f"hf:{smollm_gguf}", "--mode", "constrained",
                                   "-n", "4", "--device", "cpu"])
    assert out.exit_code == 0, out.output
    assert "asked 4 of a 4-item sample" in out.output and "unparseable: 0" in out.output
