"""Does the hierarchy rule change the encoder's concept text? Count the concepts whose text differs.

    python bench/hierarchy_texts.py dump OUT.json [--extra random2 --extra-rel rb-isa]
        [--hierarchy-rule par-chd]       # the default concept text of every HPO concept
    PYTHONPATH=/tmp/old python bench/hierarchy_texts.py dump before.json   # an older checkout
    python bench/hierarchy_texts.py compare A.json B.json --label "..."   # appends a row to
                                          # bench/results/hierarchy_rule.jsonl

The text is the encoder's default (`TrainConfig().text`: names, parents', grandparents'
names) on the HPO store of `bench/quality.py` (or its variant with extra parents, seed 1).
`dump` only imports `umlsgraph.db.items.concept_text_sql` and `umlsgraph.query.TextOptions`,
so it runs against older checkouts too.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

RESULTS = Path(__file__).resolve().parent / "results" / "hierarchy_rule.jsonl"


def dump(out: Path, extra: str, extra_rel: str, rule: str) -> None:
    import duckdb
    import quality

    from umlsgraph.db.items import concept_text_sql
    from umlsgraph.query import TextOptions

    db = quality.store()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "hpo.duckdb"
        shutil.copy(db, copy)
        if extra != "none":
            quality.add_extra_parents(copy, extra, extra_rel, 1)
        if rule != "par-chd+isa":  # older checkouts have no db/hierarchy.py
            quality.use_rule(rule)
        sql = concept_text_sql(TextOptions(parents=True, grandparents=True),
                               "SELECT cui AS id FROM concepts")
        con = duckdb.connect(str(copy), read_only=True)
        texts = dict(con.execute(sql).fetchall())
        con.close()
    out.write_text(json.dumps(texts, sort_keys=True))
    print(f"{len(texts):,} texts -> {out}")


def compare(a: Path, b: Path, label: str, results: Path) -> None:
    left, right = json.loads(a.read_text()), json.loads(b.read_text())
    differ = sorted(i for i in set(left) | set(right) if left.get(i) != right.get(i))
    row = {"label": label, "a": a.name, "b": b.name, "concepts": len(set(left) | set(right)),
           "differing_texts": len(differ), "examples": [
               {"id": i, "a": left.get(i), "b": right.get(i)} for i in differ[:3]],
           "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    results.parent.mkdir(parents=True, exist_ok=True)
    with results.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, sort_keys=True) + "\n")
    print(f"{label}: {len(differ):,} of {row['concepts']:,} texts differ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out", type=Path)
    d.add_argument("--extra", default="none")
    d.add_argument("--extra-rel", default="par", choices=("par", "rb-isa"))
    d.add_argument("--hierarchy-rule", default="par-chd+isa")
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    c.add_argument("--label", required=True)
    c.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.command == "dump":
        dump(args.out, args.extra, args.extra_rel, args.hierarchy_rule)
    else:
        compare(args.a, args.b, args.label, args.results)


if __name__ == "__main__":
    main()
