"""Benchmark: the OAK adapter (`runoak -i umlsgraph:STORE`) per command, on a large store.

Generates and loads a realistic synthetic release (`--concepts`, default 300k: ~1.5M names,
~5M relation rows; or pass `--db` to an existing store), opens it through OAK's own plugin
lookup (`oaklib.get_adapter("umlsgraph:...")`; the first open builds the hierarchy and name
indexes, timed), then times what each `runoak` command asks of the adapter, as the median
over `--sample` concepts drawn at random (each after one warm-up): `info` and `labels` (a
label lookup), `ancestors` (the is-a closure, then the labels the command prints),
`definitions`, `relationships` (both directions), `descendants` of a concept two levels
below the root, and searches. It also times one real `runoak info` process, start to end.

Point lookups read a row group or two of a table sorted by the looked-up id, so they do not
grow with the store (`relationships` by subject reads the relation index, sorted by CUI2;
an exact search reads the name index, sorted by the lower-cased name). Other searches scan
the name index, so the last column extrapolates those linearly to a full release (17M
names) and the point lookups not at all. Ancestors grow with the number of ancestors and
descendants with the subtree, not with the store.

    python bench/oak.py
    python bench/oak.py --db umls.duckdb --sample 50
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FULL = {"concepts": 3_300_000, "relations": 56_000_000, "names": 17_000_000}
GROWS = {"point": "nothing (point lookups)", "subtree": "the subtree (one lookup per level)",
         "names": "names (scan)"}


def prepare(root: Path, concepts: int) -> Path:
    from umlsgraph.load.release import LoadOptions, load_release
    from umlsgraph.load.synth import SynthSpec, generate

    generate(root / "release", SynthSpec(concepts=concepts, seed=1, realistic=True,
                                         max_names=10, other_relations=13))
    db = root / "bench.duckdb"
    load_release(root / "release", db, LoadOptions())
    return db


def sample(db: Path, n: int) -> tuple[list[str], dict[str, int]]:
    """`n` random concept CURIEs and the store's row counts."""
    from umlsgraph.curies import to_curie

    con = duckdb.connect(str(db), read_only=True)
    try:
        cuis = [r[0] for r in con.execute(
            f"SELECT cui FROM concepts USING SAMPLE {int(n)} ROWS (reservoir, 7)").fetchall()]
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                  for t in ("concepts", "relations", "names")}
    finally:
        con.close()
    return [to_curie(c) for c in cuis], counts


def median_ms(fn: Callable[[str], Any], curies: list[str]) -> float:
    """Median time of `fn(curie)` over the curies, each after a warm-up on the first."""
    fn(curies[0])
    times = []
    for curie in curies:
        started = time.perf_counter()
        fn(curie)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def commands(adapter: Any, store_root: str) -> dict[str, tuple[Callable[[str], Any], str]]:
    """Command -> (what the command asks the adapter, how its cost grows with the store)."""
    from oaklib.datamodels.search import create_search_configuration

    def search(term: str) -> list[str]:
        cfg = create_search_configuration(term)
        return list(adapter.basic_search(cfg.search_terms[0], config=cfg))

    def ancestors(c: str) -> list[Any]:
        return list(adapter.labels(list(adapter.ancestors([c], None))))

    return {
        "info": (lambda c: adapter.label(c), "point"),
        "labels": (lambda c: list(adapter.labels([c])), "point"),
        "ancestors": (ancestors, "point"),
        "definitions": (lambda c: list(adapter.definitions([c])), "point"),
        "relationships --direction down": (
            lambda c: list(adapter.relationships(objects=[c])), "point"),
        "relationships": (lambda c: list(adapter.relationships(subjects=[c])), "point"),
        "descendants (2 levels down)": (
            lambda _c: list(adapter.descendants([store_root], None)), "subtree"),
        "search l=<preferred name>": (
            lambda c: search("l=" + adapter.label(c)), "point"),
        "search t^<first word>": (
            lambda c: search("t^" + adapter.label(c).split()[0]), "names"),
        "search t~<two words>": (
            lambda c: search("t~" + " ".join(adapter.label(c).split()[:2])), "names"),
    }


def runoak_seconds(db: Path, curie: str) -> float | None:
    """Wall time of one real `runoak info` process (Python start and OAK's imports included)."""
    runoak = shutil.which("runoak", path=str(Path(sys.executable).parent)) or shutil.which(
        "runoak")
    if runoak is None:
        return None
    started = time.perf_counter()
    subprocess.run([runoak, "-i", f"umlsgraph:{db}", "info", curie], check=True,
                   capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concepts", type=int, default=300_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--sample", type=int, default=20)
    args = parser.parse_args()
    from oaklib import get_adapter

    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or prepare(Path(tmp), args.concepts)
        curies, counts = sample(db, args.sample)
        started = time.perf_counter()
        get_adapter(f"umlsgraph:{db}").store.close()
        first = time.perf_counter() - started
        started = time.perf_counter()
        adapter = get_adapter(f"umlsgraph:{db}")
        opened = time.perf_counter() - started
        print(f"store: {counts['concepts']:,} concepts, {counts['names']:,} names, "
              f"{counts['relations']:,} relation rows; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"first open (builds the indexes if stale) {first:.2f} s; open {opened:.3f} s")
        root = next(iter(adapter.ancestors([curies[0]], None, reflexive=False)), curies[0])
        level2 = _two_below_root(adapter, curies[0])
        print(f"median over {len(curies)} random concepts, ms; last column: that time "
              f"extrapolated to {FULL['concepts']:,} concepts")
        print(f"{'command':<34}{'ms':>10}{'full size ms':>14}  grows with")
        for name, (fn, grows) in commands(adapter, level2 or root).items():
            ms = median_ms(fn, curies)
            factor = FULL[grows] / counts[grows] if grows in FULL else 1.0
            print(f"{name:<34}{ms:>10.1f}{ms * factor:>14.0f}  {GROWS.get(grows, grows)}")
        size = len(list(adapter.descendants([level2 or root], None)))
        print(f"(descendants of {level2 or root}: {size:,} concepts)")
        wall = runoak_seconds(db, curies[0])
        if wall is not None:
            print(f"one real `runoak info {curies[0]}` process: {wall:.2f} s "
                  "(mostly Python start and OAK's imports)")
        adapter.store.close()


def _two_below_root(adapter: Any, curie: str) -> str | None:
    """The ancestor of `curie` two is-a levels below its root, if it is that deep."""
    from oaklib.datamodels.vocabulary import IS_A

    chain = [curie]
    while True:
        parents = [o for _, _, o in adapter.relationships([chain[-1]], [IS_A])]
        if not parents:
            break
        chain.append(sorted(parents)[0])
    return chain[-3] if len(chain) >= 3 else None


if __name__ == "__main__":
    from record import recorded

    with recorded("oak"):
        main()
