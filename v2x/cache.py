"""Where the project keeps what it compiles once per machine: the compiled ASN.1 modules
(:mod:`v2x.asn1`) and numba's compiled kernels.

The root is ``$XIQING_V2X_CACHE``, by default ``$XDG_CACHE_HOME/xiqing-v2x`` or
``~/.cache/xiqing-v2x``; an empty ``XIQING_V2X_CACHE`` turns the ASN.1 cache off and leaves
numba's cache where numba puts it by default.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

CACHE_ENV = "XIQING_V2X_CACHE"
NUMBA_CACHE_ENV = "NUMBA_CACHE_DIR"


def cache_root() -> Path | None:
    """The cache folder of this machine and user; None when ``XIQING_V2X_CACHE`` is empty."""
    configured = os.environ.get(CACHE_ENV)
    if configured == "":
        return None
    return Path(configured) if configured else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "xiqing-v2x"


def place_kernel_cache() -> Path | None:
    """Keep numba's compiled kernels in ``<cache root>/numba`` rather than beside the modules.

    A process-wide setting (``NUMBA_CACHE_DIR``), made on purpose by the packages that hold
    kernels (``pipeline.decode``, ``pipeline.ingest``, ``vehicles``) as they are imported.  By
    default numba writes its cache into the ``__pycache__`` folders of an installed package; pip
    does not remove those files when it replaces the install, and the ``site-packages/pipeline/``
    folder they keep alive then shadows a later editable install.  A ``NUMBA_CACHE_DIR`` the user
    set is kept.  Returns the folder in use (None: numba's default)."""
    if os.environ.get(NUMBA_CACHE_ENV):
        return Path(os.environ[NUMBA_CACHE_ENV])
    root = cache_root()
    if root is None:
        return None
    folder = root / "numba"
    os.environ[NUMBA_CACHE_ENV] = str(folder)
    if "numba" in sys.modules:  # numba read its configuration when it was imported: read it again
        from numba.core import config

        config.reload_config()
    return folder


STARTUP_FILE = "startup.json"
FIRST_STARTUP_S = (30, 75)  # measured: a first run compiling every kernel on 2 vCPUs, idle to loaded (README)


def last_startup_s() -> float | None:
    """How long the last run's stages took to start on this machine (s), or None before the
    first run, which compiles every numba kernel (:data:`FIRST_STARTUP_S`)."""
    root = cache_root()
    try:
        seconds = json.loads((root / STARTUP_FILE).read_text(encoding="utf-8"))["seconds"] if root else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return float(seconds) if isinstance(seconds, (int, float)) and 0 < seconds < 3600 else None


def record_startup_s(seconds: float) -> None:
    """Keep how long the stages took to start, for the next run's estimate (best effort)."""
    root = cache_root()
    if root is None:
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
        (root / STARTUP_FILE).write_text(json.dumps({"seconds": round(seconds, 1)}), encoding="utf-8")
    except OSError:
        pass  # a read-only home: the estimate is a convenience
