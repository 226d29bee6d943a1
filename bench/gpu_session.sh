#!/usr/bin/env bash
# One GPU-machine call of under 10 minutes that does both GPU jobs (see bench/GPU.md):
#  1. label() on the GPU against the forward pass alone (bench/gpu.py --quick: 500k concepts,
#     default workers), alone on the machine so the figures are clean;
#  2. then, side by side until SECONDS (default 560) after the start: the gpu-marked tests
#     (tests/gpu; log in gpu-tests.log) and the issue-30 re-ask study (bench/gpu_reask.sh).
# Everything lands in $OUT (8 files at most come back): gpu-*.json/.md, gpu-run.log,
# gpu-tests.log, reask.jsonl, reask.md, reask.log.
#     bash bench/gpu_session.sh 560
# CPU dry run of the same steps at toy sizes (minutes):
#     OUT=/tmp/dry ITEMS=2000 SUBTREES=eye NOISES=branches10 SEEDS=1 \
#         REASK_ARGS="--sample 300 --held-out 300" bash bench/gpu_session.sh 900
set -uo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
DEADLINE=$((START + ${1:-560}))
source bench/gpu_env.sh || exit 1
bash bench/gpu_run.sh --quick --skip-tests --items "${ITEMS:-500000}"
timeout $((DEADLINE - $(date +%s) - 20)) "$PY" -m pytest -m gpu tests/gpu -q -p no:cacheprovider \
    > "$RESULTS/gpu-tests.log" 2>&1 &
bash bench/gpu_reask.sh $((DEADLINE - $(date +%s) - 15)) ${REASK_ARGS:-}
wait
tail -3 "$RESULTS/gpu-tests.log"
echo "session: $(($(date +%s) - START)) s"
