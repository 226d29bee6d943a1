"""Do the training defaults beat the naive recipe? Held-out F1 on real HPO text.

    python bench/train_quality.py                   # 500 labels, 3,000 held-out phenotypes
    python bench/train_quality.py --labels 2000 --noise 0.1

Gold is HPO's own hierarchy: a phenotype is "yes" when it lies under "Abnormality of the
nervous system" (HP:0000707, ~15% of HPO). A seeded random sample of `--labels` phenotypes is
the training set (with `--noise`, that share of its labels flipped, like an imperfect LLM);
`--held-out` other phenotypes are labelled by each model and scored against gold.

Recipes (MiniLM-L6, CPU):
  naive      the issue's plain loop: 3 epochs, lr 5e-5, batch 32, max length 64, names only,
             no class weighting, no minimum of steps, no validation (keeps the last epoch)
  defaults   TrainConfig() as shipped, same text (names only)
  +parents   TrainConfig() and the text of the shipped `hpo_nervous` query (names + parents)
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from label import hpo_store, minilm  # noqa: E402  (bench/label.py)

ROOT = "HP:0000707"


def recipes(base: str) -> dict[str, tuple[object, bool]]:
    """name -> (TrainConfig, whether the text includes parents)."""
    from umlsgraph.settings import TrainConfig

    naive = TrainConfig(base_model=base, epochs=3, lr=5e-5, batch_size=32, max_length=64,
                        class_weighting="none", min_steps=0, val_fraction=0.0)
    return {"naive": (naive, False), "defaults": (TrainConfig(base_model=base), False),
            "+parents": (TrainConfig(base_model=base), True)}


def sample(db: Path, n_labels: int, n_held_out: int, noise: float,
           seed: int) -> tuple[list[tuple[str, str]], list[str], str]:
    """(training labels, held-out ids, gold SQL), from a seeded shuffle of all phenotypes."""
    import duckdb

    from umlsgraph.evaluate.gold import subtree_gold_sql

    gold_sql = subtree_gold_sql(ROOT)
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(f"SELECT id, label FROM ({gold_sql}) ORDER BY id").fetchall()
    con.close()
    rng = random.Random(seed)
    rng.shuffle(rows)
    train = rows[:n_labels]
    flip = set(rng.sample(range(len(train)), int(noise * len(train))))
    train = [(i, ({"yes": "no", "no": "yes"}[lab] if k in flip else lab))
             for k, (i, lab) in enumerate(train)]
    return train, [i for i, _ in rows[n_labels:n_labels + n_held_out]], gold_sql


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=int, default=500)
    parser.add_argument("--held-out", type=int, default=3000)
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--recipe", action="append", help="Only these recipes.")
    args = parser.parse_args()

    from umlsgraph.db.items import ConceptSource
    from umlsgraph.evaluate.evaluation import evaluate
    from umlsgraph.label.labeller import label
    from umlsgraph.query import load_query
    from umlsgraph.train.trainer import train
    from umlsgraph.workflows.experiment import SampledSource

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = hpo_store(folder)
        labels, held_out, gold_sql = sample(db, args.labels, args.held_out, args.noise,
                                            args.seed)
        labels_sql = "SELECT * FROM (VALUES " + ", ".join(
            f"('{i}', '{lab}')" for i, lab in labels) + ") t(id, label)"
        ids_sql = "SELECT * FROM (VALUES " + ", ".join(f"('{i}')" for i in held_out) + ") t(id)"
        source = SampledSource(ConceptSource(), ids_sql)
        positives = sum(lab == "yes" for _, lab in labels)
        print(f"HPO {ROOT} subtree: {len(labels)} training labels ({positives} yes, noise "
              f"{args.noise:.0%}), {len(held_out)} held-out phenotypes, load average "
              f"{os.getloadavg()[0]:.1f}")
        shipped = load_query("hpo_nervous")
        for name, (config, parents) in recipes(str(minilm())).items():
            if args.recipe and name not in args.recipe:
                continue
            query = replace(shipped, text=replace(shipped.text, parents=parents))
            started = time.perf_counter()
            result = train(db, query, ConceptSource(), config, folder / name,
                           labels_sql=labels_sql, progress=False)
            trained = time.perf_counter() - started
            label(db, query, source, folder / name, progress=False)
            m = evaluate(db, query, source, gold_sql=gold_sql, model=folder / name)
            print(f"  {name:9s} held-out F1 {m['f1']:.3f}  P {m['precision']:.3f}  "
                  f"R {m['recall']:.3f}  acc {m['accuracy']:.3f}  | {result.steps} steps, "
                  f"{result.epochs} epochs (kept {result.best_epoch}), train {trained:.0f} s, "
                  f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
