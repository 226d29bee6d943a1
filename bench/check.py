"""Benchmark: `umlsgraph check` (islands and holes of a selection) on a large synthetic store.

Generates a synthetic release in the UMLS layout (`--concepts`, default 300k; its hierarchy
is a 4-ary tree), loads it, and predicts a ~10% selection shaped like a real one: the subtree
of C0000005 (1/16 of the store) with 2% of it predicted negative (holes), plus 3.5% of the
other concepts predicted positive at random (islands). Then it times the check on a
connection limited to `--threads` (2 by default, the target machine) and prints the counts,
seconds and peak RSS; then the export's selection alone, without and with the descendant
closure (the default); then with `--verdicts` (a strong annotator's "no" on the 1,000
islands with the most selected concepts below them, "yes" on 200 holes: unselected
concepts with children and a selected parent).

    python bench/check.py                      # 300k concepts
    python bench/check.py --concepts 1000000 --realistic --keep /tmp/check-bench  # reuse it
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

QUERY = "nervous_system"


def prepare(root: Path, concepts: int, realistic: bool = False) -> Path:
    """A loaded synthetic store with a ~10% selection of predictions (reused if present)."""
    from tests.subontology_data import PREDICTIONS_DDL
    from umlsgraph.db.hierarchy import descendants_sql
    from umlsgraph.load.release import LoadOptions, load_release
    from umlsgraph.load.synth import SynthSpec, generate

    db = root / "umls.duckdb"
    if db.exists():
        return db
    t = time.perf_counter()
    spec = (SynthSpec(concepts=concepts, seed=1, max_names=10, other_relations=13,
                      realistic=True) if realistic else SynthSpec(concepts=concepts, seed=1))
    generate(root / "release", spec)
    load_release(root / "release", db, LoadOptions())
    print(f"generated and loaded {concepts:,} concepts in {time.perf_counter() - t:.1f} s")
    con = duckdb.connect(str(db))
    con.execute(PREDICTIONS_DDL)
    con.execute(f"""INSERT INTO predictions
        WITH sub AS ({descendants_sql("'C0000005'")}),
        u AS (SELECT cui, (hash(cui, 1) % 1000000) / 1000000.0 AS r,
                     (hash(cui, 2) % 1000000) / 1000000.0 AS s,
                     cui IN (SELECT cui FROM sub) AS inside FROM concepts),
        p AS (SELECT cui, CASE WHEN inside AND s >= 0.02 THEN 0.6 + 0.39 * r
                               WHEN inside THEN 0.1 + 0.3 * r
                               WHEN s < 0.035 THEN 0.5 + 0.49 * r
                               ELSE 0.49 * r END AS p FROM u)
        SELECT '{QUERY}', 'concepts', cui, CASE WHEN p >= 0.5 THEN 'yes' ELSE 'no' END, p,
               'bench', TIMESTAMP '2025-01-01' FROM p""")
    con.close()
    return db


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(db: Path, threads: int, repeat: int) -> None:
    from umlsgraph.evaluate.consistency import find_contradictions
    from umlsgraph.query import load_query

    query = load_query(QUERY)
    for _ in range(repeat):
        con = duckdb.connect(str(db), read_only=True)
        con.execute(f"SET threads = {int(threads)}")
        t = time.perf_counter()
        found = find_contradictions(con, query, limit=20)
        seconds = time.perf_counter() - t
        con.close()
        counts = ", ".join(f"{k} {v:,}" for k, v in found.counts.items())
        print(f"check: {seconds:.2f} s on {threads} threads ({counts}); peak RSS "
              f"{peak_mb():,.0f} MB")
    for closure in ("none", "confident", "guarded", "all"):
        for _ in range(repeat):
            time_selection(db, threads, closure)
    plant_verdicts(db)
    for _ in range(repeat):
        time_selection(db, threads, "guarded", VERDICTS)
    time_explain(db, threads)


#: The annotator whose answers bench/check.py plants as verdicts.
VERDICTS = "bench:strong"


def plant_verdicts(db: Path) -> None:
    """A strong annotator's answers (once per store): "no" on the 1,000 islands of the
    labelled selection with the most selected concepts below them, "yes" on 200 holes
    (unselected concepts with children and a selected parent)."""
    from umlsgraph.db import annotation_store
    from umlsgraph.query import load_query
    from umlsgraph.selection import SelectionOptions, select

    con = duckdb.connect(str(db))
    try:
        if VERDICTS in annotation_store.annotators(con, QUERY, "concepts"):
            return
        selection = select(con, load_query(QUERY), SelectionOptions(closure="none"))
        islands = [r[0] for r in con.execute(
            f"SELECT id FROM ({selection.islands_sql()}) WHERE NOT is_root "
            "ORDER BY descendants DESC, id LIMIT 1000").fetchall()]
        holes = [r[0] for r in con.execute(f"""SELECT DISTINCT h.cui2 FROM relations h
            JOIN relations up ON up.cui1 = h.cui2 AND up.rel = 'PAR'
            WHERE h.rel = 'PAR' AND h.cui2 NOT IN ({selection.selected_sql})
              AND up.cui2 IN ({selection.selected_sql})
            ORDER BY h.cui2 LIMIT 200""").fetchall()]
        annotation_store.write(con, QUERY, "concepts", VERDICTS, "bench", [
            *(annotation_store.Annotation(i, "no", "no") for i in islands),
            *(annotation_store.Annotation(i, "yes", "yes") for i in holes)])
    finally:
        con.close()


def time_selection(db: Path, threads: int, closure: str, verdicts: str | None = None) -> None:
    """The export's selection alone, under a closure (`export --closure`), with the answers
    of `verdicts` as verdicts (`--verdicts`)."""
    from umlsgraph.query import load_query
    from umlsgraph.selection import SelectionOptions, select

    con = duckdb.connect(str(db), read_only=True)
    con.execute(f"SET threads = {int(threads)}")
    t = time.perf_counter()
    summary = select(con, load_query(QUERY), SelectionOptions(closure=closure,
                                                              verdicts=verdicts)).summary
    seconds = time.perf_counter() - t
    con.close()
    judged = (f" --verdicts {verdicts}: {summary['verdict_answers']:,} answers" if verdicts
              else "")
    cut = f", taken out by verdicts {summary['cut_by_verdicts']:,}" if verdicts else ""
    print(f"select (--closure {closure}{judged}): {seconds:.2f} s on {threads} threads "
          f"(selected {summary['selected']:,}, descendants added "
          f"{summary['descendants_added']:,}{cut}); peak RSS {peak_mb():,.0f} MB")


def time_explain(db: Path, threads: int) -> None:
    """`Selection.explain` (what `concept` prints) on a built selection: a point query, a few
    small lookups walking up main parents."""
    from umlsgraph.query import load_query
    from umlsgraph.selection import select

    con = duckdb.connect(str(db), read_only=True)
    con.execute(f"SET threads = {int(threads)}")
    selection = select(con, load_query(QUERY))
    deep = con.execute("SELECT max(cui) FROM concepts").fetchall()[0][0]
    t = time.perf_counter()
    for item in ("C0000021", "C0000005", deep):
        selection.explain(item)
    seconds = (time.perf_counter() - t) / 3
    con.close()
    print(f"explain: {seconds * 1000:.0f} ms per concept on {threads} threads")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concepts", type=int, default=300_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--realistic", action="store_true",
                        help="UMLS-shaped rows: 10 names and 13 other relations per concept")
    parser.add_argument("--keep", type=Path, help="folder to keep (and reuse) the store in")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        bench(prepare(args.keep, args.concepts, args.realistic), args.threads, args.repeat)
        return
    with tempfile.TemporaryDirectory(prefix="umlsgraph-check-") as tmp:
        bench(prepare(Path(tmp), args.concepts, args.realistic), args.threads, args.repeat)


if __name__ == "__main__":
    from record import recorded

    with recorded("check"):
        main()
