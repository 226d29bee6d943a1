"""`umlsgraph query new`: a valid query file from a natural-language question.

The file holds everything `plan` and `annotate` need as written (system message, a prompt
with {text}, yes/no answer words, [descriptions] for the `embed` annotator, a [sample]
section) and the optional sections commented out, to be edited by hand. Strings are
written as TOML basic strings with every character TOML requires escaped, so any question
makes a file that parses back to the same text.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from umlsgraph.errors import QueryError
from umlsgraph.query import parse_query

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: A query name: a file stem, so no path separators, dots or spaces.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MAX_QUESTION = 2000

TEMPLATE = """\
# Query written by `umlsgraph query new`. Edit freely; `umlsgraph plan {name} --llm ...`
# shows what the LLM will be sent before anything is paid for.
name = {name_s}
description = {question_s}
system = "Please answer with a 'yes' or a 'no' only!"
prompt = {prompt_s}
positive = "yes"                     # the category that selects a concept

[labels]                             # category -> answer words that mean it
yes = ["yes", "y", "true"]
no = ["no", "n", "false"]

[descriptions]                       # for the zero-shot `embed` annotator: describe each side
yes = {yes_s}
no = {no_s}

[sample]
size = 1000
seed = 42
stratify = false                     # true: spread the sample over semantic types

# Optional few-shot examples (become chat turns before the question):
# [[examples]]
# text = "a term that should be answered yes"
# label = "yes"

# Optional: restrict the candidate concepts.
# [filter]
# semantic_types = ["T023", "T029"]
# sources = ["SNOMEDCT_US"]

# Optional: what the concept text holds (default: its names, the seed's recipe).
# [text]
# synonyms = true
# preferred_name = false
# semantic_types = false
# definition = false
# parents = false
"""


def toml_string(value: str) -> str:
    """A TOML basic string: backslash, quote and every control character escaped."""
    out = []
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def check_name(name: str) -> str:
    """The query name, refused unless it is a plain file stem (no path traversal)."""
    if not NAME_PATTERN.fullmatch(name or ""):
        raise QueryError(f"query name {name!r}: use letters, digits, '_' and '-' only "
                         "(at most 64, starting with a letter or digit), e.g. cardiac_anatomy")
    return name


def render(name: str, question: str) -> str:
    """The text of a new query file for `question`; validated before it is returned."""
    check_name(name)
    question = " ".join((question or "").split())
    if not question:
        raise QueryError("the question is empty; e.g. umlsgraph query new cardiac "
                         '"is this term part of the heart?"')
    if len(question) > MAX_QUESTION:
        raise QueryError(f"the question has {len(question)} characters; keep it under "
                         f"{MAX_QUESTION}")
    body = question.replace("{text}", "{ text }")  # the item goes in one place only
    text = TEMPLATE.format(
        name=name, name_s=toml_string(name), question_s=toml_string(question),
        prompt_s=toml_string(f"Question: {body}\nTerm: {{text}}\nAnswer yes or no."),
        yes_s=toml_string(f"a term for which the answer is yes: {body}"),
        no_s=toml_string(f"a term for which the answer is no: {body}"))
    parse_query(tomllib.loads(text), f"<new query {name}>")
    return text


def write(name: str, question: str, out: Path | None = None, force: bool = False) -> Path:
    """Write the query file (default ./queries/NAME.toml); an existing file needs `force`."""
    text = render(name, question)
    path = out if out is not None else Path("queries") / f"{name}.toml"
    if path.is_dir():
        path = path / f"{name}.toml"
    if path.exists() and not force:
        raise QueryError(f"{path}: already exists; pass --force to overwrite it or choose "
                         "another name")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
