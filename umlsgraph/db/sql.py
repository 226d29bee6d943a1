"""The one quoting rule, for the few places DuckDB cannot take a `?` parameter.

User values go to DuckDB as parameters (``con.execute(sql, [value])``). Where the engine
cannot bind one — a COPY target path, a ``read_csv`` file name inside a view, an identifier,
a column list — the value is quoted here and nowhere else, so one tested function decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def literal(value: str | Path | int | float | None) -> str:
    """A SQL string (or number/NULL) literal: single quotes doubled, NUL refused."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if "\x00" in text:
        raise ValueError("a SQL literal cannot hold a NUL character")
    return "'" + text.replace("'", "''") + "'"


def identifier(name: str) -> str:
    """A quoted SQL identifier (table or column name): double quotes doubled."""
    if "\x00" in name:
        raise ValueError("a SQL identifier cannot hold a NUL character")
    return '"' + name.replace('"', '""') + '"'


def in_list(values: Iterable[str]) -> str:
    """The inside of ``IN (...)`` for a fixed list of strings."""
    return ", ".join(literal(v) for v in values)


#: How UMLS writes `|` inside an RRF field (MRCONSO.STR, MRDEF.DEF, …).
RRF_BAR = "&#x7C;"


def unbar(expression: str) -> str:
    """SQL of `expression` (a column) with UMLS's `&#x7C;` read back as `|`: every place that
    shows or exports a stored string calls this, so the rule is written once."""
    return f"replace({expression}, {literal(RRF_BAR)}, '|')"
