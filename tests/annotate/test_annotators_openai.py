"""The `openai` backend against a real OpenAI-compatible HTTP server on 127.0.0.1
(tests/chat_server.py): real SmolLM2 answers, retries on 429/5xx, giving up without storing,
unreachable servers, API keys that never leak, and the CLI."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.chat_server import ChatServer
from umlsgraph.annotate.backends import AnnotatorOptions, Prompt
from umlsgraph.annotate.backends.openai import OpenAIAnnotator
from umlsgraph.annotate.driver import annotate
from umlsgraph.errors import AnnotationError
from umlsgraph.query import load_query

QUERY = load_query("nervous_system")


@pytest.fixture
def server() -> Iterator[ChatServer]:
    """A server that answers "Yes." to everything."""
    chat = ChatServer(lambda messages, max_tokens: "Yes.")
    chat.start()
    yield chat
    chat.stop()


def options(server: ChatServer, **kw: object) -> AnnotatorOptions:
    base = {"base_url": server.url, "concurrency": 2, "backoff": 0.01, "timeout": 10.0}
    return AnnotatorOptions(**{**base, **kw})  # type: ignore[arg-type]


def stored(db: Path) -> dict[str, tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT id, label, raw FROM annotations").fetchall()
        return {r[0]: r[1:] for r in rows}
    finally:
        con.close()


@pytest.mark.slow
def test_real_smollm2_behind_the_server(loaded_db: Path, smollm_gguf: Path) -> None:
    from umlsgraph.annotate.backends.hf import HFAnnotator

    model = HFAnnotator(str(smollm_gguf), AnnotatorOptions(max_new_tokens=4, device="cpu"))
    model.setup(QUERY)
    model.prefix_cache = False  # the server answers arbitrary conversations

    def respond(messages: list[dict[str, str]], max_tokens: int) -> str:
        return model.ask([Prompt("x", "", tuple(messages))])[0].raw  # type: ignore[union-attr]

    chat = ChatServer(respond, model="SmolLM2-135M-Instruct")
    url = chat.start()
    try:
        bot = OpenAIAnnotator("SmolLM2-135M-Instruct",
                              AnnotatorOptions(base_url=url, concurrency=2, max_new_tokens=4))
        result = annotate(loaded_db, QUERY, annotator=bot, n=4, batch_size=4, progress=False)
    finally:
        chat.stop()
    assert (result.asked, result.annotator) == (4, "openai:SmolLM2-135M-Instruct")
    assert len(chat.requests) == 4
    body = chat.requests[0]
    assert body["model"] == "SmolLM2-135M-Instruct" and body["temperature"] == 0
    assert body["max_tokens"] == 4 and body["messages"][0]["role"] == "system"
    rows = stored(loaded_db)
    assert len(rows) == 4 and all(raw for _, raw in rows.values())


def test_retries_on_429_and_5xx(loaded_db: Path, server: ChatServer) -> None:
    server.faults = [429, 500, 503, 502]
    bot = OpenAIAnnotator("m", options(server))
    result = annotate(loaded_db, QUERY, annotator=bot, n=6, progress=False)
    assert (result.asked, result.counts) == (6, {"yes": 6})
    assert len(server.requests) == 10


def test_gives_up_without_storing_and_resumes(loaded_db: Path, server: ChatServer) -> None:
    server.faults = [None, None, 500, 500, None]  # the third item fails twice
    bot = OpenAIAnnotator("m", options(server, concurrency=1, max_retries=1))
    with pytest.raises(AnnotationError, match=r"1 of 5 requests .*HTTP 500 .*after 2 attempts"):
        annotate(loaded_db, QUERY, annotator=bot, n=5, batch_size=5, progress=False)
    assert len(stored(loaded_db)) == 4 and len(server.requests) == 6
    result = annotate(loaded_db, QUERY, annotator=bot, n=5, progress=False)
    assert (result.asked, result.skipped_done) == (1, 4) and len(server.requests) == 7


def test_unreachable_server_fails_fast(loaded_db: Path) -> None:
    bot = OpenAIAnnotator("m", AnnotatorOptions(base_url="http://127.0.0.1:9/v1"))
    started = time.perf_counter()
    with pytest.raises(AnnotationError, match=r"cannot reach http://127.0.0.1:9/v1 .*--base-url"):
        annotate(loaded_db, QUERY, annotator=bot, n=3, progress=False)
    assert time.perf_counter() - started < 5
    with pytest.raises(AnnotationError, match="not an http"):
        OpenAIAnnotator("m", AnnotatorOptions(base_url="ftp://x")).setup(QUERY)


def test_api_key_is_sent_but_never_shown(loaded_db: Path, server: ChatServer,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-secret-123")
    bot = OpenAIAnnotator("m", options(server, api_key_env="TEST_LLM_KEY"))
    annotate(loaded_db, QUERY, annotator=bot, n=2, progress=False)
    assert server.auth == ["Bearer sk-secret-123"] * 2
    # a server that rejects the key and echoes it back
    server.respond = lambda m, t: "unused"
    server.faults = [401] * 3
    bot = OpenAIAnnotator("m", options(server, api_key_env="TEST_LLM_KEY", concurrency=1))
    with pytest.raises(AnnotationError) as err:
        annotate(loaded_db, QUERY, annotator=bot, n=3, progress=False)
    assert "rejected the API key; set TEST_LLM_KEY" in str(err.value)
    assert "sk-secret" not in str(err.value)
    assert bot._redact("key sk-secret-123 is bad") == "key *** is bad"
    monkeypatch.delenv("TEST_LLM_KEY")
    with pytest.raises(AnnotationError, match="--api-key-env TEST_LLM_KEY: that environment"):
        OpenAIAnnotator("m", options(server, api_key_env="TEST_LLM_KEY"))


def test_cli_openai(loaded_db: Path, server: ChatServer) -> None:
    out = CliRunner().invoke(app, ["annotate", "nervous_system", "--db", str(loaded_db),
                                   "--llm", "openai:test-model", "--base-url",
                                   server.url, "-n", "3", "--concurrency", "3", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert (data["asked"], data["annotator"], data["counts"]) == (3, "openai:test-model",
                                                                   {"yes": 3})


def test_retry_after_is_honoured(loaded_db: Path, server: ChatServer) -> None:
    """With no backoff of its own, the client waits only because the server said so: a
    client that ignored Retry-After would retry at once and fail the gap check."""
    server.retry_after = "1.5"
    server.faults = [429]
    bot = OpenAIAnnotator("m", options(server, concurrency=1, backoff=0.0))
    result = annotate(loaded_db, QUERY, annotator=bot, n=1, progress=False)
    assert result.asked == 1 and len(server.times) == 2
    assert server.times[1] - server.times[0] >= 1.4


def test_a_server_echoing_the_key_never_gets_it_stored_or_shown(
        loaded_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers echo the Authorization header; the key must reach neither the database, nor
    `annotations`, nor report.html."""
    key = "sk-live-4f9a8b7c6d5e"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    chat = ChatServer(lambda messages, max_tokens: "unused")
    chat.respond = lambda m, t: f"Yes. (your key is {chat.auth[-1]}; raw {key})"
    chat.start()
    try:
        out = CliRunner().invoke(app, ["annotate", "nervous_system", "--db", str(loaded_db),
                                       "--llm", "openai:m", "--base-url", chat.url, "-n", "4"])
        assert out.exit_code == 0, out.output
        chat.respond = lambda m, t: f"I will not say {key}"  # unparseable, shown as examples
        out = CliRunner().invoke(app, ["annotate", "nervous_system", "--db", str(loaded_db),
                                       "--llm", "openai:m", "--base-url", chat.url, "-n", "8"])
        assert out.exit_code == 0, out.output
    finally:
        chat.stop()
    assert chat.auth[0] == f"Bearer {key}"
    raws = [r[1] for r in stored(loaded_db).values()]
    assert len(raws) == 8 and all(key not in raw and "***" in raw for raw in raws)
    assert key not in loaded_db.read_bytes().decode("latin-1")
    shown = CliRunner().invoke(app, ["annotations", "nervous_system", "--db", str(loaded_db)])
    assert shown.exit_code == 0 and key not in shown.output and "***" in shown.output
    report = CliRunner().invoke(app, ["report", "nervous_system", "--db", str(loaded_db),
                                      "--out", str(tmp_path / "report")])
    assert report.exit_code == 0, report.output
    assert key not in (tmp_path / "report" / "report.html").read_text()


# ------------------------------------------------- logprobs: the annotator's confidence


def _token(text: str, p: float, alternatives: dict[str, float]) -> dict[str, object]:
    return {"token": text, "logprob": math.log(p), "bytes": None,
            "top_logprobs": [{"token": t, "logprob": math.log(q), "bytes": None}
                             for t, q in alternatives.items()]}


def answer_logprobs(messages: list[dict[str, str]], text: str) -> list[dict[str, object]]:
    """OpenAI's chat logprobs for the answer "Yes.": a space-free "Yes" (0.8) over "No"
    (0.15) and an unparseable "Maybe" (0.05), then the full stop."""
    return [_token("Yes", 0.8, {"Yes": 0.8, "No": 0.15, "Maybe": 0.05}),
            _token(".", 0.99, {".": 0.99})]


def test_logprobs_are_stored_as_the_annotators_confidence(loaded_db: Path) -> None:
    chat = ChatServer(lambda messages, max_tokens: "Yes.", logprobs=answer_logprobs)
    chat.start()
    try:
        bot = OpenAIAnnotator("m", options(chat))
        result = annotate(loaded_db, QUERY, annotator=bot, n=3, progress=False)
    finally:
        chat.stop()
    assert result.asked == 3
    assert all(body["logprobs"] is True and body["top_logprobs"] == 5 for body in chat.requests)
    con = duckdb.connect(str(loaded_db), read_only=True)
    rows = con.execute("SELECT label, score FROM annotations").fetchall()
    con.close()
    assert [r[0] for r in rows] == ["yes"] * 3
    assert all(r[1] == pytest.approx(0.8 / 0.95) for r in rows)


def test_a_server_that_rejects_logprobs_still_answers(loaded_db: Path) -> None:
    chat = ChatServer(lambda messages, max_tokens: "No", reject_logprobs=True)
    chat.start()
    try:
        bot = OpenAIAnnotator("m", options(chat, concurrency=1))
        result = annotate(loaded_db, QUERY, annotator=bot, n=3, progress=False)
    finally:
        chat.stop()
    assert result.asked == 3 and result.counts == {"no": 3}
    asked_with = [bool(body.get("logprobs")) for body in chat.requests]
    assert asked_with == [True, False, False, False]  # rejected once, then never asked for
    assert {r[0] for r in stored(loaded_db).values()} == {"no"}


def test_positive_probability_from_tokens() -> None:
    from umlsgraph.annotate.parsing import positive_probability

    labels = QUERY.labels
    ln = math.log
    # markdown and whitespace before the word are skipped; alternatives are normalised
    tokens = [("**", ln(0.9), []), (" no", ln(0.6), [(" no", ln(0.6)), (" yes", ln(0.2))])]
    assert positive_probability(tokens, labels, "yes") == pytest.approx(0.25)
    # only the chosen token's probability: its complement for the other category
    assert positive_probability([("No", ln(0.9), [])], labels, "yes") == pytest.approx(0.1)
    assert positive_probability([("Maybe", ln(0.9), [])], labels, "yes") is None
