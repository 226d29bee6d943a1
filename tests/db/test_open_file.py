"""Every command opens a store through `open_file`: a path that is no DuckDB store is one
line naming the path and what is wrong, before DuckDB reads it as something else (a .csv
was "Cannot launch in-memory database in read-only mode")."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from tests.oak.test_oak import BAD_STORE_REASON, bad_store
from umlsgraph.db import connect, require_tables
from umlsgraph.errors import StoreError


@pytest.mark.parametrize("read_only", [True, False])
@pytest.mark.parametrize("kind", sorted(BAD_STORE_REASON))
def test_unusable_store_is_a_store_error_naming_it(tmp_path: Path, kind: str,
                                                   read_only: bool) -> None:
    path = bad_store(tmp_path, kind)
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(StoreError) as raised:
        con = connect(path, read_only=read_only)
        try:
            require_tables(con, "concepts")
        finally:
            con.close()
    message = str(raised.value)
    assert path.name in message and BAD_STORE_REASON[kind] in message, message
    assert "\n" not in message
    if before is not None and kind != "foreign":
        assert path.read_bytes() == before  # nothing was changed


@pytest.mark.parametrize("kind", ["csv", "folder", "empty", "text"])
def test_info_on_unusable_store_says_what_is_wrong(tmp_path: Path, kind: str) -> None:
    path = bad_store(tmp_path, kind)
    result = CliRunner().invoke(app, ["info", "--db", str(path)])
    assert result.exit_code == 1
    assert BAD_STORE_REASON[kind] in result.output and path.name in result.output
    assert "in-memory" not in result.output and "Traceback" not in result.output
