"""The report's "Before and after the second opinion" section (issue 30).

After `annotate --reask contradictions` and `train --annotator STRONG,WEAK` (or `run
--reask-with`), two models' predictions sit in the store: the first model's, trained on the
weak annotator alone, and the retrained one's. The section counts what each selects and the
hierarchy contradictions (`umlsgraph check`) each leaves, so a reader sees what the re-asked
labels changed; with gold, the quality section scores both.
"""

from __future__ import annotations

import duckdb

from umlsgraph.errors import NotFoundError
from umlsgraph.evaluate import consistency
from umlsgraph.query import Query
from umlsgraph.report.html import Section, escape, table
from umlsgraph.selection import SelectionOptions

ROWS = (("selected", "selected"), ("labelled", "by their labels"),
        ("closure_added", "added by the closure"), ("islands", "islands"), ("holes", "holes"))


def second_opinion_section(con: duckdb.DuckDBPyConnection, query: Query, before: str,
                           after: str | None) -> Section:
    """Selection and contradiction counts of the `before` and `after` models, side by side."""
    section = Section("second_opinion", "Before and after the second opinion")
    if after is None:
        section.missing = "no predictions of the retrained model: run `umlsgraph label`"
        return section
    counts = {}
    for name, model in (("before", before), ("after", after)):
        try:
            counts[name] = consistency.find_contradictions(
                con, query, SelectionOptions(model=model), limit=0).counts
        except NotFoundError:
            counts[name] = dict.fromkeys((k for k, _ in ROWS), 0)
    section.facts = {**counts, "before_model": before, "after_model": after}
    section.body.append(
        f"<p>The first model (<code>{escape(before)}</code>) learnt from the first annotator "
        f"alone; the retrained one (<code>{escape(after)}</code>) from the second opinion over "
        "it (<code>train --annotator STRONG,WEAK</code>). Fewer islands and holes mean labels "
        "that agree better with the hierarchy.</p>")
    section.body.append(table(
        ["", "before", "after", "change"],
        [[label, f"{counts['before'][key]:,}", f"{counts['after'][key]:,}",
          f"{counts['after'][key] - counts['before'][key]:+,}"] for key, label in ROWS]))
    return section

