#!/usr/bin/env bash
# Fill bench/gpu_carry/ (git-ignored, ~58 MB: the device tool carries at most 64 MiB) with what
# the GPU machine needs and cannot fetch there (no network): wheels for its Python 3.12 of
# duckdb and of the small packages umlsgraph imports that it lacks (torch, transformers,
# pyarrow, rich, typer, networkx, scikit-learn and pytest are there), and study.tar.xz
# (bench/gpu_pack.py: MiniLM, the HPO store, bench/gpu.py's two tokenizers). Run once, here:
#     bash bench/gpu_prepare.sh
# then carry bench/gpu_carry/wheels and bench/gpu_carry/study.tar.xz (see bench/GPU.md).
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=bench/gpu_carry
DUCKDB_VERSION=$(python -c "import duckdb; print(duckdb.__version__)" 2>/dev/null || echo 2.0.1)
rm -rf "$CARRY/wheels"
mkdir -p "$CARRY/wheels"
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$CARRY/wheels" "duckdb==$DUCKDB_VERSION" rdflib neo4j pytz pyahocorasick cleanlab termcolor
HF_HUB_OFFLINE=1 python bench/gpu.py --prepare --assets "$CARRY"
python bench/gpu_pack.py --pack
du -sh "$CARRY/wheels" "$CARRY/study.tar.xz"
