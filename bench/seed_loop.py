"""The seed's annotation loop, rewritten from its description, as the baseline of the benchmarks.

The seed (LlamBERT's `LLM/llama_inference.py`, run as its README shows with
`--max-new-tokens 5 --batch-size 1`) reads a list of ready-made prompt strings, loads the causal
LM with `from_pretrained(..., return_dict=True, device_map=...)` (its `low_cpu_mem_usage` is
transformers 5's only behaviour; its `length_penalty` acts on beam search only), sets
the tokenizer's pad token to EOS and then adds a `<PAD>` token (resizing the embeddings), and
for each prompt, one at a time: tokenizes it (padding "longest", truncation), calls
`generate` with sampling on (temperature 1.0, top_p 1.0, top_k 50, repetition penalty 1.0,
KV cache on), decodes the whole sequence without special tokens, cuts the prompt's length off
the front, strips punctuation, lower-cases, and maps yes/positive to 1, no/negative to 0 and
anything else to 2. No database: answers are collected in lists.

Only the loop is timed (not the load), as umlsgraph's own modes are timed without theirs.
"""

from __future__ import annotations

import time
from typing import Any

SEED_MAX_NEW_TOKENS = 5  # the seed README's command line


def load_like_the_seed(model_dir: str, device: str) -> tuple[Any, Any]:
    """(model, tokenizer) the way the seed loads them, placed on `device` (a `.gguf` file is
    read through transformers' `gguf_file`, as umlsgraph's hf backend does)."""
    from pathlib import Path

    from transformers import AutoModelForCausalLM, AutoTokenizer

    source: dict[str, Any] = {"pretrained_model_name_or_path": model_dir}
    if model_dir.endswith(".gguf"):
        source = {"pretrained_model_name_or_path": str(Path(model_dir).parent),
                  "gguf_file": Path(model_dir).name}
    placement = {"device_map": device} if device.startswith("cuda") else {}
    model = AutoModelForCausalLM.from_pretrained(**source, return_dict=True, **placement)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(**source)
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.add_special_tokens({"pad_token": "<PAD>"})
    model.resize_token_embeddings(len(tokenizer))
    return model, tokenizer


def answer_code(text: str) -> int:
    """The seed's parse: 1 yes/positive, 0 no/negative, 2 anything else."""
    cleaned = text.strip().strip(".,!?;").strip().strip(".,!?;").lower()
    if cleaned in ("no", "negative"):
        return 0
    if cleaned in ("yes", "positive"):
        return 1
    return 2


def seed_loop(model: Any, tokenizer: Any, prompts: list[str], device: str,
              max_new_tokens: int = SEED_MAX_NEW_TOKENS, seed: int = 42) -> dict[str, Any]:
    """Annotate `prompts` one at a time with sampled generation; the figures of the loop."""
    import torch

    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed(seed)
    codes: list[int] = []
    started = time.perf_counter()
    for i in range(len(prompts)):
        batch_prompts = prompts[i:i + 1]
        batch = tokenizer(batch_prompts, padding="longest", truncation=True, return_tensors="pt")
        batch = {k: v.to(device) for k, v in batch.items()}
        with torch.no_grad():
            outputs = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=True,
                                     top_p=1.0, temperature=1.0, use_cache=True, top_k=50,
                                     repetition_penalty=1.0)
        for prompt, output in zip(batch_prompts, outputs, strict=True):
            text = tokenizer.decode(output, skip_special_tokens=True)
            codes.append(answer_code(text[len(prompt):]))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return {"items": len(codes), "seconds": seconds, "batch_size": 1,
            "max_new_tokens": max_new_tokens, "unparseable": codes.count(2),
            "dtype": str(next(model.parameters()).dtype)}
