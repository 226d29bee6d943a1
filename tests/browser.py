"""A real headless Chromium (Debian's chromium + chromium-driver) driven by selenium.

Skips with a reason where Chromium, its driver or selenium is missing, except under CI
(CI=true), where the project installs them (.ci/run) and their absence is a failure.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.missing import missing

BINARIES = ("chromium", "chromium-browser", "google-chrome")


def _missing(reason: str) -> None:
    missing(f"{reason} (.ci/run installs chromium, chromium-driver and selenium)")


@contextmanager
def chromium(download_dir: Path) -> Iterator[Any]:
    """A headless Chromium whose downloads land in `download_dir`."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed: pip install selenium")
    binary = next((shutil.which(b) for b in BINARIES if shutil.which(b)), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        _missing("headless Chromium needs `chromium` and `chromedriver` "
                 "(apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(download_dir), "download.prompt_for_download": False,
        "download.directory_upgrade": True, "safebrowsing.enabled": True})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.execute_cdp_cmd("Page.setDownloadBehavior",
                               {"behavior": "allow", "downloadPath": str(download_dir)})
        yield driver
    finally:
        driver.quit()


def wait_for_file(folder: Path, pattern: str, timeout: float = 30.0) -> Path:
    """The first finished download matching `pattern` (Chromium writes .crdownload first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in folder.glob(pattern) if not p.name.endswith(".crdownload")]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no {pattern} downloaded to {folder} within {timeout} s: "
                         f"{sorted(p.name for p in folder.iterdir())}")
