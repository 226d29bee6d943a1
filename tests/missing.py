"""The one rule for a test whose component is absent: skip with a reason locally, fail in CI.

Under ``CI=true`` every component the project ships or installs (the FalkorDB Bolt server, the
model and data packages, Chromium, matplotlib) must be there, so its absence is a failure
rather than a green run that tested nothing.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True when the CI environment variable says so (GitHub Actions, GitLab, .ci/run)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing(reason: str) -> NoReturn:
    """Skip the test (locally) or fail it (under CI=true) because a component is absent."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)
