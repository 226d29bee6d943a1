"""The label input pipeline: the same batches and predictions as the single-thread path it
replaced, with worker processes or threads; resumable after kill -9; no orphan workers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import duckdb
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from umlsgraph.db.items import ConceptSource  # noqa: E402
from umlsgraph.inference.model import Chunk  # noqa: E402
from umlsgraph.inference.model import EncoderModel as Labeller  # noqa: E402
from umlsgraph.label.labeller import label  # noqa: E402
from umlsgraph.label.prepare import FastPreparer, spec_of  # noqa: E402
from umlsgraph.model_folder import write_meta  # noqa: E402
from umlsgraph.query import load_query  # noqa: E402

QUERY = load_query("nervous_system")
HOSTILE = ["", " ", "a", "x" * 5000, "word " * 200, "Ünïcödé ñame; ‮bidi‬", "tab\tnew\nline\r",
           "quote \" back \\ slash ]]> <tag>", "\x00\x01control", "數字 123 ½", "🙂 emoji"]


@pytest.fixture(scope="module")
def model_dir(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT of fixed random weights with MiniLM's tokenizer (fast on a CPU)."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(3)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, num_labels=2,
                        initializer_range=0.5)
    out = tmp_path_factory.mktemp("pipeline") / "model"
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_meta(out, {"complete": True, "model_id": "pipeline-test", "query": QUERY.name,
                     "categories": QUERY.categories, "positive": QUERY.positive,
                     "text": asdict(QUERY.text), "max_length": 24})
    return out


def concept_texts(db: Path) -> list[tuple[str, str]]:
    """(id, text) of every concept, by id: what `label` renders."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        sql = ConceptSource().texts_sql(QUERY, "SELECT cui AS id FROM concepts")
        return [(str(i), t or "") for i, t in con.execute(sql + " ORDER BY id").fetchall()]
    finally:
        con.close()


def stored(db: Path) -> dict[str, tuple[str, float, object]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT id, label, probability, created_at FROM predictions").fetchall()
    finally:
        con.close()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


@pytest.mark.parametrize("bucketing", [True, False])
def test_prepared_batches_are_the_labellers(model_dir: Path, loaded_db: Path,
                                            bucketing: bool) -> None:
    labeller = Labeller(model_dir, device="cpu", batch_size=16, bucketing=bucketing)
    texts = [t for _, t in concept_texts(loaded_db)][:120] + HOSTILE
    spec = spec_of(labeller.tokenizer, labeller.max_length, labeller.pad_id,
                   labeller.batch_size, bucketing)
    assert spec is not None
    ours = FastPreparer(spec)(texts)
    theirs = labeller.batches(texts)
    assert len(ours) == len(theirs)
    for mine, (positions, tensors) in zip(ours, theirs, strict=True):
        assert mine.positions == positions
        assert np.array_equal(mine.input_ids, tensors["input_ids"].numpy())
        assert np.array_equal(mine.attention_mask, tensors["attention_mask"].numpy())
    assert max(b.input_ids.shape[1] for b in ours) == 24  # truncated to max_length


def reference(model_dir: Path, db: Path, chunk_size: int) -> dict[str, tuple[str, float]]:
    """What the replaced path wrote: chunks of the ids in order, `Labeller.predict` each."""
    labeller = Labeller(model_dir, device="cpu")
    items = concept_texts(db)
    out: dict[str, tuple[str, float]] = {}
    for start in range(0, len(items), chunk_size):
        part = items[start:start + chunk_size]
        ids = [i for i, _ in part]
        labels, probs = labeller.predict(Chunk(ids, labeller.batches([t for _, t in part])))
        out.update(zip(ids, zip(labels, probs, strict=True), strict=True))
    return out


@pytest.mark.parametrize("workers,kind", [(0, "process"), (2, "process"), (2, "thread")])
def test_predictions_are_identical_to_the_single_thread_path(
        model_dir: Path, loaded_db: Path, workers: int, kind: str) -> None:
    expected = reference(model_dir, loaded_db, chunk_size=64)
    chunks: list[int] = []
    result = label(loaded_db, QUERY, ConceptSource(), model_dir, chunk_size=64, device="cpu",
                   progress=False, on_chunk=chunks.append, workers=workers, worker_kind=kind)
    assert result.labelled == result.candidates == len(expected) == 300
    assert chunks == [64, 128, 192, 256, 300]
    got = {i: (lab, p) for i, (lab, p, _) in stored(loaded_db).items()}
    assert got == expected  # bit for bit: same batches, same forward passes


def test_bad_worker_options_are_one_line_errors(model_dir: Path, loaded_db: Path) -> None:
    from umlsgraph.errors import ModelError

    for workers, kind in ((-1, "process"), (1, "fiber")):
        with pytest.raises(ModelError, match="--workers"):
            label(loaded_db, QUERY, ConceptSource(), model_dir, device="cpu", progress=False,
                  workers=workers, worker_kind=kind)


STOPPED_AFTER_FIRST = """
import json, os, signal, sys
from pathlib import Path
from umlsgraph.db.items import ConceptSource
from umlsgraph.label.labeller import label
from umlsgraph.query import load_query

args = json.loads(sys.argv[1])
import faulthandler
faulthandler.dump_traceback_later(240, exit=True)  # a hang shows where, before the timeout

def children():
    mine = str(os.getpid())
    pids = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[1] == mine:
                    pids.append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    return pids

def stop(_):
    Path(args["pids"]).write_text(json.dumps(children()))
    os.kill(os.getpid(), getattr(signal, args["signal"]))

label(args["db"], load_query("nervous_system"), ConceptSource(), Path(args["model"]),
      chunk_size=64, device="cpu", progress=False, on_chunk=stop, workers=2)
"""


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stopped_after_first_chunk(db: Path, model: Path, tmp_path: Path, sig: str) -> list[int]:
    """Run `label` with two worker processes in a child that signals itself after its first
    chunk; returns the pids of its child processes then."""
    pids = tmp_path / f"pids-{sig}.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-c", STOPPED_AFTER_FIRST,
                           json.dumps({"db": str(db), "model": str(model), "pids": str(pids),
                                       "signal": sig})],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0, proc.stderr[-2000:]
    return json.loads(pids.read_text())


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("sig", ["SIGKILL", "SIGINT"])
def test_killed_run_leaves_no_workers_and_resumes(model_dir: Path, loaded_db: Path,
                                                  tmp_path: Path, sig: str) -> None:
    workers = stopped_after_first_chunk(loaded_db, model_dir, tmp_path, sig)
    assert len(workers) >= 2  # the two workers (and multiprocessing's resource tracker)
    deadline = time.monotonic() + 15
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in workers), "worker processes outlived their parent"
    first = stored(loaded_db)
    assert len(first) == 64
    result = label(loaded_db, QUERY, ConceptSource(), model_dir, chunk_size=64, device="cpu",
                   progress=False, workers=2)
    assert (result.already, result.labelled) == (64, 236)
    after = stored(loaded_db)
    assert all(after[i][2] == row[2] for i, row in first.items())  # not redone
    expected = reference(model_dir, loaded_db, chunk_size=64)
    assert {i: (lab, p) for i, (lab, p, _) in after.items()} == expected


def test_pipeline_handles_a_copy_of_the_store(model_dir: Path, loaded_db: Path,
                                              tmp_path: Path) -> None:
    """Chunks larger than the todo list, and a second run that finds nothing to do."""
    db = tmp_path / "copy.duckdb"
    shutil.copy(loaded_db, db)
    first = label(db, QUERY, ConceptSource(), model_dir, chunk_size=10_000, device="cpu",
                  progress=False, workers=1)
    again = label(db, QUERY, ConceptSource(), model_dir, device="cpu", progress=False,
                  workers=1)
    assert (first.labelled, again.labelled, again.already) == (300, 0, 300)
