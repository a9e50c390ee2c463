"""Debian's Chromium, headless, for the HTML report: a screenshot and the DOM after its script ran."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipeline.render.pdf import CHROMIUM_FLAGS, PdfError
from pipeline.render.pdf import chromium as find_chromium


def chromium() -> str:
    try:
        return find_chromium()
    except PdfError:
        pytest.fail("chromium is not installed: apt-get install chromium (see the README's set-up)")


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def screenshot(url: str, png: Path, width: int = 1200, height: int = 3000) -> Path:
    _run([f"--window-size={width},{height}", f"--screenshot={png}", url], png.parent / "chromium-profile")
    assert png.stat().st_size > 0
    return png


def rendered_dom(url: str, profile: Path, wait_ms: int = 0) -> str:
    """The page's DOM once its scripts ran (``wait_ms``: and their timers and fetches, that long)."""
    budget = [f"--virtual-time-budget={wait_ms}"] if wait_ms else []
    return _run([*budget, "--dump-dom", url], profile).stdout
