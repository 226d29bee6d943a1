"""Labelled data for the training and labelling tests.

On the synthetic release a concept is "yes" for the nervous-system query when its preferred
name holds a nervous-system word: a rule the encoder can only learn from the text. `HeldOut`
restricts any item source to a set of ids, so tests label (and score) just those.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

from umlsgraph.db import annotation_store
from umlsgraph.db.annotation_store import Annotation
from umlsgraph.db.items import SubsetSource
from umlsgraph.query import Query

NEURO = {"nerve", "brain", "spinal", "cord", "cortex", "ganglion", "neuron", "axon",
         "cerebellum", "thalamus", "plexus"}


def write_labels(path: Path, labels: dict[str, str]) -> Path:
    """A labels CSV (id,label), as `annotate --labels-file` and `labels:FILE` read it."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "label"])
        writer.writerows(sorted(labels.items()))
    return path


def word_gold(db: Path) -> dict[str, str]:
    """{cui: yes|no} for every concept of a synthetic release, by the words of its name."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT cui, name FROM concepts ORDER BY cui").fetchall()
    finally:
        con.close()
    return {cui: "yes" if set(name.lower().split()) & NEURO else "no" for cui, name in rows}


def annotate(db: Path, query: Query, labels: dict[str, str], annotator: str = "llm",
             source: str = "concepts") -> None:
    """Store `labels` as parsed annotations, as an annotator or a labels file would."""
    con = duckdb.connect(str(db))
    try:
        annotation_store.write(con, query.name, source, annotator, query.prompt_hash(),
                          [Annotation(i, lab, lab) for i, lab in labels.items()])
    finally:
        con.close()


#: An item source limited to the ids of `ids_sql` (e.g. the concepts never trained on).
HeldOut = SubsetSource


def values_sql(ids: list[str]) -> str:
    """SQL of one column `id` holding `ids`."""
    return "SELECT * FROM (VALUES " + ", ".join(f"('{i}')" for i in ids) + ") t(id)"


KILL_AFTER_FIRST = """
import json, os, signal, sys
from pathlib import Path
from umlsgraph.db.items import ConceptSource
from umlsgraph.query import load_query

def die(*_):
    os.kill(os.getpid(), signal.SIGKILL)

args = json.loads(sys.argv[1])
query, source = load_query(args["query"]), ConceptSource()
if args["step"] == "train":
    from umlsgraph.settings import TrainConfig
    from umlsgraph.train.trainer import train
    train(args["db"], query, source, TrainConfig(**args["config"]), Path(args["out"]),
          progress=False, on_epoch=die)
else:
    from umlsgraph.label.labeller import label
    label(args["db"], query, source, Path(args["model"]), chunk_size=args["chunk_size"],
          progress=False, on_chunk=die)
"""


def killed_after_first(step: str, **args: Any) -> int:
    """Run train (label) in a subprocess that kill -9s itself after its first epoch (chunk)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-c", KILL_AFTER_FIRST,
                           json.dumps({"step": step, **args}, default=str)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    return proc.returncode
