"""Benchmark: `umlsgraph load` against a raw DuckDB `CREATE TABLE … AS SELECT * FROM read_csv`.

Generates a synthetic release in the exact UMLS layout (>= 2M MRCONSO rows, >= 6M MRREL rows by
default), then, in the same run and each in its own child process:

- raw:  one `CREATE TABLE x AS SELECT * FROM read_csv(...)` per RRF file (same reader options),
- load: `load_release` (what `umlsgraph load` runs; `--cli` runs the command itself),

and prints both wall times (the fastest of `--repeat` alternating runs), their ratio, CPU
time, rows/s, the peak RSS of each child (from `getrusage(RUSAGE_CHILDREN)` in a wrapper
process, so each figure is one child's), the time of each load step, and a linear
extrapolation to a full UMLS release (17M MRCONSO + 60M MRREL rows).

    python bench/load.py                         # ~600k concepts, plain .RRF
    python bench/load.py --gzip --split 3        # the same as .RRF.aa.gz, .ab.gz, .ac.gz
    python bench/load.py --concepts 100000       # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

UMLS_MRCONSO = 17_000_000
UMLS_MRREL = 60_000_000
# Approximate bytes per line of a real release (UMLS 2024AA: MRCONSO.RRF ~2.1 GB for ~17M
# lines, MRREL.RRF ~5.7 GB for ~60M lines); synthetic lines are shorter, so the bench also
# scales its extrapolation by the ratio of line lengths.
UMLS_BYTES_PER_ROW = {"MRCONSO": 125.0, "MRREL": 95.0}
TARGET_RATIO, TARGET_RSS_GB, TARGET_UMLS_MIN = 1.3, 4.0, 10.0

# Runs a command as a child and reports that child's wall time and peak RSS (max RSS of the
# waited-for children of this wrapper, i.e. of that one command), plus the lines it printed.
WRAPPER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
rss, cpu = usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime
print(json.dumps({"rc": proc.returncode, "wall": wall, "rss": rss, "cpu": cpu,
                  "stdout": proc.stdout, "stderr": proc.stderr[-2000:]}))
"""

RAW = """
import sys, duckdb
from umlsgraph.load import rrf
meta, db = sys.argv[1], sys.argv[2]
con = duckdb.connect(db)
for name, f in rrf.discover(rrf.find_meta(meta)).items():
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM {rrf.read_csv_sql(f)}")
con.execute("CHECKPOINT")
con.close()
"""

LOAD = """
import json, sys, time
from umlsgraph.load.release import LoadOptions, load_release
meta, db = sys.argv[1], sys.argv[2]
marks = []
t0 = time.perf_counter()
counts = load_release(meta, db, LoadOptions(),
                      on_step=lambda s: marks.append((s, time.perf_counter() - t0)))
marks.append(("end", time.perf_counter() - t0))
print(); print(json.dumps({"marks": marks, "counts": counts}))
"""


def measure(cmd: list[str]) -> dict:
    """Run `cmd` in a wrapper child; return its wall time (s), peak RSS (bytes) and output."""
    out = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True,
                         check=True)
    result = json.loads(out.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(cmd[:3])}… failed:\n{result['stderr']}")
    return result


def row_counts(meta: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Rows and uncompressed bytes of each RRF file (read as whole lines, gzip or not)."""
    import duckdb

    from umlsgraph.load import rrf

    con = duckdb.connect()
    rows, sizes = {}, {}
    for name, f in rrf.discover(rrf.find_meta(meta)).items():
        paths = ", ".join(f"'{p}'" for p in f.parts)
        n, size = con.execute(
            f"SELECT count(*), sum(strlen(line) + 1) FROM read_csv([{paths}], delim='\\x01', "
            "quote='', escape='', header=false, auto_detect=false, columns={'line': 'VARCHAR'})"
        ).fetchone()
        rows[name], sizes[name] = int(n), int(size)
    con.close()
    return rows, sizes


def release_bytes(meta: Path, name: str) -> int:
    return sum(p.stat().st_size for p in meta.iterdir() if p.name.startswith(name + "."))


def step_times(marks: list[list]) -> dict[str, float]:
    """Seconds per load step from the (step, seconds since start) marks."""
    return {marks[i][0]: marks[i + 1][1] - marks[i][1] for i in range(len(marks) - 1)}


def extrapolate(steps: dict[str, float], setup: float, rows: dict[str, int],
                line_scale: dict[str, float] | None = None) -> float:
    """Full-UMLS seconds: MRREL-driven steps scale with MRREL rows, the rest with MRCONSO's
    (each also by `line_scale`, the ratio of real to synthetic line lengths, when given)."""
    line_scale = line_scale or {}
    conso_scale = UMLS_MRCONSO / rows["MRCONSO"] * line_scale.get("MRCONSO", 1.0)
    rel_scale = UMLS_MRREL / rows.get("MRREL", 1) * line_scale.get("MRREL", 1.0)
    total = setup
    for step, seconds in steps.items():
        total += seconds * (rel_scale if step.startswith("relations") else conso_scale)
    return total


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concepts", type=int, default=600_000)
    parser.add_argument("--other-relations", type=int, default=7)
    parser.add_argument("--gzip", action="store_true", help="write .RRF.gz files")
    parser.add_argument("--split", type=int, default=1, help="split MRCONSO/MRREL into parts")
    parser.add_argument("--cli", action="store_true",
                        help="time the `umlsgraph load` command instead of the library call")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where to write the release and databases (default: a temp dir)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of each (alternating); the fastest of each is reported")
    parser.add_argument("--keep", action="store_true", help="keep the release and databases")
    args = parser.parse_args()

    from umlsgraph.load.synth import SynthSpec, generate

    work = Path(tempfile.mkdtemp(prefix="umlsgraph-bench-", dir=args.workdir))
    try:
        spec = SynthSpec(concepts=args.concepts, other_relations=args.other_relations,
                         gzip=args.gzip, split=args.split)
        t = time.perf_counter()
        meta = generate(work / "release", spec)
        gen = time.perf_counter() - t
        rows, lengths = row_counts(meta)
        sizes = {n: release_bytes(meta, n) for n in ("MRCONSO", "MRREL")}
        per_row = {n: lengths[n] / rows[n] for n in sizes}
        line_scale = {n: UMLS_BYTES_PER_ROW[n] / per_row[n] for n in sizes}
        print(f"release: {spec} -> {meta}")
        print(f"  generated in {gen:.1f}s; rows: "
              + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
        print(f"  files: MRCONSO {gb(sizes['MRCONSO'])}, MRREL {gb(sizes['MRREL'])}"
              f"{' (gzip)' if args.gzip else ''}; cores: {os.cpu_count()}, "
              f"load average {os.getloadavg()[0]:.1f}")

        raws, loads = [], []
        for _ in range(args.repeat):  # alternate, so both see the same load on the machine
            for db in (work / "raw.duckdb", work / "umls.duckdb"):
                db.unlink(missing_ok=True)
            raws.append(measure([sys.executable, "-c", RAW, str(meta), str(work / "raw.duckdb")]))
            if args.cli:
                exe = shutil.which("umlsgraph") or "umlsgraph"
                loads.append(measure([exe, "load", str(meta), "--db", str(work / "umls.duckdb")]))
            else:
                loads.append(measure([sys.executable, "-c", LOAD, str(meta),
                                      str(work / "umls.duckdb")]))
        raw = min(raws, key=lambda r: r["wall"])
        load = min(loads, key=lambda r: r["wall"])
        if args.cli:  # no step times: scale the whole load by its dominant file, MRREL
            steps, setup = {"relations": load["wall"]}, 0.0
        else:
            marks = json.loads(load["stdout"].strip().splitlines()[-1])["marks"]
            steps = step_times(marks)
            setup = load["wall"] - marks[-1][1]  # interpreter start-up and imports
        extrapolated = extrapolate(steps, setup, rows)
        by_bytes = extrapolate(steps, setup, rows, line_scale)

        total_rows = sum(rows.values())
        ratio = load["wall"] / raw["wall"]
        db_sizes = {k: (work / f"{k}.duckdb").stat().st_size for k in ("raw", "umls")}
        print()
        print(f"{'':28}{'wall':>9}{'CPU':>9}{'rows/s':>12}{'peak RSS':>11}{'db file':>10}")
        for label, res, db in (("raw CREATE TABLE AS read_csv", raw, "raw"),
                               ("umlsgraph load", load, "umls")):
            print(f"{label:28}{res['wall']:8.1f}s{res['cpu']:8.1f}s"
                  f"{total_rows / res['wall']:12,.0f}{gb(res['rss']):>11}{gb(db_sizes[db]):>10}")
        print()
        if steps:
            print("load steps: " + ", ".join(f"{k} {v:.1f}s" for k, v in steps.items())
                  + f", start-up {setup:.1f}s")
        print(f"ratio load/raw: {ratio:.2f} wall (target <= {TARGET_RATIO})"
              f"{'' if ratio <= TARGET_RATIO else '  ABOVE TARGET'}, "
              f"{load['cpu'] / raw['cpu']:.2f} CPU time")
        print(f"peak RSS of the load: {gb(load['rss'])} (target <= {TARGET_RSS_GB} GB)"
              f"{'' if load['rss'] <= TARGET_RSS_GB * 1e9 else '  ABOVE TARGET'}")
        print(f"extrapolated full UMLS ({UMLS_MRCONSO / 1e6:.0f}M MRCONSO + "
              f"{UMLS_MRREL / 1e6:.0f}M MRREL rows, linear per step, {os.cpu_count()} cores): "
              f"{extrapolated / 60:.1f} min (target < {TARGET_UMLS_MIN:.0f} min); "
              f"{by_bytes / 60:.1f} min scaled to real line lengths "
              f"({per_row['MRCONSO']:.0f}/{per_row['MRREL']:.0f} B per synthetic "
              f"MRCONSO/MRREL line vs ~{UMLS_BYTES_PER_ROW['MRCONSO']:.0f}/"
              f"{UMLS_BYTES_PER_ROW['MRREL']:.0f} real)")
        busy = load["cpu"] / load["wall"]
        print(f"  the same from CPU time (= wall on one idle core, an upper bound for two): "
              f"{extrapolated * busy / 60:.1f} min; scaled to real line lengths "
              f"{by_bytes * busy / 60:.1f} min")
        print("all runs (wall s): raw " + ", ".join(f"{r['wall']:.1f}" for r in raws)
              + "; load " + ", ".join(f"{r['wall']:.1f}" for r in loads)
              + f"; load average now {os.getloadavg()[0]:.1f}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    from record import recorded

    with recorded("load"):
        main()
