#!/usr/bin/env bash
# The re-ask encoder study of issue 30 (bench/reask.py, recipe "new": the shipped MiniLM
# fine-tuned as `umlsgraph train` does) on the GPU machine, one process per subtree and seed
# side by side (the noises one after the other), each stopped after SECONDS (default 300) so the call ends in time. Rows are
# appended to $OUT/reask.jsonl as each run finishes (resumable: bench/reask.py skips rows
# already there), the log to $OUT/reask.log. Needs bench/gpu_carry/ as bench/gpu_prepare.sh
# fills it here (wheels and study.tar.xz; bench/gpu_env.sh installs and unpacks them):
#     bash bench/gpu_reask.sh 300 [extra bench/reask.py options]
# Cases: SUBTREES (default: the test subtrees skeletal, eye, genitourinary, and cardiovascular,
# the case the issue names), SEEDS (default 1 2 3), NOISES (default branches10,misses10), a 5%
# budget chosen by STRATEGIES (default contradictions,random; e.g. contradictions+closure: see
# bench/reask.py); the issue's done-when is read off these rows.
set -uo pipefail
cd "$(dirname "$0")/.."
LIMIT=${1:-300}
shift || true
source bench/gpu_env.sh || exit 1
export UMLSGRAPH_QUALITY_CACHE=$STUDY/cache OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} \
    PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
for subtree in ${SUBTREES:-skeletal eye genitourinary cardiovascular}; do
    for seed in ${SEEDS:-1 2 3}; do
        timeout "$LIMIT" "$PY" bench/reask.py --subtrees "$subtree" --seeds "$seed" \
            --noise "${NOISES:-branches10,misses10}" --budgets 5 --quick \
            --strategies "${STRATEGIES:-contradictions,random}" \
            --base-model "$STUDY/minilm" --results "$RESULTS/reask.jsonl" \
            --work "$STUDY/work" "$@" 2>&1 | sed -u "s/^/[$subtree $seed] /" \
            >> "$RESULTS/reask.log" &
    done
done
wait
echo "reask rows: $(wc -l < "$RESULTS/reask.jsonl" 2>/dev/null || echo 0)" | tee -a "$RESULTS/reask.log"
