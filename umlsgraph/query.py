"""Natural-language queries: TOML files under `queries/`, validated into a frozen `Query`.

A query says what to ask the LLM about each item (`prompt` with `{text}`, optional `system`
and few-shot `examples`), which answer words mean which category (`labels`), which category
selects an item (`positive`), how to sample, which concepts are candidates (`[filter]`), and
what the concept text holds (`[text]`).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from umlsgraph.errors import QueryError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOP_FIELDS = {"name", "description", "prompt", "system", "labels", "positive", "examples",
              "sample", "filter", "text", "descriptions", "corpus"}
SAMPLE_FIELDS = {"size", "seed", "stratify"}
FILTER_FIELDS = {"semantic_types", "sources"}
POSITIVE_INTS = {"size", "max_names", "max_chars"}  # counts where 0 or less means nothing
TEXT_FIELDS = {"synonyms", "preferred_name", "semantic_types", "definition", "parents",
               "other_parents", "grandparents", "max_names", "max_chars"}
#: Text options added after stored answers were first keyed by the text options, with their
#: defaults: left out of the keys while at the default, so answers paid for before the option
#: existed keep their key (and are not asked again).
LATER_TEXT_FIELDS: dict[str, object] = {"other_parents": False}


@dataclass(frozen=True)
class TextOptions:
    """What the concept text holds. The default is the seed's recipe: names only."""

    synonyms: bool = True
    preferred_name: bool = False
    semantic_types: bool = False
    definition: bool = False
    parents: bool = False
    #: Also the parents that sources other than the concept's preferred-name source state
    #: ("other parents: ..."); off by default: on a multi-source release they are often
    #: beside the question (see `umlsgraph.db.items.ranked_parents_sql`).
    other_parents: bool = False
    grandparents: bool = False
    max_names: int = 50
    max_chars: int = 2000


@dataclass(frozen=True)
class Sample:
    size: int = 1000
    seed: int = 42
    stratify: bool = False


@dataclass(frozen=True)
class Filter:
    semantic_types: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Example:
    text: str
    label: str


@dataclass(frozen=True)
class Query:
    """A validated query file."""

    name: str
    prompt: str
    labels: dict[str, tuple[str, ...]]
    positive: str
    system: str | None = None
    description: str = ""
    examples: tuple[Example, ...] = ()
    sample: Sample = field(default_factory=Sample)
    filter: Filter = field(default_factory=Filter)
    text: TextOptions = field(default_factory=TextOptions)
    descriptions: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    path: str = ""

    @property
    def categories(self) -> list[str]:
        """Category names in file order; the index is the class id the encoder uses."""
        return list(self.labels)

    def render(self, text: str) -> str:
        """The user message for one item."""
        return self.prompt.replace("{text}", text)

    def prompt_hash(self) -> str:
        """A short hash of everything that changes what the LLM is asked.

        Annotations are keyed by it, so editing the prompt starts a fresh set instead of
        silently mixing answers to two different questions.
        """
        payload = {"prompt": self.prompt, "system": self.system, "labels": self.labels,
                   "examples": [asdict(e) for e in self.examples], "text": text_key(self.text)}
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def text_key(options: TextOptions) -> dict[str, object]:
    """The text options as they enter a stored key (options added later left out at their
    default, see LATER_TEXT_FIELDS)."""
    return {k: v for k, v in asdict(options).items()
            if k not in LATER_TEXT_FIELDS or v != LATER_TEXT_FIELDS[k]}


def no_items_error(query: Query, source: str) -> QueryError:
    """The error of a step whose query selects no item at all: it fails rather than doing
    nothing and exiting 0 (the next step would fail with a confusing message)."""
    rules = [f"{key} = {list(values)}" for key, values in asdict(query.filter).items() if values]
    why = (f"its [filter] ({'; '.join(rules)}) matches no item" if rules
           else "there are no items")
    return QueryError(f"query '{query.name}' on {source}: {why}; check the codes in "
                      f"{query.path or 'the query file'} against `umlsgraph info` (or load a "
                      "release/corpus first)")


def query_dirs() -> list[Path]:
    """Where names are looked up: ./queries, then the query files shipped with umlsgraph."""
    dirs = [Path.cwd() / "queries"]
    try:
        dirs.append(Path(str(resources.files("umlsgraph_queries"))))
    except ModuleNotFoundError:  # pragma: no cover - running from a source tree
        pass
    dirs.append(Path(__file__).resolve().parent.parent / "queries")
    return dirs


def available() -> list[str]:
    """Names of the queries that can be given by name."""
    names: set[str] = set()
    for folder in query_dirs():
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.toml"))
    return sorted(names)


def resolve(name_or_path: str | Path) -> Path:
    """The file for a query given by path or by name."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        if not candidate.is_file():
            raise QueryError(f"{candidate}: no such query file")
        return candidate
    for folder in query_dirs():
        path = folder / f"{name_or_path}.toml"
        if path.is_file():
            return path
    raise QueryError(
        f"unknown query '{name_or_path}'; known: {', '.join(available()) or 'none'} "
        "(or pass a path to a .toml file)"
    )


def load_query(name_or_path: str | Path) -> Query:
    """Read and validate a query file, by name or by path."""
    path = resolve(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise QueryError(f"{path}: not valid TOML ({exc})") from None
    return parse_query(data, str(path))


def parse_query(data: dict[str, Any], where: str = "<query>") -> Query:
    """Validate a query's fields; every problem is one line naming the file and the field."""
    _check_fields(data, TOP_FIELDS, where, "")
    for key in ("name", "prompt", "labels", "positive"):
        if key not in data:
            raise QueryError(f"{where}: missing required field '{key}'")
    prompt = _string(data, "prompt", where)
    if "{text}" not in prompt:
        raise QueryError(f"{where}: field 'prompt' must contain {{text}} where the item goes")
    labels = _labels(data["labels"], where)
    positive = _string(data, "positive", where)
    if positive not in labels:
        raise QueryError(f"{where}: 'positive' is '{positive}' but labels are {list(labels)}")
    return Query(
        name=_name(data, where),
        prompt=prompt,
        labels=labels,
        positive=positive,
        system=data.get("system"),
        description=data.get("description", ""),
        examples=_examples(data.get("examples", []), labels, where),
        sample=_section(data, "sample", SAMPLE_FIELDS, Sample, where),
        filter=_filter(data.get("filter", {}), where),
        text=_section(data, "text", TEXT_FIELDS, TextOptions, where),
        descriptions=_descriptions(data.get("descriptions", {}), labels, where),
        path=where,
    )


def _check_fields(data: dict[str, Any], allowed: set[str], where: str, section: str) -> None:
    for key in data:
        if key not in allowed:
            prefix = f"[{section}] " if section else ""
            raise QueryError(
                f"{where}: unknown field {prefix}'{key}'; allowed: {', '.join(sorted(allowed))}"
            )


def _string(data: dict[str, Any], key: str, where: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise QueryError(f"{where}: field '{key}' must be a non-empty string")
    return value


def _labels(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict) or len(raw) < 2:
        raise QueryError(f"{where}: 'labels' must map at least two categories to answer words, "
                         'e.g. yes = ["yes"]')
    labels = {}
    for category, words in raw.items():
        if isinstance(words, str):
            words = [words]
        if not isinstance(words, list) or not words or not all(isinstance(w, str) for w in words):
            raise QueryError(f"{where}: labels.{category} must be a list of answer words")
        labels[str(category)] = tuple(w.strip().lower() for w in words)
    _check_words_unique(labels, where)
    return labels


def _check_words_unique(labels: dict[str, tuple[str, ...]], where: str) -> None:
    """An answer word may mean one category only: in two, every answer holding it would be
    ambiguous, so parsing would throw those answers away."""
    seen: dict[str, str] = {}
    for category, words in labels.items():
        for word in words:
            if not word:
                raise QueryError(f"{where}: labels.{category} has an empty answer word")
            if seen.get(word, category) != category:
                raise QueryError(f"{where}: answer word '{word}' is in both labels."
                                 f"{seen[word]} and labels.{category}; give each word to one "
                                 "category")
            seen[word] = category


SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$")


def _name(data: dict[str, Any], where: str) -> str:
    """The query's name keys its annotations and names its files and folders (runs/NAME,
    NAME.graphml), so it may hold no path separator, no `..` and no control character."""
    name = _string(data, "name", where)
    if not SAFE_NAME.match(name) or ".." in name:
        raise QueryError(f"{where}: field 'name' is {name!r}; use letters, digits, '_', '-', "
                         "'.' and '+' (at most 100, starting with a letter or digit), since it "
                         "names files and folders")
    return name


def _examples(raw: Any, labels: dict[str, tuple[str, ...]], where: str) -> tuple[Example, ...]:
    if not isinstance(raw, list):
        raise QueryError(f"{where}: 'examples' must be a list of {{text, label}} tables")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) != {"text", "label"}:
            raise QueryError(f"{where}: examples[{i}] must have exactly 'text' and 'label'")
        if item["label"] not in labels:
            raise QueryError(f"{where}: examples[{i}].label '{item['label']}' is not one of "
                             f"{list(labels)}")
        out.append(Example(str(item["text"]), str(item["label"])))
    return tuple(out)


def _section(data: dict[str, Any], name: str, allowed: set[str], cls: Any, where: str) -> Any:
    raw = data.get(name, {})
    if not isinstance(raw, dict):
        raise QueryError(f"{where}: [{name}] must be a table")
    _check_fields(raw, allowed, where, name)
    defaults = cls()
    for key, value in raw.items():
        expected = type(getattr(defaults, key))
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise QueryError(f"{where}: [{name}] {key} must be {expected.__name__}")
        if expected is int and key in POSITIVE_INTS and value < 1:
            raise QueryError(f"{where}: [{name}] {key} is {value}; it must be at least 1")
    return cls(**raw)


def _filter(raw: Any, where: str) -> Filter:
    if not isinstance(raw, dict):
        raise QueryError(f"{where}: [filter] must be a table")
    _check_fields(raw, FILTER_FIELDS, where, "filter")
    values = {}
    for key, items in raw.items():
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise QueryError(f"{where}: [filter] {key} must be a list of strings")
        values[key] = tuple(items)
    return Filter(**values)


def _descriptions(raw: Any, labels: dict[str, tuple[str, ...]], where: str
                  ) -> dict[str, str | tuple[str, ...]]:
    """Category -> its description: one text, or a list of texts (one per facet of the
    category; the `embed` annotator scores an item by its nearest one)."""
    if not isinstance(raw, dict):
        raise QueryError(f"{where}: [descriptions] must map categories to text")
    out: dict[str, str | tuple[str, ...]] = {}
    for key, value in raw.items():
        if key not in labels:
            raise QueryError(f"{where}: [descriptions] {key} must be one of {list(labels)}")
        if isinstance(value, list) and value and all(isinstance(v, str) and v.strip()
                                                     for v in value):
            out[key] = tuple(value)
        elif isinstance(value, str):
            out[key] = value
        else:
            raise QueryError(f"{where}: [descriptions] {key} must be a text or a non-empty "
                             "list of texts")
    return out
