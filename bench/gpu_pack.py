"""Pack what the encoder studies need on the GPU machine into one carried file, and unpack it there.

The GPU machine has no network and takes at most 64 MiB of carried files per call. The shipped
MiniLM (84 MB in float32) and the HPO store do not fit beside the duckdb wheel, so:

  --pack    (here) writes bench/gpu_carry/study.tar.xz: MiniLM's tokenizer and config, its
            weights in float16 with the word-embedding rows of tokens that no HPO string
            (name, synonym or definition) ever produces set to zero (those rows are never
            looked up on HPO text, so training and labelling HPO concepts see the same
            model up to float16 rounding), the pristine HPO store bench/quality.py builds,
            and bench/gpu.py's two tokenizers (compressed: they are 4 MB as they are).
  --unpack  (on the GPU machine) restores float32 weights into FOLDER/minilm, the store into
            FOLDER/cache/hpo.duckdb and the tokenizers into bench/gpu_carry/; point
            UMLSGRAPH_QUALITY_CACHE at FOLDER/cache and pass --base-model FOLDER/minilm to
            bench/reask.py or bench/quality.py (bench/gpu_env.sh does both).

    python bench/gpu_pack.py --pack
    python bench/gpu_pack.py --unpack /tmp/study
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

PACKED = HERE / "gpu_carry" / "study.tar.xz"
WEIGHTS = "model.safetensors"
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
               "special_tokens_map.json")
#: Token ids kept whatever the HPO text: [PAD], [UNK], [CLS], [SEP], [MASK], the unused slots
#: and every single character and punctuation mark of BERT's uncased vocabulary.
ALWAYS_KEPT = 2100
EMBEDDINGS = "embeddings.word_embeddings.weight"
TOKENIZERS = ("bert-tokenizer", "llama-tokenizer")


def used_token_ids(store: Path, tokenizer_dir: Path) -> set[int]:
    """Every token id MiniLM's tokenizer produces on the store's names and definitions."""
    import duckdb
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    con = duckdb.connect(str(store), read_only=True)
    try:
        texts = [r[0] for r in con.execute(
            "SELECT DISTINCT str FROM names UNION SELECT DISTINCT def FROM definitions"
        ).fetchall() if r[0]]
    finally:
        con.close()
    ids: set[int] = set(range(ALWAYS_KEPT))
    for start in range(0, len(texts), 5000):
        for row in tokenizer(texts[start:start + 5000])["input_ids"]:
            ids.update(row)
    return ids


def pack() -> Path:
    import quality as q
    import torch
    from safetensors.torch import load_file, save_file

    minilm, store = q.minilm(), q.store()
    keep = sorted(used_token_ids(store, minilm))
    tensors = load_file(str(minilm / WEIGHTS))
    half = {k: v.to(torch.float16) for k, v in tensors.items()}
    mask = torch.zeros(half[EMBEDDINGS].shape[0], dtype=torch.bool)
    mask[keep] = True
    half[EMBEDDINGS][~mask] = 0
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "study"
        (staged / "minilm").mkdir(parents=True)
        save_file(half, str(staged / "minilm" / WEIGHTS), metadata={"format": "pt"})
        for name in MODEL_FILES:
            shutil.copy(minilm / name, staged / "minilm" / name)
        shutil.copy(store, staged / "hpo.duckdb")
        for name in TOKENIZERS:  # bench/gpu.py's, when bench/gpu_prepare.sh made them
            if (PACKED.parent / name).is_dir():
                shutil.copytree(PACKED.parent / name, staged / name)
        PACKED.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(PACKED, "w:xz") as tar:
            tar.add(staged, arcname="study")
    print(f"{PACKED}: {PACKED.stat().st_size / 1e6:.1f} MB; {len(keep):,} of "
          f"{mask.numel():,} embedding rows kept")
    return PACKED


def unpack(folder: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(PACKED, "r:xz") as tar:
        tar.extractall(folder, filter="data")
    staged = folder / "study"
    weights = staged / "minilm" / WEIGHTS
    save_file({k: v.to(torch.float32) for k, v in load_file(str(weights)).items()},
              str(weights), metadata={"format": "pt"})
    shutil.rmtree(folder / "minilm", ignore_errors=True)
    (staged / "minilm").rename(folder / "minilm")
    (folder / "cache").mkdir(exist_ok=True)
    (staged / "hpo.duckdb").rename(folder / "cache" / "hpo.duckdb")
    for name in TOKENIZERS:
        if (staged / name).is_dir():
            shutil.rmtree(PACKED.parent / name, ignore_errors=True)
            shutil.move(staged / name, PACKED.parent / name)
    shutil.rmtree(staged)
    print(f"unpacked {folder / 'minilm'} (float32) and {folder / 'cache' / 'hpo.duckdb'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--pack", action="store_true")
    group.add_argument("--unpack", type=Path, metavar="FOLDER")
    args = parser.parse_args()
    if args.pack:
        pack()
    else:
        unpack(args.unpack)


if __name__ == "__main__":
    main()
