"""What a query selects, defined once, below the pipeline's steps.

`select(con, query, options)` builds the selection (the rule, then the closure) and returns a
`Selection`: its summary, the SQL of its selected ids and scores, its islands and root
(`selection.root`), and `explain(id)`, why one concept is or is not selected. Every command
that shows a selection (export, check, eval, review, concept, report, run, the demo) reads it
here, so each shows the same concepts and the same count.
"""

from typing import TYPE_CHECKING, Any

from umlsgraph.selection.closure import CLOSURES, DEFAULT_CLOSURE, resolve
from umlsgraph.selection.options import SOURCES, SelectionOptions

if TYPE_CHECKING:
    from umlsgraph.selection.selection import Selection, select


def __getattr__(name: str) -> Any:
    """`Selection` and `select` load DuckDB: imported when first used, so the CLI's start-up
    (which reads the option names above) stays light."""
    if name in ("Selection", "select"):
        from umlsgraph.selection import selection

        return getattr(selection, name)
    raise AttributeError(name)

__all__ = ["CLOSURES", "DEFAULT_CLOSURE", "SOURCES", "Selection", "SelectionOptions",
           "resolve", "select"]
