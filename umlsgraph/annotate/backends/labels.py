"""A labels file as an annotator: ``--llm labels:FILE`` answers only what it is asked.

For measuring sampling strategies offline (random, uncertainty, diverse) with known labels:
an item the driver asks about gets its label from FILE (CSV/JSONL with id,label, read by
`umlsgraph.labelfile.read_label_file`, as `--labels-file` reads it); an item FILE has no
label for is stored as unanswerable (label NULL, raw text saying so), never guessed, so it
is counted, never asked again and never trained on. Everything else (sampling, -n, resume,
storage) is the driver's, as for any backend.

Answers are stored under the same annotator name and prompt hash as ``--labels-file FILE``
imports (``labels:NAME``, ``imported``): the file says the same whichever way it is read, so
a file's labels are one annotator.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from umlsgraph.annotate.backends.base import Annotator, AnnotatorOptions, Failure, Prompt, Reply
from umlsgraph.query import Query

#: The raw answer stored for an item the file has no label for (parses as nothing).
UNANSWERED = "[not in the labels file]"
#: The prompt hash labels files are stored under (as `driver.IMPORTED_HASH`).
IMPORTED_HASH = "imported"


class LabelsAnnotator(Annotator):
    """Answers from a labels file; unknown ids are unanswerable."""

    backend: ClassVar[str] = "labels"
    default_batch_size: ClassVar[int] = 1000

    def __init__(self, model: str, options: AnnotatorOptions | None = None) -> None:
        super().__init__(model, options)
        self.path = Path(model).expanduser()
        self.labels: dict[str, tuple[str, str]] = {}
        self.asked: list[str] = []

    @property
    def name(self) -> str:
        return f"labels:{self.path.name}"

    def prompt_hash(self, query: Query) -> str:
        return IMPORTED_HASH

    def setup(self, query: Query) -> None:
        from umlsgraph.labelfile import read_label_file

        super().setup(query)
        self.labels = read_label_file(self.path, query).labels

    def answer(self, prompts: Sequence[Prompt]) -> list[Reply | Failure | str | tuple]:
        self.asked.extend(p.id for p in prompts)
        replies: list[Reply | Failure | str | tuple] = []
        for prompt in prompts:
            found = self.labels.get(prompt.id)
            replies.append(Reply(found[1], label=found[0]) if found else Reply(UNANSWERED))
        return replies
