"""Keep what a benchmark printed: `bench/results/<name>.md`, written by the benchmark itself.

A benchmark's figures are only worth quoting with their context: the exact command, the
commit, the machine and its load. `recorded(name)` tees everything the script prints to
stdout and, when the script finishes without error, writes it under that context as
markdown. A failed run writes nothing, so a results file always holds a complete run.

    if __name__ == "__main__":
        with recorded("load"):
            main()
"""

from __future__ import annotations

import io
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


class _Tee(io.TextIOBase):
    """A stdout that also keeps a copy of what is written."""

    def __init__(self, stream: io.TextIOBase) -> None:
        self.stream = stream
        self.copy = io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def commit() -> str:
    """The checkout's commit, with '+changes' when the tree differs from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, text=True, capture_output=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def header(name: str, started: float, seconds: float) -> str:
    """The context every results file opens with."""
    command = "python " + shlex.join(["bench/" + Path(sys.argv[0]).name, *sys.argv[1:]])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"# bench/{name}\n\n"
            f"- command: `{command}`\n"
            f"- commit: `{commit()}`\n"
            f"- started: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(started))}, "
            f"took {seconds:.0f} s\n"
            f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}, load average {load:.1f} at the end\n\n"
            "What the benchmark printed:\n\n")


@contextmanager
def recorded(name: str, results: Path = RESULTS) -> Iterator[None]:
    """Tee stdout while the block runs; on success write `results/<name>.md`."""
    tee = _Tee(sys.stdout)  # type: ignore[arg-type]
    started = time.time()
    previous, sys.stdout = sys.stdout, tee
    try:
        yield
    finally:
        sys.stdout = previous
    text = header(name, started, time.time() - started) + "```\n" + tee.copy.getvalue() + "```\n"
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
