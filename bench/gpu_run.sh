#!/usr/bin/env bash
# The whole GPU check in ONE call of under 10 minutes (issue 21): the gpu-marked tests, then
# bench/gpu.py (forward pass alone vs label() end to end on 1M concepts in one run, train,
# annotate: the seed's loop vs umlsgraph's modes). On the GPU machine, from the repository
# root, with bench/gpu_carry carried (filled here once by bench/gpu_prepare.sh):
#     bash bench/gpu_run.sh
# Results (JSON + markdown, rewritten after every section) and the log go to $OUT when it is
# set (only $OUT comes back from the device), else to bench/results/. Extra arguments go to
# bench/gpu.py; the CPU dry run of every code path:  bash bench/gpu_run.sh --tiny
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/gpu_env.sh || exit 1
(nvidia-smi || true) >> "$RESULTS/gpu-run.log" 2>&1
# 570 s: bench/gpu.py saves after each section, so even a cut-short run leaves its figures.
timeout 570 "$PY" bench/gpu.py --results "$RESULTS" "$@" 2>&1 | tee -a "$RESULTS/gpu-run.log"
