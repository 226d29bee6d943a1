"""The demo says what a real LLM would add when it ran with the zero-shot stand-in."""

from umlsgraph.workflows.demo import llm_note


def test_embed_stand_in_gets_a_note_with_its_own_f1() -> None:
    note = llm_note("embed", {"annotator (its sample)": {"f1": 0.61234}})
    assert note is not None
    assert "F1 0.612" in note and "real LLM" in note and "--llm openai:" in note


def test_embed_with_an_encoder_folder_still_gets_the_note() -> None:
    assert llm_note("embed:/models/minilm", {}) is not None


def test_a_real_llm_gets_no_note() -> None:
    assert llm_note("openai:gpt-4o-mini", {"annotator (its sample)": {"f1": 0.9}}) is None
