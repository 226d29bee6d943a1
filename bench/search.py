"""Benchmark: `umlsgraph search` latency on a large store.

Generates and loads a synthetic release (`--concepts`, default 300k: ~940k names; or pass
`--db` to an existing store), builds the name index once (timed), then times each search
(median of `--repeat` runs after one warm-up) for texts that hit exact, prefix and substring
matches, common and rare. It prints the query alone (an open connection) and the whole
command's work (open the store, check the index, search), and extrapolates the query time
linearly to the 17M names of a full UMLS release (one scan of the pre-lowered column per
search; opening the store does not grow with it).

    python bench/search.py
    python bench/search.py --db umls.duckdb --repeat 5
    python bench/search.py --scale 18          # ~17M names: a full UMLS release's count
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TEXTS = ["syndrome", "ganglion syndrome", "cardi", "artery, nos", "zzzz-not-there", "a"]
FULL_UMLS_NAMES = 17_000_000


def prepare(root: Path, concepts: int) -> Path:
    from umlsgraph.load.release import LoadOptions, load_release
    from umlsgraph.load.synth import SynthSpec, generate

    generate(root / "release", SynthSpec(concepts=concepts, seed=1))
    db = root / "bench.duckdb"
    load_release(root / "release", db, LoadOptions())
    return db


def scale(con: duckdb.DuckDBPyConnection, k: int) -> None:
    """Replace `names` and `concepts` by `k` copies with distinct CUIs (C… -> C…-0, C…-1…)."""
    for table in ("names", "concepts"):
        con.execute(f"CREATE TABLE {table}_scaled AS SELECT * REPLACE (cui || '-' || i AS cui) "
                    f"FROM {table}, range({int(k)}) r(i)")
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE {table}_scaled RENAME TO {table}")
    con.execute("CHECKPOINT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concepts", type=int, default=300_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scale", type=int, default=1,
                        help="Copy every concept and its names this many times (new CUIs), "
                        "e.g. --scale 18 turns 300k concepts into ~17M names")
    args = parser.parse_args()
    if args.scale > 1 and args.db:
        parser.error("--scale rewrites the store: use it with a generated one, not --db")
    from umlsgraph.db import search as index
    from umlsgraph.lookup.search import search

    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or prepare(Path(tmp), args.concepts)
        con = duckdb.connect(str(db))
        if args.scale > 1:
            scale(con, args.scale)
        names = con.execute("SELECT count(*) FROM names").fetchall()[0][0]
        started = time.perf_counter()
        index.build(con)
        build = time.perf_counter() - started
        con.close()
        print(f"store: {names:,} names; index build {build:.2f} s "
              f"(~{build * FULL_UMLS_NAMES / names:.0f} s at 17M names, once per release)")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; median of "
              f"{args.repeat} runs after a warm-up")
        print(f"{'search':<22}{'hits':>6}{'first':>11}{'query ms':>10}{'with open ms':>14}"
              f"{'query at 17M names, ms':>24}")
        con = duckdb.connect(str(db), read_only=True)
        for text in TEXTS:
            rows = index.search(con, text, 20)
            query_ms = _median_ms(lambda t=text: index.search(con, t, 20), args.repeat)
            open_ms = _median_ms(lambda t=text: _command(search, db, t), args.repeat)
            kind = rows[0][3] if rows else "none"
            print(f"{text!r:<22}{len(rows):>6}{kind:>11}{query_ms:>10.1f}{open_ms:>14.1f}"
                  f"{query_ms * FULL_UMLS_NAMES / names:>24.0f}")
        con.close()


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat + 1):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:]) * 1000


def _command(search: Callable[..., object], db: Path, text: str) -> None:
    """What `umlsgraph search` does: open the store, check the index, search."""
    from umlsgraph.errors import NotFoundError

    try:
        search(db, text, limit=20)
    except NotFoundError:  # nothing matched is an error by design
        pass

if __name__ == "__main__":
    from record import recorded

    with recorded("search"):
        main()
