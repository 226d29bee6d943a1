"""Benchmark: training labels under `train --second-opinion` on a large synthetic store.

The labels `train --annotator STRONG,WEAK` reads (umlsgraph.train.second_opinion) walk the
hierarchy from every weak label up to the strong answers above it. This times that SQL at
store sizes users bring: a synthetic release (`--concepts`, default 1M, `--realistic`: 13
other relations per concept) with a weak annotator's sample (`--weak`, default 10,000
labels: yes inside the subtree of C0000005, flipped in 10% of its sub-branches) and a
strong annotator's answers (`--strong`, default 500: the tops of the flipped branches first,
then random concepts, some high in the hierarchy), on a connection limited to `--threads`.

    python bench/second_opinion.py                                  # 1M concepts
    python bench/second_opinion.py --concepts 3300000 --keep /tmp/so-bench   # reuse the store
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from check import peak_mb, prepare  # noqa: E402  (bench/check.py: the same store)

QUERY = "nervous_system"


def store_labels(db: Path, weak_n: int, strong_n: int, seed: int = 1) -> tuple[int, int]:
    """Write the weak sample and the strong answers as annotations; (weak, strong) counts."""
    from umlsgraph.db import annotation_store
    from umlsgraph.db.annotation_store import Annotation
    from umlsgraph.db.hierarchy import child_edges_sql, descendants_sql
    from umlsgraph.query import load_query

    query = load_query(QUERY)
    con = duckdb.connect(str(db))
    try:
        inside = {r[0] for r in con.execute(descendants_sql("'C0000005'")).fetchall()}
        cuis = [r[0] for r in con.execute("SELECT cui FROM concepts ORDER BY cui").fetchall()]
        children = [r[0] for r in con.execute(
            f"SELECT child FROM ({child_edges_sql('?')})", ["C0000005", "C0000005"]).fetchall()]
        rng = random.Random(seed)
        flipped_tops = rng.sample(children, max(1, len(children) // 10))
        flipped = set()
        for top in flipped_tops:
            flipped |= {r[0] for r in con.execute(descendants_sql("?"), [top]).fetchall()}
        sample = rng.sample(cuis, weak_n)
        weak = {c: ("no" if c in flipped else "yes") if c in inside else "no" for c in sample}
        strong_ids = (flipped_tops + rng.sample(cuis, strong_n))[:strong_n]
        strong = {c: "yes" if c in inside else "no" for c in strong_ids}
        for name, labels in (("hf:weak", weak), ("hf:strong", strong)):
            annotation_store.write(con, QUERY, "concepts", name, query.prompt_hash(),
                                   [Annotation(i, v, v) for i, v in labels.items()])
    finally:
        con.close()
    return len(weak), len(strong)


def bench(db: Path, threads: int, repeat: int) -> None:
    from umlsgraph.train.second_opinion import overturned_counts_sql, second_opinion_labels_sql

    con = duckdb.connect(str(db), read_only=True)
    con.execute(f"SET threads = {int(threads)}")
    chosen = ["hf:strong", "hf:weak"]
    try:
        for rule in ("off", "closure", "drop"):
            sql = second_opinion_labels_sql(QUERY, "concepts", chosen, rule)
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                rows = con.execute(f"SELECT count(*), count(*) FILTER (WHERE label = 'yes') "
                                   f"FROM ({sql})").fetchone()
                times.append(time.perf_counter() - started)
            assert rows is not None
            print(f"labels under {rule:<8} {rows[0]:>8,} labels ({rows[1]:,} yes) in "
                  f"{min(times):.2f} s (best of {repeat}, {threads} threads)")
        started = time.perf_counter()
        counts = con.execute(overturned_counts_sql(QUERY, "concepts", chosen)).fetchone()
        assert counts is not None
        print(f"overturned branches {counts[0]:,}, weak labels under them that disagree "
              f"{counts[1]:,}: {time.perf_counter() - started:.2f} s")
    finally:
        con.close()
    print(f"peak RSS {peak_mb():,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concepts", type=int, default=1_000_000)
    parser.add_argument("--weak", type=int, default=10_000)
    parser.add_argument("--strong", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--realistic", action="store_true",
                        help="UMLS-shaped rows: 10 names and 13 other relations per concept")
    parser.add_argument("--keep", type=Path, help="folder to keep (and reuse) the store in")
    args = parser.parse_args()

    def run(root: Path) -> None:
        fresh = not (root / "umls.duckdb").exists()
        db = prepare(root, args.concepts, args.realistic)
        if fresh:
            weak, strong = store_labels(db, args.weak, args.strong)
            print(f"{args.concepts:,} concepts; {weak:,} weak labels, {strong:,} strong answers")
        bench(db, args.threads, args.repeat)

    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args.keep)
        return
    with tempfile.TemporaryDirectory(prefix="umlsgraph-second-opinion-") as tmp:
        run(Path(tmp))


if __name__ == "__main__":
    from record import recorded

    with recorded("second_opinion"):
        main()
