"""`umlsgraph plan`: counts, rendered conversations and token estimates, with no model call."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph.annotate.backends import BACKENDS, Annotator, AnnotatorOptions, Prompt
from umlsgraph.annotate.backends.openai import OpenAIAnnotator
from umlsgraph.annotate.driver import annotate
from umlsgraph.annotate.plan import plan
from umlsgraph.query import load_query

QUERY = load_query("nervous_system")


class Tripwire(Annotator):
    """A backend that fails the test if anything asks it or loads a model."""

    backend = "tripwire"

    def setup(self, query: object) -> None:
        raise AssertionError("plan loaded the model (setup was called)")

    def answer(self, prompts: Sequence[Prompt]) -> list:
        raise AssertionError("plan asked the model (answer was called)")


class Yes(Annotator):
    backend = "tripwire"  # same name, so its answers count as the tripwire's

    def answer(self, prompts: Sequence[Prompt]) -> list:
        return ["yes"] * len(prompts)


@pytest.fixture
def tripwire() -> Iterator[None]:
    BACKENDS["tripwire"] = Tripwire
    try:
        yield
    finally:
        BACKENDS.pop("tripwire", None)


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_plan_asks_nothing_and_counts_what_is_answered(loaded_db: Path, tripwire: None) -> None:
    first = plan(loaded_db, QUERY, spec="tripwire:m", n=20)
    assert (first.candidates, first.sample_size, first.answered, first.to_ask) == (300, 20, 0, 20)
    annotate(loaded_db, QUERY, annotator=Yes("m"), n=8, progress=False)
    second = plan(loaded_db, QUERY, spec="tripwire:m", n=20)
    assert (second.answered, second.to_ask) == (8, 12)
    assert second.prompt_hash == QUERY.prompt_hash()
    assert len(second.conversations) == 3
    sent = second.conversations[0]["sent"]["messages"]
    assert sent[0] == {"role": "system", "content": QUERY.system}
    assert sent[-1]["content"] == QUERY.render(second.conversations[0]["item_text"])
    assert len(sent) == 2 + 2 * len(QUERY.examples)  # few-shot turns as chat turns
    assert "approximation" in second.tokens["method"]
    assert second.time == {"measured": False, "note": second.time["note"]}


def test_openai_plan_contacts_no_server(loaded_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-never-shown")
    base = f"http://127.0.0.1:{closed_port()}/v1"
    monkeypatch.setattr(OpenAIAnnotator, "_post", lambda *a: pytest.fail("a request was sent"))
    result = plan(loaded_db, QUERY, spec="openai:gpt-4o-mini", n=50,
                  options=AnnotatorOptions(base_url=base, max_new_tokens=5),
                  price_in=0.15, price_out=0.60)
    sent = result.conversations[0]["sent"]
    assert sent["url"] == base + "/chat/completions"
    assert sent["body"]["model"] == "gpt-4o-mini" and sent["body"]["max_tokens"] == 5
    assert sent["body"]["temperature"] == 0
    assert "sk-secret" not in json.dumps(result.as_dict())
    tokens = result.tokens
    assert tokens["answer_total_max"] == 5 * 50 and tokens["prompt_total"] > 50 * 50
    expected = (tokens["prompt_total"] * 0.15 + tokens["answer_total_max"] * 0.60) / 1e6
    assert result.cost["usd"] == pytest.approx(expected, abs=1e-4)


def test_hf_plan_renders_the_chat_template_with_the_real_tokenizer(
        loaded_db: Path, smollm_gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from umlsgraph.annotate.backends import hf
    from umlsgraph.annotate.backends.hf import chat_text, load_tokenizer

    monkeypatch.setattr(hf, "load", lambda *a: pytest.fail("plan loaded the model"))
    result = plan(loaded_db, QUERY, spec=f"hf:{smollm_gguf}", n=10)
    tokenizer = load_tokenizer((str(smollm_gguf.parent), smollm_gguf.name))
    conv = result.conversations[0]
    assert conv["sent"]["text"] == chat_text(tokenizer, conv["sent"]["messages"])
    assert conv["sent"]["text"].startswith("<|im_start|>system")
    assert result.tokens["method"] == "the model's tokenizer"
    assert result.tokens["answer_per_item_max"] == 8
    assert "not measured" in result.time["note"]
    # constrained mode scores in one forward pass: no answer tokens
    constrained = plan(loaded_db, QUERY, spec=f"hf:{smollm_gguf}", n=10,
                       options=AnnotatorOptions(mode="constrained"))
    assert constrained.tokens["answer_total_max"] == 0


def test_measure_is_opt_in_and_stores_nothing(loaded_db: Path, minilm_path: Path) -> None:
    query = load_query("hpo_nervous")
    result = plan(loaded_db, query, spec=f"embed:{minilm_path}", n=30, measure=4)
    assert result.time["measured"] and result.time["items"] == 4
    assert result.time["seconds_estimate"] > 0
    assert result.conversations[0]["sent"] == {"text": result.conversations[0]["item_text"]}
    assert plan(loaded_db, query, spec=f"embed:{minilm_path}", n=30).answered == 0


def test_cli_plan(loaded_db: Path, tripwire: None) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["plan", "nervous_system", "--db", str(loaded_db),
                              "--llm", "tripwire:m", "-n", "5", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["to_ask"] == 5 and len(data["conversations"]) == 3
    text = runner.invoke(app, ["plan", "nervous_system", "--db", str(loaded_db),
                               "--llm", "tripwire:m", "-n", "5"])
    assert text.exit_code == 0 and "conversation 3 of 3" in text.output
    bad = runner.invoke(app, ["plan", "nervous_system", "--db", str(loaded_db),
                              "--llm", "nosuch:m"])
    assert bad.exit_code == 1 and "unknown annotator backend" in bad.output
    missing = runner.invoke(app, ["plan", "nervous_system", "--db", "nope.duckdb",
                                  "--llm", "tripwire:m"])
    assert missing.exit_code == 1 and "no such database" in missing.output
