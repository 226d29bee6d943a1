"""Under CI=true a missing component fails the run instead of skipping it (tests/missing.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PROBE = '''
from tests.missing import missing

def test_needs_a_component():
    missing("the component is not installed")
'''


@pytest.mark.parametrize("ci, outcome", [("true", "1 failed"), ("", "1 skipped")])
def test_a_missing_component_fails_only_under_ci(ci: str, outcome: str, tmp_path: Path) -> None:
    probe = ROOT / "tests" / f"_probe_ci_{os.getpid()}_{ci or 'unset'}.py"
    probe.write_text(PROBE)
    try:
        env = {**os.environ, "CI": ci}
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "--noconftest", str(probe)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink()
    assert outcome in run.stdout, run.stdout + run.stderr
