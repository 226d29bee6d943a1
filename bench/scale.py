"""Benchmark: every step of umlsgraph at the size of the whole Metathesaurus, on this machine.

Generates with `umlsgraph synth --realistic` a release of `--concepts` concepts (default
3.3M: ~18M MRCONSO and ~56M MRREL rows, gzip'd and split into parts, UMLS-like line lengths),
then runs each step as its own child process and measures its wall time, CPU time and peak RSS:

    load            umlsgraph load (and the database size)
    read_csv        a plain DuckDB read_csv of the same RRF files into a fresh database file
                    (the floor any loader pays; the load's ratio to it is printed)
    info            umlsgraph info
    concept text    the text of every concept rendered in DuckDB (what annotate/label read)
    sampling        a 10,000-concept seeded sample (annotate's first step)
    label (tiny)    (last) umlsgraph label over every concept with a 1-layer, 32-wide encoder:
                    the pipeline's own cost (reading, tokenizing, writing predictions)
    selection 10%   building the subontology of a 10% selection (predictions by hash)
    export FMT      umlsgraph export of that selection, each format (ratio to CSV; target for
                    obo, owl, rrf: within 2x CSV's time and 1.5x its peak RSS)
    all -> ttl      umlsgraph export --all: the whole store to Turtle
    all -> neo4j-admin  the whole store as a neo4j-admin bundle (import command printed)

Each figure is appended to bench/results/scale-<N>.jsonl as soon as it is measured (a run that
dies keeps what it measured), and one table is printed at the end.

    python bench/scale.py                        # full size: 30-50 min on 2 cores
    python bench/scale.py --concepts 50000       # a quick run
    python bench/scale.py --keep /data/scale --skip-synth   # re-measure an existing release
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FORMATS = ["csv", "parquet", "graphml", "gexf", "ttl", "nt", "jsonld", "neo4j-admin", "obo",
           "owl", "rrf"]
QUERY = "nervous_system"
BENCH_MODEL = "bench-10pct"
#: What a command prints that says nothing new.
NOISE = ("wrote ", "Wrote ", "neo4j-admin ", "release: ")
STEPS = ("load", "info", "text", "sample", "select", "export", "all", "label")
TARGETS = {"load": "<= 120 s, <= 2 GB", "concept text": "<= 60 s",
           "all -> ttl": "<= 300 s, <= 2 GB",
           **{f"export 10% {f}": "<= 2x CSV time, <= 1.5x CSV RSS" for f in ("obo", "owl", "rrf")}}

# Runs one command as a child; prints its wall time, CPU time and peak RSS (max RSS of the
# waited-for children of this wrapper: that one command) and the tail of what it printed.
WRAPPER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": proc.returncode, "wall": wall, "rss": usage.ru_maxrss * 1024,
                  "cpu": usage.ru_utime + usage.ru_stime, "stdout": proc.stdout[-3000:],
                  "stderr": proc.stderr[-3000:]}))
"""

TEXTS = """
import sys, duckdb
from umlsgraph.db.items import ConceptSource
from umlsgraph.query import load_query
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute("SET memory_limit = '1500MB'")
con.execute("SET preserve_insertion_order = false")
sql = ConceptSource().texts_sql(load_query(sys.argv[2]), "SELECT cui AS id FROM concepts")
n, chars = con.execute(f"SELECT count(*), sum(length(text)) FROM ({sql})").fetchone()
print(f"{n} texts, {chars} characters")
"""

SAMPLE = """
import sys, duckdb
from umlsgraph.annotate.sampling import sample_ids
from umlsgraph.db.items import ConceptSource
from umlsgraph.query import load_query
con = duckdb.connect(sys.argv[1], read_only=True)
ids = sample_ids(con, load_query(sys.argv[2]), ConceptSource(), 10000, 42)
print(f"{len(ids)} sampled, first {ids[0]}")
"""

PREDICT = """
import sys, duckdb
from tests.subontology_data import PREDICTIONS_DDL
con = duckdb.connect(sys.argv[1])
con.execute(PREDICTIONS_DDL)
con.execute(f'''INSERT OR REPLACE INTO predictions SELECT '{sys.argv[2]}', 'concepts', cui,
    CASE WHEN (hash(cui) % 1000) < 100 THEN 'yes' ELSE 'no' END,
    (hash(cui) % 1000) / 1000.0, '{sys.argv[3]}', TIMESTAMP '2030-01-01' FROM concepts''')
print(con.execute("SELECT count(*) FILTER (WHERE label = 'yes') FROM predictions "
                  f"WHERE model = '{sys.argv[3]}'").fetchone()[0], "selected")
"""

READ_CSV = """
import sys, duckdb
from umlsgraph.load import rrf
files = rrf.discover(rrf.find_meta(sys.argv[1]))
con = duckdb.connect(sys.argv[2])
con.execute("SET memory_limit = '1500MB'")
rows = 0
for name, file in files.items():
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM {rrf.read_csv_sql(file)}")
    rows += con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
print(f"{rows} rows in {len(files)} files")
"""

BUILD = """
import sys, duckdb
from umlsgraph.export.subontology import SelectionOptions, build
from umlsgraph.query import load_query
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute("SET memory_limit = '1GB'")
sub = build(con, load_query(sys.argv[2]), options=SelectionOptions(model=sys.argv[3]))
print(sub.summary["nodes"], "nodes", sub.summary["edges"], "edges")
"""

TINY = """
import sys
sys.path.insert(0, sys.argv[3])
from bench.label import model_folder
from pathlib import Path
print(model_folder(Path(sys.argv[1]), "tiny", sys.argv[2], 64))
"""


class Recorder:
    """Appends each measured row to a JSON-lines file and prints it as it comes."""

    def __init__(self, path: Path, meta: dict) -> None:
        self.path = path
        self.rows: list[dict] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"run": meta}) + "\n")

    def add(self, row: dict) -> None:
        self.rows.append(row)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        print(_line(row), flush=True)


def measure(step: str, argv: list[str], recorder: Recorder, **extra: object) -> dict:
    """Run argv as a child; record its wall, CPU and peak RSS (a failure is recorded too)."""
    out = subprocess.run([sys.executable, "-c", WRAPPER, *argv], capture_output=True,
                         text=True, cwd=ROOT)
    result = json.loads(out.stdout)
    row = {"step": step, "wall_s": round(result["wall"], 2), "cpu_s": round(result["cpu"], 2),
           "peak_rss_gb": round(result["rss"] / 1e9, 3), "rc": result["rc"], **extra}
    tail = (result["stdout"].strip().splitlines() or [""])[-1]
    if result["rc"] != 0:
        row["error"] = (result["stderr"].strip().splitlines() or ["?"])[-1][:300]
    elif tail and not tail.startswith(NOISE):
        row["note"] = tail[:200]
    recorder.add(row)
    return row


def _line(row: dict) -> str:
    extra = row.get("error") or row.get("note") or ""
    ratio = "".join(f" ({row[k]})" for k in ("vs_csv", "vs_read_csv") if k in row)
    return (f"{row['step']:<24} {row['wall_s']:>9.1f} {row['cpu_s']:>9.1f} "
            f"{row['peak_rss_gb']:>8.2f}{ratio}  {extra}")


def size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "umlsgraph_cli.main", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concepts", type=int, default=3_300_000)
    parser.add_argument("--max-names", type=int, default=10)
    parser.add_argument("--other-relations", type=int, default=13)
    parser.add_argument("--split", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it.")
    parser.add_argument("--skip-synth", action="store_true", help="Reuse KEEP/release.")
    parser.add_argument("--skip-label", action="store_true", help="Leave out label (tiny).")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--steps", default=",".join(STEPS),
                        help="Which steps to run (with --skip-synth, e.g. re-measure load,text "
                        "of a kept release) [default: all: " + ",".join(STEPS) + "]")
    parser.add_argument("--results", type=Path, help="JSON-lines file "
                        "[default bench/results/scale-<concepts>.jsonl]")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="umlsgraph-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    results = args.results or ROOT / "bench" / "results" / f"scale-{args.concepts}.jsonl"
    rec = Recorder(results, {"concepts": args.concepts, "started": time.strftime("%F %T"),
                             "cpus": os.cpu_count(), "folder": str(root)})
    print(f"results: {results}\nwork folder: {root}")
    print(f"{'step':<24} {'wall s':>9} {'CPU s':>9} {'RSS GB':>8}")
    try:
        run(args, root, rec)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(table(rec.rows))


def run(args: argparse.Namespace, root: Path, rec: Recorder) -> None:
    release, db = root / "release", root / "umls.duckdb"
    steps = set(args.steps.split(","))
    unknown = steps - set(STEPS)
    if unknown:
        raise SystemExit(f"--steps: unknown {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(STEPS)}")
    if not args.skip_synth:
        shutil.rmtree(release, ignore_errors=True)
        made = measure("synth", cli("synth", str(release), "--concepts", str(args.concepts),
                             "--max-names", str(args.max_names), "--other-relations",
                             str(args.other_relations), "--gzip", "--split", str(args.split),
                             "--realistic", "--seed", "1"), rec)
        if made["rc"] != 0:
            return
    if "load" in steps:
        rows = rows_of(release / "META")
        db.unlink(missing_ok=True)
        row = measure("load", cli("load", str(release / "META"), "--db", str(db),
                                  "--memory-limit", "1500MB"), rec, **rows)
        rec.add({"step": "database size", "wall_s": 0, "cpu_s": 0, "peak_rss_gb": 0, "rc": 0,
                 "note": f"{size_of(db) / 1e9:.2f} GB"})
        if row["rc"] != 0:
            return
        plain = root / "read_csv.duckdb"
        plain.unlink(missing_ok=True)
        floor = measure("read_csv (plain DuckDB)", [sys.executable, "-c", READ_CSV,
                                                    str(release / "META"), str(plain)], _Deferred())
        plain.unlink(missing_ok=True)
        floor["vs_read_csv"] = "load is " + ratios(row, floor)
        rec.add(floor)
    if "info" in steps:
        measure("info", cli("info", "--db", str(db)), rec)
    if "text" in steps:
        measure("concept text (all)", [sys.executable, "-c", TEXTS, str(db), QUERY], rec)
    if "sample" in steps:
        measure("sampling (10k)", [sys.executable, "-c", SAMPLE, str(db), QUERY], rec)
    if "select" in steps:
        measure("predictions 10%", [sys.executable, "-c", PREDICT, str(db), QUERY,
                                    BENCH_MODEL], rec)
        measure("selection 10% (build)", [sys.executable, "-c", BUILD, str(db), QUERY,
                                          BENCH_MODEL], rec)
    csv = None
    formats = [f for f in args.formats.split(",") if f] if "export" in steps else []
    for fmt in formats:
        out = root / "out" / f"sel.{fmt}"
        shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink(missing_ok=True)
        r = measure(f"export 10% {fmt}", cli("export", QUERY, "--db", str(db), "--model",
                                             BENCH_MODEL, "-f", fmt, "-o", str(out)),
                    _Deferred(), size_mb=None)
        r["size_mb"] = round(size_of(out) / 1e6, 1)
        if fmt == "csv":
            csv = r
        elif csv:
            r["vs_csv"] = ratios(r, csv)
        rec.add(r)
    for fmt in ("ttl", "neo4j-admin") if "all" in steps else ():
        out = root / "out" / f"all.{fmt}"
        shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink(missing_ok=True)
        r = measure(f"all -> {fmt}", cli("export", "--all", "--db", str(db), "-f", fmt,
                                         "-o", str(out)), _Deferred())
        r["size_mb"] = round(size_of(out) / 1e6, 1)
        rec.add(r)
        if fmt == "neo4j-admin" and (out / "import.sh").exists():
            print((out / "import.sh").read_text().splitlines()[-1])
    if "label" in steps and not args.skip_label:  # last: the longest step; nothing needs it
        model = subprocess.run([sys.executable, "-c", TINY, str(root), QUERY, str(ROOT)],
                               capture_output=True, text=True, check=True, cwd=ROOT
                               ).stdout.strip().splitlines()[-1]
        measure("label all (tiny)", cli("label", QUERY, "--db", str(db), "--model", model,
                                        "--batch-size", "256"), rec)


class _Deferred(Recorder):
    """A recorder that records nothing (the caller adds the row once it is complete)."""

    def __init__(self) -> None:  # noqa: D107 - nothing to open
        self.rows = []

    def add(self, row: dict) -> None:
        return None


def ratios(row: dict, base: dict) -> str:
    """`row` against `base`: wall time, CPU time (the fairer figure on a shared machine) and
    peak RSS, each as a multiple."""
    def x(key: str) -> float:
        return row[key] / max(base[key], 1e-9)
    return f"{x('wall_s'):.2f}x time ({x('cpu_s'):.2f}x CPU), {x('peak_rss_gb'):.2f}x RSS"


def rows_of(meta: Path) -> dict:
    """MRCONSO and MRREL line counts (gz or plain, split or not)."""
    import duckdb

    from umlsgraph.load import rrf

    files = rrf.discover(rrf.find_meta(meta))
    con = duckdb.connect()
    counts = {}
    for name in ("MRCONSO", "MRREL"):
        counts[name.lower() + "_rows"] = int(con.execute(
            f"SELECT count(*) FROM {rrf.read_csv_sql(files[name])}").fetchone()[0])
    return counts


def table(rows: list[dict]) -> str:
    """The markdown table the README shows."""
    lines = ["| step | wall s | CPU s | peak RSS GB | notes |", "|---|--:|--:|--:|---|"]
    for r in rows:
        note = r.get("error") or r.get("note") or ""
        notes = [] if note.startswith(NOISE) else [note]
        if r.get("mrconso_rows"):
            notes = [f"{r['mrconso_rows']:,} MRCONSO + {r['mrrel_rows']:,} MRREL rows"]
        if r.get("size_mb") is not None:
            notes.append(f"{r['size_mb']:,} MB")
        notes += [r[k] for k in ("vs_csv", "vs_read_csv") if r.get(k)]
        if r["step"] in TARGETS:
            notes.append(f"target {TARGETS[r['step']]}")
        lines.append(f"| {r['step']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                     f"{r['peak_rss_gb']:.2f} | {'; '.join(n for n in notes if n)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
