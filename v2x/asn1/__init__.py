"""The project's ASN.1 modules and their compiled specifications.

``XiqingDayI.asn`` is the Day-I message set (T/CSAE 53 / YD/T 3709, UPER) and
``XiqingSecurity.asn`` the YD/T 3957 security types (C-OER).  asn1tools parses a module with
pyparsing, a quarter to half a second of CPU, and every process of a run (the ingest, each
simulator) needs both; so :func:`compile_module` keeps the compiled specification in asn1tools'
own disk cache (``cache_dir``, keyed by the module's text and the codec), one per asn1tools
version, under the project's cache root (:mod:`v2x.cache`: ``$XIQING_V2X_CACHE``, default
``$XDG_CACHE_HOME/xiqing-v2x`` or ``~/.cache/xiqing-v2x``; set it to an empty string to compile
every time).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import asn1tools

from v2x.cache import CACHE_ENV, cache_root

__all__ = ["ASN1_DIR", "CACHE_ENV", "cache_dir", "compile_module"]

ASN1_DIR = resources.files(__package__)


def cache_dir() -> Path | None:
    """Where compiled specifications are cached for this asn1tools version; None: not cached."""
    root = cache_root()
    return root / f"asn1tools-{asn1tools.__version__}" if root is not None else None


def compile_module(filename: str, codec: str) -> asn1tools.compiler.Specification:
    """The compiled ``filename`` of this package for ``codec``, from the cache when it holds it.
    A cache that cannot be read or written (read-only home, a damaged entry) is passed over:
    the module is then compiled from its text, which is what the cache would hold."""
    path = str(ASN1_DIR / filename)
    directory = cache_dir()
    if directory is not None:
        try:
            return asn1tools.compile_files([path], codec, cache_dir=str(directory))
        except Exception:
            pass
    return asn1tools.compile_files([path], codec)
