"""The one entry point of step 1: load a UMLS release folder or an OBO ontology into DuckDB."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from umlsgraph.errors import UmlsgraphError
from umlsgraph.load.obo import is_obo
from umlsgraph.load.obo_release import obo_to_release


def load(release: str | Path, db: str | Path, options: Any = None,
         on_step: Callable[[str], None] | None = None, sab: str | None = None) -> dict[str, Any]:
    """Load a UMLS release folder, or an OBO file via a temporary release, into `db`."""
    from umlsgraph.db import connect, release_store
    from umlsgraph.load.release import load_release

    if not is_obo(release):
        return load_release(release, db, options, on_step=on_step)
    step = on_step or (lambda _msg: None)
    with tempfile.TemporaryDirectory(prefix="umlsgraph-obo-") as tmp:
        step(f"converting {Path(release).name} to the UMLS layout")
        meta = obo_to_release(release, tmp, sab=sab)
        try:
            counts = load_release(meta, db, options, on_step=on_step)
        except UmlsgraphError as exc:  # name the ontology, not the temporary folder
            raise type(exc)(str(exc).replace(str(meta), f"{release} (as RRF)")) from None
    con = connect(db)
    try:  # record the ontology, not the temporary folder, as what was loaded
        release_store.set_value(con, "path", str(Path(release).resolve()))
    finally:
        con.close()
    counts["release"] = str(Path(release).resolve())
    return counts
