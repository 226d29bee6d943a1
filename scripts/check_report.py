"""Open a report in headless Chromium: screenshot it, and check that every image decoded.

    python scripts/check_report.py report/report.html [--png shot.png] [--width 1100]

Prints the screenshot path and "images decoded: N/N"; exits 1 if an image failed to decode
or Chromium is missing. The check loads a copy of the report with a tiny script appended that
writes each <img>'s natural size into the DOM, which `--dump-dom` then prints; the report
itself carries no script. The flags are the ones this machine's closed network needs.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio")
PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const out = document.createElement('div');
  out.id = 'umlsgraph-check';
  out.textContent = `images ${ok}/${imgs.length} height ${document.documentElement.scrollHeight}`;
  document.body.appendChild(out);
});
</script>"""


def find_chromium() -> str | None:
    """Debian's chromium (or Chrome) on PATH, else None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _chromium(browser: str, *args: str, timeout: int = 90) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="umlsgraph-chromium-") as profile:
        return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout, check=False)


def probe(browser: str, html: Path) -> tuple[int, int, int]:
    """(images decoded, images, page height in CSS px) as Chromium sees the page."""
    with tempfile.TemporaryDirectory(prefix="umlsgraph-probe-") as tmp:
        copy = Path(tmp) / "probe.html"
        copy.write_text(html.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                        encoding="utf-8")
        done = _chromium(browser, "--virtual-time-budget=5000", "--dump-dom", copy.as_uri())
    found = re.search(r"images (\d+)/(\d+) height (\d+)", done.stdout)
    if not found:
        raise RuntimeError(f"chromium printed no probe result (exit {done.returncode}): "
                           f"{done.stderr.strip()[-300:]}")
    ok, total, height = (int(g) for g in found.groups())
    return ok, total, height


def screenshot(browser: str, html: Path, png: Path, width: int = 1100,
               height: int | None = None) -> Path:
    """A full-page PNG of `html` (the window is as tall as the page)."""
    height = height or probe(browser, html)[2]
    png.parent.mkdir(parents=True, exist_ok=True)
    done = _chromium(browser, f"--screenshot={png.resolve()}", f"--window-size={width},{height}",
                     "--virtual-time-budget=5000", html.resolve().as_uri())
    if not png.is_file():
        raise RuntimeError(f"chromium wrote no screenshot (exit {done.returncode}): "
                           f"{done.stderr.strip()[-300:]}")
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("--png", type=Path, help="screenshot file (default: beside the HTML)")
    parser.add_argument("--width", type=int, default=1100)
    args = parser.parse_args(argv)
    browser = find_chromium()
    if browser is None:
        print("chromium is not installed: apt-get install -y chromium", file=sys.stderr)
        return 1
    ok, total, height = probe(browser, args.html)
    png = screenshot(browser, args.html, args.png or args.html.with_name("screenshot.png"),
                     args.width, height)
    print(f"screenshot: {png} ({args.width}x{height})")
    print(f"images decoded: {ok}/{total}")
    return 0 if ok == total and total else 1


if __name__ == "__main__":
    sys.exit(main())
