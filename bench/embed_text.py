"""Which concept text makes the demo's zero-shot `embed` annotator best? P/R/F1 against HPO.

    python bench/embed_text.py                       # 3,000 random HPO concepts, nervous
    python bench/embed_text.py --n 19034 --texts names,parents,grandparents

The demo annotates with `--llm embed` (MiniLM embeddings of each concept's text vs the
`hpo_nervous` query's two category descriptions). Its text is the query's `[text]`; this
scores the annotator with several texts on the same seeded sample and appends one JSON line
per text to bench/results/embed_text.jsonl:

  names          the concept's names only
  parents        names + parents' names (the shipped `hpo_nervous` query)
  grandparents   names + parents' + grandparents' names (what the encoder reads by default)
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality  # noqa: E402  (bench/quality.py)

RESULTS = Path(__file__).resolve().parent / "results" / "embed_text.jsonl"
TEXTS = {"names": {"parents": False}, "parents": {"parents": True},
         "grandparents": {"parents": True, "grandparents": True}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--texts", default=",".join(TEXTS))
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()

    import duckdb

    from umlsgraph.annotate.backends.base import Prompt
    from umlsgraph.annotate.backends.embed import EmbedAnnotator
    from umlsgraph.db.items import ConceptSource
    from umlsgraph.query import load_query

    db = quality.store()
    truth = quality.gold(db, "HP:0000707")
    ids = sorted(truth)
    ids = sorted(random.Random(args.seed).sample(ids, min(args.n, len(ids))))
    shipped = load_query("hpo_nervous")
    annotator = EmbedAnnotator()
    for name in quality._list(args.texts):
        query = replace(shipped, text=replace(shipped.text, **TEXTS[name]))
        con = duckdb.connect(str(db), read_only=True)
        ids_sql = "SELECT cui AS id FROM concepts WHERE cui IN (SELECT unnest(?))"
        texts = dict(con.execute(ConceptSource().texts_sql(query, ids_sql), [ids]).fetchall())
        con.close()
        annotator.setup(query)
        started = time.monotonic()
        answers: dict[str, str] = {}
        for start in range(0, len(ids), 64):
            chunk = ids[start:start + 64]
            replies = annotator.answer([Prompt(i, texts[i], ()) for i in chunk])
            answers.update({i: r.label or "" for i, r in zip(chunk, replies, strict=True)})
        scores = quality.prf([(truth[i], answers[i]) for i in ids])
        row = {"text": name, "text_options": TEXTS[name], "n": len(ids), "seed": args.seed,
               "annotator": scores, "s": round(time.monotonic() - started, 1),
               "command": shlex.join(["python", "bench/embed_text.py", *sys.argv[1:]]),
               "commit": quality.commit(),
               "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with args.results.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, sort_keys=True) + "\n")
        print(f"{name:13s} P {scores['precision']:.3f} R {scores['recall']:.3f} "
              f"F1 {scores['f1']:.3f} on {len(ids):,} concepts ({row['s']:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
