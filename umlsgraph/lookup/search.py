"""`umlsgraph search TEXT`: concepts whose names contain TEXT, exact > prefix > substring.

The work is one parameterised DuckDB query over the pre-lowered name index
(`umlsgraph.db.search`), built on the first search of a store (which then needs write
access once) and rebuilt when the release is reloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from umlsgraph.db import connect, require_tables
from umlsgraph.db import search as index
from umlsgraph.errors import NotFoundError

MAX_QUERY = 500


def search(db: str | Path, text: str, limit: int = 20) -> list[dict[str, Any]]:
    """The best `limit` concepts for `text` (case-insensitive); none is an error."""
    text = " ".join((text or "").split())
    if not text:
        raise NotFoundError("the search text is empty; e.g. umlsgraph search 'heart'")
    if len(text) > MAX_QUERY or limit < 1:
        raise NotFoundError(f"give a search text under {MAX_QUERY} characters and --limit ≥ 1")
    con = connect(db, read_only=True)
    try:
        require_tables(con, "names", "concepts")
        if not index.is_fresh(con):
            con.close()
            _build_index(db)
            con = connect(db, read_only=True)
        rows = index.search(con, text, limit)
    finally:
        con.close()
    if not rows:
        raise NotFoundError(f"no name contains '{text}'")
    return [{"cui": r[0], "name": r[1], "matched": r[2], "match": r[3]} for r in rows]


def _build_index(db: str | Path) -> None:
    """Build the name index (the only write a search makes: once per loaded release)."""
    con = connect(db)
    try:
        index.build(con)
    finally:
        con.close()
