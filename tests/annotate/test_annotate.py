"""The annotation driver: batch-by-batch storage, resume (also after kill -9), parse failures,
failed requests, labels-file import, and the `annotate` / `annotations` commands."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph.annotate.backends import (
    BACKENDS,
    Annotator,
    AnnotatorOptions,
    Failure,
    Prompt,
    create,
)
from umlsgraph.annotate.driver import annotate, import_labels, summary
from umlsgraph.annotate.sampling import sample_ids
from umlsgraph.db import annotation_store
from umlsgraph.db.items import ConceptSource, CorpusSource
from umlsgraph.errors import AnnotationError, InputFileError, ModelError
from umlsgraph.query import load_query

QUERY = load_query("nervous_system")


class Scripted(Annotator):
    """Answers with `reply(prompt)`, records every id it is asked, can fail after k batches."""

    backend = "scripted"

    def __init__(self, reply: Callable[[Prompt], object] = lambda p: "Yes.",
                 fail_after: int | None = None) -> None:
        super().__init__("test")
        self.reply, self.fail_after = reply, fail_after
        self.asked: list[str] = []
        self.batches = 0

    def answer(self, prompts: Sequence[Prompt]) -> list:
        if self.fail_after is not None and self.batches >= self.fail_after:
            raise RuntimeError("model crashed")
        self.batches += 1
        self.asked.extend(p.id for p in prompts)
        return [self.reply(p) for p in prompts]


def stored(db: Path, annotator: str = "scripted:test") -> dict[str, tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT id, label, raw, score FROM annotations WHERE annotator = ?",
                           [annotator]).fetchall()
    finally:
        con.close()
    return {r[0]: r[1:] for r in rows}


def test_answers_are_parsed_and_stored(loaded_db: Path) -> None:
    answers = iter(["Yes.", "**No**", "maybe", "Answer: yes", "", "N/A"] * 5)
    bot = Scripted(lambda p: next(answers))
    result = annotate(loaded_db, QUERY, annotator=bot, n=12, batch_size=5, progress=False)
    assert (result.asked, result.sample_size, result.skipped_done) == (12, 12, 0)
    assert result.counts == {"yes": 4, "no": 2} and result.unparseable == 6
    assert bot.batches == 3
    rows = stored(loaded_db)
    assert len(rows) == 12 and {r[0] for r in rows.values()} == {"yes", "no", None}
    assert sorted(r[1] for r in rows.values() if r[0] is None) == ["", "", "N/A", "N/A",
                                                                   "maybe", "maybe"]
    assert sorted(bot.asked) == sorted(sample_ids(duckdb.connect(str(loaded_db)), QUERY,
                                                  ConceptSource(), 12, QUERY.sample.seed))


def test_prompts_carry_system_and_few_shot_turns(loaded_db: Path) -> None:
    seen: list[Prompt] = []
    annotate(loaded_db, QUERY, annotator=Scripted(lambda p: seen.append(p) or "no"), n=1,
             progress=False)
    roles = [m["role"] for m in seen[0].messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert seen[0].messages[0]["content"] == QUERY.system
    assert seen[0].messages[2]["content"] == "yes" and seen[0].messages[4]["content"] == "no"
    assert seen[0].text in seen[0].messages[-1]["content"]


def test_resume_after_a_crash_asks_nothing_twice(loaded_db: Path) -> None:
    first = Scripted(fail_after=2)
    with pytest.raises(RuntimeError):
        annotate(loaded_db, QUERY, annotator=first, n=20, batch_size=4, progress=False)
    assert len(first.asked) == 8 and len(stored(loaded_db)) == 8
    second = Scripted()
    result = annotate(loaded_db, QUERY, annotator=second, n=20, batch_size=4, progress=False)
    assert (result.asked, result.skipped_done) == (12, 8)
    assert not set(first.asked) & set(second.asked)
    assert len(stored(loaded_db)) == 20
    third = Scripted()
    again = annotate(loaded_db, QUERY, annotator=third, n=20, progress=False)
    assert third.asked == [] and again.asked == 0 and again.skipped_done == 20
    more = annotate(loaded_db, QUERY, annotator=third, n=25, progress=False)
    assert more.asked == 5 and len(stored(loaded_db)) == 25


def test_a_changed_prompt_is_a_fresh_set(loaded_db: Path) -> None:
    annotate(loaded_db, QUERY, annotator=Scripted(), n=5, progress=False)
    edited = replace(QUERY, prompt="Is {text} neural?")
    bot = Scripted()
    assert annotate(loaded_db, edited, annotator=bot, n=5, progress=False).asked == 5
    hashes = duckdb.connect(str(loaded_db)).execute(
        "SELECT prompt_hash, count(*) FROM annotations GROUP BY ALL").fetchall()
    assert sorted(n for _, n in hashes) == [5, 5]


def test_failed_requests_are_not_stored_and_asked_again(loaded_db: Path) -> None:
    flaky = Scripted(lambda p: Failure("HTTP 503 from server") if p.id.endswith(("1", "3"))
                     else "no")
    ids = sample_ids(duckdb.connect(str(loaded_db)), QUERY, ConceptSource(), 30, 42)
    bad = [i for i in ids if i.endswith(("1", "3"))]
    with pytest.raises(AnnotationError, match="requests in a batch failed .*HTTP 503.*re-run"):
        annotate(loaded_db, QUERY, annotator=flaky, n=30, batch_size=30, progress=False)
    assert set(stored(loaded_db)) == set(ids) - set(bad)
    retry = Scripted()
    annotate(loaded_db, QUERY, annotator=retry, n=30, progress=False)
    assert sorted(retry.asked) == sorted(bad)


def test_corpus_items_are_annotated_like_concepts(loaded_db: Path) -> None:
    con = duckdb.connect(str(loaded_db))
    con.execute("CREATE TABLE corpus_items (corpus VARCHAR, id VARCHAR, text VARCHAR, "
                "gold VARCHAR, split VARCHAR)")
    con.executemany("INSERT INTO corpus_items VALUES ('rt', ?, ?, NULL, 'train')",
                    [(f"r{i}", f"review number {i}") for i in range(8)])
    con.close()
    imdb = load_query("imdb_sentiment")
    bot = Scripted(lambda p: "Positive!")
    result = annotate(loaded_db, imdb, CorpusSource("rt"), bot, n=100, progress=False)
    assert (result.asked, result.source, result.counts) == (8, "corpus:rt", {"positive": 8})
    assert all(p.startswith("r") for p in bot.asked)


def test_kill_9_loses_at_most_the_batch_in_flight(loaded_db: Path, tmp_path: Path) -> None:
    log = tmp_path / "asked.txt"
    script = textwrap.dedent(f"""
        import time
        from umlsgraph.annotate.driver import annotate
        from umlsgraph.annotate.backends import Annotator

        class Slow(Annotator):
            backend = "scripted"
            def answer(self, prompts):
                with open({str(log)!r}, "a") as f:
                    f.write(" ".join(p.id for p in prompts) + "\\n")
                time.sleep(0.4)
                return ["yes"] * len(prompts)

        annotate({str(loaded_db)!r}, "nervous_system", annotator=Slow("test"), n=60,
                 batch_size=5, progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) >= 4:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    asked_before = log.read_text().split()
    kept = stored(loaded_db)
    assert 15 <= len(kept) <= len(asked_before) and len(asked_before) - len(kept) <= 5
    resumed = Scripted()
    annotate(loaded_db, QUERY, annotator=resumed, n=60, batch_size=5, progress=False)
    assert not set(resumed.asked) & set(kept)
    assert len(asked_before) + len(resumed.asked) - 60 <= 5  # only the batch in flight again
    assert len(stored(loaded_db)) == 60


def test_registry_errors_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError, match="unknown annotator backend 'nope'.*known: .*embed.*hf"):
        create("nope:x")
    with pytest.raises(ModelError, match="names no model; use --llm hf:MODEL"):
        create("hf")
    with pytest.raises(ModelError, match="/no/such.gguf: no such GGUF file"):
        create("hf:/no/such.gguf")
    with pytest.raises(ModelError, match="--mode constrained is not supported by the 'openai'"):
        create("openai:gpt-4o", AnnotatorOptions(mode="constrained"))
    monkeypatch.setitem(BACKENDS, "scripted", lambda model, options: Scripted())
    assert create("scripted:anything").name == "scripted:test"


# --- labels files ------------------------------------------------------------------------

def test_import_labels_csv_with_bad_rows(loaded_db: Path, tmp_path: Path) -> None:
    ids = sample_ids(duckdb.connect(str(loaded_db)), QUERY, ConceptSource(), 6, 1)
    path = tmp_path / "gold.csv"
    path.write_text("cui,label\n"
                    f"{ids[0]},yes\n{ids[1]},No\n{ids[2]},Y\n{ids[3]},YES\n"
                    f"{ids[4]},maybe\n,yes\n{ids[5]},\nC9999999,no\n")
    result = import_labels(loaded_db, QUERY, path)
    assert result.annotator == "labels:gold.csv"
    assert (result.imported, result.counts) == (4, {"yes": 3, "no": 1})
    assert (result.unknown_ids, result.unknown_examples) == (1, ["C9999999"])
    assert result.bad_rows == 3 and "line 6: label 'maybe'" in result.bad_examples[0]
    con = duckdb.connect(str(loaded_db), read_only=True)
    labels = dict(con.execute(annotation_store.labels_sql(QUERY.name, "concepts",
                                                     ["labels:gold.csv"])).fetchall())
    assert labels == {ids[0]: "yes", ids[1]: "no", ids[2]: "yes", ids[3]: "yes"}


def test_import_labels_jsonl_and_file_errors(loaded_db: Path, tmp_path: Path) -> None:
    ids = sample_ids(duckdb.connect(str(loaded_db)), QUERY, ConceptSource(), 3, 1)
    path = tmp_path / "human.jsonl"
    path.write_text(json.dumps({"id": ids[0], "label": "no"}) + "\n{broken\n\n"
                    + json.dumps({"id": ids[1], "category": "yes"}) + "\n[1, 2]\n")
    result = import_labels(loaded_db, QUERY, path)
    assert (result.imported, result.bad_rows) == (2, 2)
    assert result.bad_examples == ["line 2: not a JSON object", "line 5: not a JSON object"]
    with pytest.raises(InputFileError, match="missing.csv: no such labels file"):
        import_labels(loaded_db, QUERY, tmp_path / "missing.csv")
    (tmp_path / "cols.csv").write_text("name,value\na,b\n")
    with pytest.raises(InputFileError, match="no id column; expected one of id, cui"):
        import_labels(loaded_db, QUERY, tmp_path / "cols.csv")
    (tmp_path / "junk.csv").write_text("id,label\nx,perhaps\n")
    with pytest.raises(InputFileError, match="no usable labels"):
        import_labels(loaded_db, QUERY, tmp_path / "junk.csv")


# --- summary and CLI ---------------------------------------------------------------------

def test_summary_counts_and_unparseable_examples(loaded_db: Path) -> None:
    answers = iter(["yes", "no", "what?", "no"] * 3)
    annotate(loaded_db, QUERY, annotator=Scripted(lambda p: next(answers)), n=8, progress=False)
    (group,) = summary(loaded_db, QUERY)
    assert group["annotator"] == "scripted:test" and group["prompt_hash"] == QUERY.prompt_hash()
    assert (group["total"], group["counts"], group["unparseable"]) == (8, {"yes": 2, "no": 4}, 2)
    assert group["examples"] == ["what?", "what?"]


runner = CliRunner()


def test_cli_annotate_labels_file_and_annotations(loaded_db: Path, tmp_path: Path) -> None:
    ids = sample_ids(duckdb.connect(str(loaded_db)), QUERY, ConceptSource(), 3, 1)
    path = tmp_path / "gold.csv"
    path.write_text("id,label\n" + "".join(f"{i},yes\n" for i in ids) + "C9999999,no\nx,\n")
    out = runner.invoke(app, ["annotate", "nervous_system", "--db", str(loaded_db),
                              "--labels-file", str(path)])
    assert out.exit_code == 0, out.output
    assert "Imported 3 labels as labels:gold.csv (yes: 3)" in out.output
    assert "1 ids are not among the query's items" in out.output
    out = runner.invoke(app, ["annotations", "nervous_system", "--db", str(loaded_db), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)[0]["counts"] == {"yes": 3}
    out = runner.invoke(app, ["annotations", "nervous_system", "--db", str(loaded_db)])
    assert "labels:gold.csv" in out.output and "yes: 3" in out.output


def test_cli_annotate_with_a_registered_backend(loaded_db: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(BACKENDS, "scripted",
                        lambda model, options: Scripted(lambda p: "Nope, unsure"))
    out = runner.invoke(app, ["annotate", "nervous_system", "--db", str(loaded_db),
                              "--llm", "scripted:x", "-n", "7", "--batch-size", "3", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert (data["asked"], data["unparseable"], data["annotator"]) == (7, 7, "scripted:test")
    out = runner.invoke(app, ["annotations", "nervous_system", "--db", str(loaded_db)])
    assert "unparseable from scripted:test, e.g. 'Nope, unsure'" in out.output


@pytest.mark.parametrize("args, message", [
    (["--llm", "nope:x"], "unknown annotator backend 'nope'"),
    ([], "say which annotator to use"),
    (["--llm", "hf:/models/none/x.gguf"], "/models/none/x.gguf: no such GGUF file"),
    pytest.param(["--llm", "vllm:/models/x"], "pip install 'umlsgraph[vllm]'",
                 marks=pytest.mark.skipif(importlib.util.find_spec("vllm") is not None,
                                          reason="vllm is installed")),
    (["--llm", "openai:m", "--base-url", "http://127.0.0.1:9/v1"], "cannot reach"),
    (["--llm", "embed", "--labels-file", "x.csv"], "either --llm or --labels-file"),
])
def test_cli_user_errors_are_one_line(loaded_db: Path, args: list[str], message: str) -> None:
    out = runner.invoke(app, ["annotate", "nervous_system", "--db", str(loaded_db), "-n", "2",
                              *args])
    assert out.exit_code == 1, out.output
    assert message in out.output and "Traceback" not in out.output
    assert len(out.output.strip().splitlines()) == 1, out.output


def test_cli_missing_database(tmp_path: Path) -> None:
    out = runner.invoke(app, ["annotate", "nervous_system", "--db", str(tmp_path / "x.duckdb"),
                              "--llm", "embed"])
    assert out.exit_code == 1 and "no such database" in out.output
