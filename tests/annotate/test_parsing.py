"""Answer parsing: normalisation, lead-ins, hedges and garbage."""

from __future__ import annotations

import pytest

from umlsgraph.annotate.parsing import parse_answer
from umlsgraph.labelfile import normalise

YES_NO = {"yes": ("yes", "y", "true"), "no": ("no", "n", "false")}
SENTIMENT = {"positive": ("positive", "pos"), "negative": ("negative", "neg")}


@pytest.mark.parametrize("raw, expected", [
    ("Yes.", "yes"), ("**No**", "no"), ("Answer: yes", "yes"), ("The answer is: **No**", "no"),
    ("yes, it is related to the nervous system", "yes"), ("NO!!!", "no"), ("`yes`", "yes"),
    ("  \n\nNo\nbecause the term names a vessel", "no"), ("Assistant: Yes", "yes"),
    ("Y", "yes"), ("n", "no"), ("True", "yes"), ('"No."', "no"), ("- yes", "yes"),
])
def test_answers_map_to_categories(raw: str, expected: str) -> None:
    assert parse_answer(raw, YES_NO) == expected


@pytest.mark.parametrize("raw", [
    "", "   ", "maybe", "I think so", "N/A", "Yes/No", "yes or no", "none", "nope", "Sure!",
    "The term is related to", "?!?", "\x00\x01garbage", "ye", "noo", "It is not clear, no",
    "As an AI model I cannot answer", None,
])
def test_garbage_is_unparseable(raw: str | None) -> None:
    assert parse_answer(raw, YES_NO) is None


def test_multiword_categories_and_category_names() -> None:
    labels = {"related": ("related",), "unrelated": ("not related", "unrelated")}
    assert parse_answer("Not related.", labels) == "unrelated"
    assert parse_answer("Related", labels) == "related"
    assert parse_answer("NEGATIVE", SENTIMENT) == "negative"
    assert parse_answer("Sentiment: neg", SENTIMENT) is None  # unknown lead-in: not guessed
    assert parse_answer("Label: neg", SENTIMENT) == "negative"


def test_word_claimed_by_two_categories_is_ignored() -> None:
    labels = {"a": ("x", "alpha"), "b": ("x", "beta")}
    assert parse_answer("x", labels) is None
    assert parse_answer("beta", labels) == "b"


def test_normalise() -> None:
    assert normalise("  **Yes!**\n") == "yes"
    assert normalise("Don't   know") == "don't know"
    assert normalise("snake_case") == "snake case"
