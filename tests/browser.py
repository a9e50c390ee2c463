"""Debian's Chromium, headless, for the HTML report: a screenshot and the DOM after its script ran."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

# No background networking, sync or component updates: the machine has no outside network.
FLAGS = (
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


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: apt-get install chromium (see README)")
    return found


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def screenshot(url: str, png: Path, width: int = 1200, height: int = 3000) -> Path:
    _run([f"--window-size={width},{height}", f"--screenshot={png}", url], png.parent / "chromium-profile")
    assert png.stat().st_size > 0
    return png


def rendered_dom(url: str, profile: Path) -> str:
    """The page's DOM once its scripts ran."""
    return _run(["--dump-dom", url], profile).stdout
