# Sourced by bench/gpu_run.sh, bench/gpu_reask.sh and bench/gpu_session.sh on the GPU machine
# (no network): installs the carried wheels (bench/gpu_carry/wheels: duckdb and the few small
# packages umlsgraph imports that the machine lacks) into a temporary folder when duckdb is
# missing, unpacks bench/gpu_carry/study.tar.xz (MiniLM, the HPO store, the tokenizers; see
# bench/gpu_pack.py) into $STUDY once, and sets PY, RESULTS and the environment.
PY=${PYTHON:-python3}
RESULTS=${OUT:-bench/results}
STUDY=${STUDY:-/tmp/umlsgraph-study}
mkdir -p "$RESULTS"
if ! "$PY" -c "import duckdb" 2>/dev/null; then
    SITE=$(mktemp -d /tmp/umlsgraph-site.XXXXXX)
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" \
        bench/gpu_carry/wheels/*.whl || return 1
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ -f bench/gpu_carry/study.tar.xz ] && [ ! -d "$STUDY/minilm" ]; then
    "$PY" bench/gpu_pack.py --unpack "$STUDY" || return 1
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # umlsgraph itself, not installed there
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 STUDY PY RESULTS
