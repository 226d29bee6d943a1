"""Render `bench/results/scale-*.jsonl` (written by bench/scale.py) as `bench/results/scale.md`.

Every figure in the markdown comes from a JSON line a benchmark run wrote; nothing is typed.
Each JSONL file is one run (its first line says when, at what size, on how many CPUs); a later
file that re-measures some steps (e.g. `--skip-synth --steps load,info,text`) is shown as its
own table, so no figure loses its context.

    python bench/render_scale.py                      # all runs in bench/results/
    python bench/render_scale.py --out -              # print instead of writing
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
#: A progress bar some steps captured with their output (e.g. "100% ▕███▏ (<1 second remaining)").
PROGRESS = re.compile(r"\d+% ▕[^▏]*▏ \([^)]*\)\s*")
COLUMNS = ("step", "wall s", "CPU s", "peak RSS GB", "notes")


def read_run(path: Path) -> tuple[dict, list[dict]]:
    """The run header and its step rows, in the order they were measured."""
    header: dict = {}
    steps: list[dict] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if "run" in row:
            header = row["run"]
        else:
            steps.append(row)
    return header, steps


def note(row: dict) -> str:
    """What a step row says beyond its timings: sizes, ratios, rows, errors."""
    parts = []
    if row.get("rc", 0) != 0:
        parts.append(f"**failed** (rc {row['rc']}): {row.get('error', '')}".strip())
    for key in ("mrconso_rows", "mrrel_rows"):
        if key in row:
            parts.append(f"{row[key]:,} {key.split('_')[0].upper()} rows")
    if "size_mb" in row:
        parts.append(f"{row['size_mb']} MB")
    for key in ("vs_csv", "vs_read_csv", "note"):
        if row.get(key):
            parts.append(PROGRESS.sub("", str(row[key])).replace("|", "\\|"))
    return "; ".join(parts)


def table(header: dict, steps: list[dict], source: str) -> str:
    """One run as a markdown section."""
    size = header.get("concepts")
    title = f"{size:,} concepts" if isinstance(size, int) else "run"
    lines = [f"## {title}, started {header.get('started', '?')} on {header.get('cpus', '?')} CPUs",
             "", f"Source: `{source}`.", "",
             "| " + " | ".join(COLUMNS) + " |", "|---|--:|--:|--:|---|"]
    for row in steps:
        lines.append(f"| {row['step']} | {row.get('wall_s', '')} | {row.get('cpu_s', '')} | "
                     f"{row.get('peak_rss_gb', '')} | {note(row)} |")
    return "\n".join(lines) + "\n"


def render(results: Path) -> str:
    """Every scale run in `results`, the largest first."""
    runs = []
    for path in sorted(results.glob("scale-*.jsonl")):
        header, steps = read_run(path)
        runs.append((-(header.get("concepts") or 0), path.name, table(header, steps, path.name)))
    if not runs:
        raise SystemExit(f"no bench/results/scale-*.jsonl in {results}; run python bench/scale.py")
    body = "\n".join(text for _, _, text in sorted(runs))
    return ("# Scale (`python bench/scale.py`)\n\nRendered by `bench/render_scale.py` from the "
            "JSON lines `bench/scale.py` appends as each step is measured. Each step runs as its "
            "own process; wall time, CPU time and peak RSS are that process's.\n\n" + body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", default=str(RESULTS / "scale.md"), help="a path, or - for stdout")
    args = parser.parse_args()
    text = render(args.results)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
