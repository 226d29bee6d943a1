"""The demo's zero-shot `embed` annotator: which descriptions and which concept text? P/R/F1
against HPO's hierarchy, on every HPO concept, for three subtrees.

    python bench/embed_text.py                          # all subtrees, descriptions, texts
    python bench/embed_text.py --subtrees nervous --texts grandparents

The demo annotates with `--llm embed`: MiniLM embeddings of each concept's text against the
query's `[descriptions]`. Two ways to describe a category are compared:

  one      a single sentence per answer (what the demo's query had before facets)
  facets   a list of short texts per answer, the category's nearest one counts (the shipped
           `hpo_nervous` query's lists for nervous; written the same way for the others,
           once, before any was scored)

and three concept texts: `names`, names + `parents`, names + parents + `grandparents` (what
the encoder reads by default). The annotator is deterministic and every concept is scored,
so there are no seeds. Each (subtree, descriptions, text) appends one JSON line to
bench/results/embed_text.jsonl; `--render` writes bench/results/embed_text.md from it.
Nervous is the demo's subtree (the facets were written for it); skeletal and eye only test.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality  # noqa: E402  (bench/quality.py)
import render_quality  # noqa: E402  (bench/render_quality.py: load())

RESULTS = Path(__file__).resolve().parent / "results" / "embed_text.jsonl"
TEXTS = {"names": {"parents": False, "grandparents": False},
         "parents": {"parents": True, "grandparents": False},
         "grandparents": {"parents": True, "grandparents": True}}
OTHERS = ["abnormality of the brain", "abnormality of the skin", "abnormality of the skeleton",
          "abnormality of the heart", "abnormality of the kidney", "abnormality of the eye",
          "abnormality of the blood", "abnormality of metabolism",
          "abnormality of the immune system", "abnormality of the digestive system",
          "abnormal laboratory finding"]
#: subtree -> (root, one sentence per answer, facets per answer; None: the shipped query's)
CASES: dict[str, tuple[str, dict[str, str], dict[str, list[str]] | None]] = {
    "nervous": ("HP:0000707", {
        "yes": "an abnormality of the nervous system: brain, spinal cord, nerves, seizures, "
               "neuropathy, intellectual disability, ataxia, abnormal movements or behaviour",
        "no": "an abnormality outside the nervous system: skin, bones, heart, kidney, eye, "
              "blood, metabolism or growth"}, None),
    "skeletal": ("HP:0000924", {
        "yes": "an abnormality of the skeletal system: bones, joints, spine, skull, limbs, "
               "fractures, bone density or skeletal growth",
        "no": "an abnormality outside the skeletal system: brain, nerves, skin, heart, kidney, "
              "eye, blood or metabolism"}, {
        "yes": ["abnormality of the skeletal system", "abnormality of the bones",
                "abnormality of the joints", "abnormality of the spine",
                "abnormality of the skull", "abnormality of the limb bones", "fracture",
                "abnormal bone density", "abnormal skeletal growth"],
        "no": [t for t in OTHERS if t != "abnormality of the skeleton"]
        + ["abnormality of the nerves"]}),
    "eye": ("HP:0000478", {
        "yes": "an abnormality of the eye: vision, retina, lens, cornea, eyelids, eye "
               "movements or the orbit",
        "no": "an abnormality outside the eye: brain, bones, skin, heart, kidney, blood or "
              "metabolism"}, {
        "yes": ["abnormality of the eye", "abnormality of vision", "abnormality of the retina",
                "abnormality of the lens", "abnormality of the cornea",
                "abnormality of the eyelids", "abnormal eye movements",
                "abnormality of the orbit"],
        "no": [t for t in OTHERS if t != "abnormality of the eye"]}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subtrees", default=",".join(CASES))
    parser.add_argument("--texts", default=",".join(TEXTS))
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--render", action="store_true", help="Only write the markdown.")
    quality.measure_and_render(parser.parse_args(), measure, render)


def measure(args: argparse.Namespace) -> None:
    import duckdb
    import numpy as np

    from umlsgraph.annotate.backends.embed import EmbedAnnotator
    from umlsgraph.db.items import ConceptSource
    from umlsgraph.query import load_query

    db = quality.store()
    shipped = load_query("hpo_nervous")
    annotator = EmbedAnnotator()
    annotator.setup(shipped)
    for text in quality._list(args.texts):
        query = replace(shipped, text=replace(shipped.text, **TEXTS[text]))
        con = duckdb.connect(str(db), read_only=True)
        rows = con.execute(ConceptSource().texts_sql(query, "SELECT cui AS id FROM concepts"))
        # by length, so each batch pads to similar lengths (the order does not change a score)
        ids, texts = zip(*sorted(rows.fetchall(), key=lambda r: (len(r[1]), r[0])), strict=True)
        con.close()
        started = time.monotonic()
        vectors = np.concatenate([annotator._embed(list(texts[s:s + 128])).numpy()
                                  for s in range(0, len(texts), 128)])
        seconds = time.monotonic() - started
        for subtree in quality._list(args.subtrees):
            root, one, facets = CASES[subtree]
            truth = quality.gold(db, root)
            kinds: dict[str, dict[str, object]] = {
                "one": dict(one),
                "facets": dict(facets or {c: list(v) for c, v in shipped.descriptions.items()})}
            for kind, descriptions in kinds.items():
                answers = nearest(annotator, vectors, descriptions)
                scores = quality.prf([(truth[i], a) for i, a in zip(ids, answers,
                                                                   strict=True)])
                quality.append(args.results, {
                    "subtree": subtree, "descriptions": kind, "text": text,
                    "text_options": TEXTS[text], "n": len(ids), "annotator": scores,
                    "embed_s": round(seconds, 1), "commit": quality.commit(),
                    "command": shlex.join(["python", "bench/embed_text.py", *sys.argv[1:]]),
                    "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
                print(f"{subtree:9s} {kind:7s} {text:13s} P {scores['precision']:.3f} "
                      f"R {scores['recall']:.3f} F1 {scores['f1']:.3f}", flush=True)


def nearest(annotator: object, vectors: object, descriptions: dict[str, object]) -> list[str]:
    """yes/no per concept: the answer whose nearest description is nearest."""
    import numpy as np

    from umlsgraph.annotate.backends.embed import prototypes as facets

    best = {}
    for answer, value in descriptions.items():
        texts = list(facets(value))  # type: ignore[arg-type]
        prototypes = annotator._embed(texts).numpy()  # type: ignore[attr-defined]
        best[answer] = (vectors @ prototypes.T).max(axis=1)  # type: ignore[operator]
    return list(np.where(best["yes"] > best["no"], "yes", "no"))


def render(path: Path) -> str:
    """Markdown: the newest row per (subtree, descriptions, text), from the JSON lines."""
    latest: dict[tuple[str, str, str], dict] = {}
    for row in render_quality.load(path):
        if "subtree" in row:  # rows before descriptions were compared scored nervous only
            latest[(row["subtree"], row["descriptions"], row["text"])] = row
    lines = ["# The zero-shot `embed` annotator: descriptions and concept text", "",
             "Generated by `python bench/embed_text.py` from `embed_text.jsonl`; do not edit.",
             "Every HPO concept is scored against the subtree's gold. `one`: one sentence per "
             "answer; `facets`: a list of short texts per answer, the nearest counts. Nervous "
             "is the demo's subtree (its facets were written for it); skeletal and eye only "
             "test.", "",
             "| subtree | descriptions | text | precision | recall | F1 | concepts | commit |",
             "|---|---|---|--:|--:|--:|--:|---|"]
    for (subtree, kind, text), row in sorted(latest.items(), key=lambda kv: (
            list(CASES).index(kv[0][0]), kv[0][1] != "one", list(TEXTS).index(kv[0][2]))):
        s = row["annotator"]
        lines.append(f"| {subtree} | {kind} | {text} | {s['precision']:.3f} | "
                     f"{s['recall']:.3f} | {s['f1']:.3f} | {row['n']:,} | {row['commit']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
