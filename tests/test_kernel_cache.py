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
