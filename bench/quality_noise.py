"""Simulated annotators for `bench/quality.py`: what a noisy LLM answers for every concept.

Each model turns gold (id -> yes/no under a subtree) into the annotator's answers; `NN` is the
share of all concepts it gets wrong (a "90%-accurate annotator" is NN = 10):

  clean       the gold labels
  randomNN    NN% of all concepts flipped, uniformly at random
  hardNN      NN% flipped on average, each concept's flip probability proportional to how
              wrong an out-of-fold bag-of-words classifier on its names is about it
  branchesNN  whole branches wrong, deterministically: sub-branches just inside the subtree's
              border (children and grandchildren of its root, with all below them) answered
              "no", and sub-branches just outside it (children and grandchildren of the
              root's siblings) answered "yes", until NN% of all concepts are wrong (half each
              way, at most 40% of the positives missed): an LLM misjudging a whole area
  missesNN    says "no" when unsure: only positives are wrong, NN% of all concepts (at most
              40% of the positives, in expectation), the hardest (bag-of-words) most likely

The `seed` picks the flips (random), the draws (hard, misses) or the branches (branches); the
same seed always gives the same answers, so asking twice gets the same answer.
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

KINDS = ("clean", "random", "hard", "branches", "misses")


def flip(label: str) -> str:
    return "no" if label == "yes" else "yes"


def parse(noise: str) -> tuple[str, float]:
    """("random", 0.1) from "random10"; a SystemExit naming the choices otherwise."""
    kind = noise.rstrip("0123456789")
    digits = noise[len(kind):]
    if kind not in KINDS or (kind != "clean" and not digits) or (kind == "clean" and digits):
        raise SystemExit(f"unknown noise model {noise!r}; choose clean or "
                         f"{'/'.join(KINDS[1:])} followed by a percentage, e.g. random10")
    return kind, int(digits or 0) / 100


def answers(noise: str, truth: dict[str, str], seed: int,
            hardness: Callable[[], dict[str, float]],
            edges: Callable[[], list[tuple[str, str]]], root: str) -> dict[str, str]:
    """The annotator's answer for every concept under a noise model."""
    kind, rate = parse(noise)
    ids = sorted(truth)
    rng = random.Random(f"{root}/{noise}/{seed}")
    if kind == "clean":
        wrong: set[str] = set()
    elif kind == "random":
        wrong = set(rng.sample(ids, round(rate * len(ids))))
    elif kind == "hard":
        weights = hardness()
        scale = scale_to_rate([weights[i] for i in ids], rate)
        wrong = {i for i in ids if rng.random() < min(0.95, scale * weights[i])}
    elif kind == "misses":
        wrong = _misses(truth, rate, rng, hardness())
    else:
        wrong = _branches(truth, rate, rng, edges(), root)
    return {i: flip(v) if i in wrong else v for i, v in truth.items()}


def _misses(truth: dict[str, str], rate: float, rng: random.Random,
            weights: dict[str, float]) -> set[str]:
    positives = sorted(i for i, v in truth.items() if v == "yes")
    target = min(round(rate * len(truth)), int(0.4 * len(positives)))
    scale = scale_to_rate([weights[i] for i in positives], target / len(positives))
    return {i for i in positives if rng.random() < min(0.95, scale * weights[i])}


def _branches(truth: dict[str, str], rate: float, rng: random.Random,
              edges: list[tuple[str, str]], root: str) -> set[str]:
    children: dict[str, set[str]] = defaultdict(set)
    parents: dict[str, set[str]] = defaultdict(set)
    for child, parent in edges:
        children[parent].add(child)
        parents[child].add(parent)
    positives = sum(v == "yes" for v in truth.values())
    target = round(rate * len(truth))
    inside_target = min(target // 2, int(0.4 * positives))
    siblings = sorted({s for p in parents[root] for s in children[p]} - {root})
    inside = _near(children, [root])
    outside = _near(children, siblings)
    below = _below(children)
    wrong = _pick(inside, below, lambda i: truth.get(i) == "yes", inside_target, target, rng)
    wrong |= _pick(outside, below, lambda i: truth.get(i) == "no", target - len(wrong), target,
                   rng, taken=wrong)
    return wrong


def _near(children: dict[str, set[str]], tops: list[str]) -> list[str]:
    """Children and grandchildren of `tops`: the branches near a border."""
    first = {c for t in tops for c in children[t]}
    return sorted(first | {g for c in first for g in children[c]})


def _below(children: dict[str, set[str]]) -> Callable[[str], set[str]]:
    cache: dict[str, set[str]] = {}

    def below(node: str) -> set[str]:
        if node not in cache:
            seen, stack = {node}, [node]
            while stack:
                for c in children[stack.pop()]:
                    if c not in seen:
                        seen.add(c)
                        stack.append(c)
            cache[node] = seen
        return cache[node]

    return below


def _pick(candidates: list[str], below: Callable[[str], set[str]], wrong_if: Callable[[str], bool],
          want: int, total: int, rng: random.Random, taken: set[str] | frozenset[str] = frozenset()
          ) -> set[str]:
    """Whole branches (seeded order) whose wrongly-answered concepts add up to about `want`;
    no branch bigger than a quarter of the total target, so several areas are wrong."""
    order = candidates[:]
    rng.shuffle(order)
    picked: set[str] = set()
    for node in order:
        if len(picked) >= want:
            break
        branch = {i for i in below(node) if wrong_if(i)} - picked - set(taken)
        if branch and len(branch) <= max(1, total // 4) and len(picked) + len(branch) <= want * 1.1:
            picked |= branch
    return picked


def scale_to_rate(weights: list[float], rate: float) -> float:
    """c such that mean(min(0.95, c * w)) == rate (bisection)."""
    lo, hi = 0.0, 1e4
    for _ in range(60):
        mid = (lo + hi) / 2
        if sum(min(0.95, mid * w) for w in weights) / len(weights) < rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def bag_of_words_hardness(texts: dict[str, str], truth: dict[str, str],
                          cache: Path) -> dict[str, float]:
    """P(wrong) of an out-of-fold bag-of-words classifier on each concept's names (cached)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    key = hashlib.sha256("".join(f"{i}{v}" for i, v in sorted(truth.items())).encode())
    path = cache / f"hardness-{key.hexdigest()[:12]}.tsv"
    if path.is_file():
        return {i: float(v) for i, v in csv.reader(path.open(), delimiter="\t")}
    ids = sorted(truth)
    y = np.array([truth[i] == "yes" for i in ids])
    features = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit_transform(
        [texts[i] for i in ids])
    proba = cross_val_predict(LogisticRegression(C=4.0, max_iter=2000), features, y, cv=5,
                              method="predict_proba")[:, 1]
    wrong = np.where(y, 1 - proba, proba)
    with path.open("w", newline="") as handle:
        csv.writer(handle, delimiter="\t").writerows(zip(ids, map(float, wrong), strict=True))
    return dict(zip(ids, map(float, wrong), strict=True))
