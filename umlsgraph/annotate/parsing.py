"""Turning an LLM's free-text answer into one of the query's categories, or None.

An answer maps to a category when, after normalising (markdown and punctuation stripped,
lower-cased, whitespace collapsed), either the whole answer or the first words of its first
line are one of that category's answer words, optionally after a lead-in such as
"Answer:" or "The answer is". Anything else is unparseable (None): the raw text is kept and
counted, and never used for training. The rule is deliberately conservative: "Yes, it is"
is yes, but "It is not clear, no" is unparseable rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from umlsgraph.labelfile import normalise

#: Lead-ins a model puts before its answer; removed (longest first) from the first line.
LEAD_INS = ("the final answer is", "final answer", "the answer is", "my answer is", "answer is",
            "answer", "response", "label", "category", "output", "assistant")


def first_line(text: str) -> str:
    """The first line that still has words once normalised ("" when there is none)."""
    for line in text.splitlines():
        norm = normalise(line)
        if norm:
            return norm
    return ""


def _drop_lead_in(line: str) -> str:
    for lead in LEAD_INS:
        if line == lead:
            return ""
        if line.startswith(lead + " "):
            return line[len(lead) + 1:]
    return line


def parse_answer(raw: str | None, labels: Mapping[str, Sequence[str]]) -> str | None:
    """The category whose answer words `raw` gives, or None when it is unparseable.

    `labels` maps each category to its answer words (the query's `labels`). Multi-word
    answer words ("not related") are matched whole; a category name counts as its own answer
    word. When two categories would match, the longer answer word wins.
    """
    if not raw:
        return None
    words = _answer_words(labels)
    whole = normalise(raw)
    if whole in words:
        return words[whole]
    line = first_line(raw)
    for candidate in (line, _drop_lead_in(line)):
        found = _leading_category(candidate, words)
        if found is not None:
            return found or None
    return None


def _leading_category(line: str, words: dict[str, str]) -> str | None:
    """The category the line starts with; "" when it hedges ("yes or no"); None if none.

    One-letter answer words ("y", "n") only count as the whole line, so "n/a" stays
    unparseable.
    """
    for word in sorted(words, key=len, reverse=True):
        if line == word:
            return words[word]
        if len(word) > 1 and line.startswith(word + " "):
            rest = line[len(word) + 1:].split()[:2]
            hedged = any(words.get(w, words[word]) != words[word] for w in rest)
            return "" if hedged else words[word]
    return None


def _answer_words(labels: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Normalised answer word -> category; a word claimed by two categories is dropped."""
    owner: dict[str, str] = {}
    clashes: set[str] = set()
    for category, answer_words in labels.items():
        for word in {normalise(w) for w in (*answer_words, category)} - {""}:
            if word in owner and owner[word] != category:
                clashes.add(word)
            owner.setdefault(word, category)
    return {w: c for w, c in owner.items() if w not in clashes}


def answer_word(labels: Mapping[str, Sequence[str]], category: str) -> str:
    """The canonical word for a category (its first answer word), used in few-shot turns."""
    return labels[category][0] if labels[category] else category


#: One generated token: (text, logprob, alternatives as [(text, logprob), ...], maybe empty).
TokenLogprobs = tuple[str, float, Sequence[tuple[str, float]]]


def positive_probability(tokens: Sequence[TokenLogprobs], labels: Mapping[str, Sequence[str]],
                         positive: str) -> float | None:
    """The annotator's P(positive) from the log-probabilities of its first answer token.

    Leading tokens without words (whitespace, "**") are skipped. With alternatives
    (``top_logprobs``), each one that starts exactly one category's answer word adds its
    probability to that category, and P(positive) is the positive share of that mass. With
    only the chosen token's probability p, a two-category query gives p or 1 - p. None when
    the first word token starts no answer word (the answer is unparseable anyway).
    """
    import math

    for text, logprob, alternatives in tokens:
        if not normalise(text):
            continue
        mass: dict[str, float] = {}
        for alt, alt_logprob in alternatives or [(text, logprob)]:
            category = token_category(alt, labels)
            if category is not None:
                mass[category] = mass.get(category, 0.0) + math.exp(alt_logprob)
        if not mass:
            return None
        if alternatives:
            return mass.get(positive, 0.0) / sum(mass.values())
        if len(labels) != 2:
            return None
        category, p = next(iter(mass.items()))
        return min(1.0, p) if category == positive else max(0.0, 1.0 - p)
    return None


def token_category(token: str, labels: Mapping[str, Sequence[str]]) -> str | None:
    """The one category with an answer word that starts with `token` ("Y" -> yes), else None."""
    start = normalise(token)
    if not start:
        return None
    found = {c for w, c in _answer_words(labels).items() if w.startswith(start)}
    return found.pop() if len(found) == 1 else None
