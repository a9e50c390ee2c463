"""numba's compiled kernels are cached in the user's cache folder, not inside the installed
package (v2x/cache.py): a cache left in site-packages/pipeline/__pycache__ outlived a
reinstall and shadowed the editable install that replaced it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline

PROBE = """
import json, numba
import pipeline.ingest.continuity as c
c.warm_up()
print(json.dumps({"numba_cache": numba.config.CACHE_DIR}))
"""


def _probe(env: dict[str, str], numba_first: bool = False) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XIQING_V2X_CACHE")}
    code = ("import numba.core.config\n" if numba_first else "") + PROBE
    out = subprocess.run([sys.executable, "-c", code], env=clean | env, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("numba_first", [False, True], ids=["ours-first", "numba-imported-first"])
def test_kernels_are_cached_under_the_project_cache_not_in_the_package(tmp_path, numba_first):
    got = _probe({"XIQING_V2X_CACHE": str(tmp_path / "cache")}, numba_first)
    folder = tmp_path / "cache" / "numba"
    assert Path(got["numba_cache"]) == folder
    written = [p.name for p in folder.rglob("*.nbi")]
    assert any(name.startswith("continuity.") for name in written), written
    package = Path(pipeline.__file__).parent
    assert folder not in package.parents and not str(folder).startswith(str(package))


def test_a_numba_cache_dir_the_user_set_is_kept(tmp_path):
    got = _probe({"NUMBA_CACHE_DIR": str(tmp_path / "mine"), "XIQING_V2X_CACHE": str(tmp_path / "cache")})
    assert Path(got["numba_cache"]) == tmp_path / "mine"
    assert list((tmp_path / "mine").rglob("continuity.*.nbi")) and not (tmp_path / "cache" / "numba").exists()


def test_the_start_up_estimate_is_the_last_run_s_and_is_shown_against_the_seconds(tmp_path, monkeypatch):
    """A first run says it compiles (30 to 75 s); later runs count against the last start-up."""
    import io

    from rich.console import Console

    from v2x.cache import FIRST_STARTUP_S, last_startup_s, record_startup_s
    from v2x.run import RunProgress
    from v2x.run_progress import RunProgressBars

    monkeypatch.setenv("XIQING_V2X_CACHE", str(tmp_path / "cache"))
    assert last_startup_s() is None and FIRST_STARTUP_S == (30, 75)
    record_startup_s(41.26)
    assert last_startup_s() == 41.3
    (tmp_path / "cache" / "startup.json").write_text("{not json")
    assert last_startup_s() is None  # a damaged record is no estimate, not an error
    monkeypatch.setenv("XIQING_V2X_CACHE", "")
    record_startup_s(5.0)
    assert last_startup_s() is None  # caching turned off

    log = io.StringIO()
    with RunProgressBars(Console(file=log, force_terminal=False, width=120)) as bars:
        for elapsed in (0.5, 4.0, 10.5, 15.0, 21.0):
            bars.update(RunProgress("starting", elapsed, 45.0, 0, 0, 0))
    assert log.getvalue().splitlines() == ["  still starting:  10 s of about 45 s", "  still starting:  21 s of about 45 s"]
