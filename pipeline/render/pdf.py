"""The HTML report printed to PDF by headless Chromium (its print stylesheet: the sign-off
page first, every check in the full list)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

# No background networking, sync or component updates: the page is self-contained and a test
# machine may have no outside network.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 120  # policy: a report page prints in a few seconds


class PdfError(Exception):
    """No Chromium, or it did not print the page."""


def chromium() -> str:
    """The Chromium to print with: ``$V2X_CHROMIUM``, else the first of :data:`NAMES` on PATH."""
    chosen = os.environ.get("V2X_CHROMIUM")
    found = shutil.which(chosen) if chosen else next((p for p in map(shutil.which, NAMES) if p), None)
    if found is None:
        raise PdfError(f"a PDF needs Chromium: apt-get install chromium, or V2X_CHROMIUM=PATH ({chosen or 'none on PATH'})")
    return found


def html_to_pdf(html: str, pdf: Path) -> Path:
    """Print the page ``html`` to ``pdf`` (A4, no browser header or footer); raises PdfError."""
    with tempfile.TemporaryDirectory(prefix="v2x-pdf-") as scratch:
        page = Path(scratch) / "report.html"
        page.write_text(html, encoding="utf-8")
        target = Path(pdf).resolve()
        part = target.with_name(target.name + ".part")
        args = [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={Path(scratch) / 'profile'}",
            "--no-pdf-header-footer",
            "--virtual-time-budget=5000",  # the page's scripts run before it prints
            f"--print-to-pdf={part}",
            page.as_uri(),
        ]
        try:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise PdfError(f"Chromium did not print the report within {TIMEOUT_S} s") from None
        if proc.returncode != 0 or not part.exists() or not part.read_bytes().startswith(b"%PDF-"):
            part.unlink(missing_ok=True)
            raise PdfError(f"Chromium did not print the report (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
        part.replace(target)
    return target
