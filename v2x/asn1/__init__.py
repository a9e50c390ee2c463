"""The project's ASN.1 modules and their compiled specifications.

``XiqingDayI.asn`` is the Day-I message set (T/CSAE 53 / YD/T 3709, UPER), ``XiqingDayII.asn``
the Day-II messages and MAP additions it imports (T/CSAE 157-2020; :data:`MESSAGE_SET` names the
two) and ``XiqingSecurity.asn`` the YD/T 3957 security types (C-OER).  asn1tools parses a module with
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
from typing import Any

import asn1tools

from v2x.cache import CACHE_ENV, cache_root

__all__ = [
    "ASN1_DIR",
    "CACHE_ENV",
    "MESSAGE_SET",
    "TrailingOctets",
    "cache_dir",
    "compile_module",
    "decode_uper_whole",
    "decode_with_octets",
]
MESSAGE_SET = ("XiqingDayI.asn", "XiqingDayII.asn")  # the message set's modules, compiled together

ASN1_DIR = resources.files(__package__)


def cache_dir() -> Path | None:
    """Where compiled specifications are cached for this asn1tools version; None: not cached."""
    root = cache_root()
    return root / f"asn1tools-{asn1tools.__version__}" if root is not None else None


def compile_module(filenames: str | tuple[str, ...], codec: str) -> asn1tools.compiler.Specification:
    """The compiled ``filenames`` of this package (one module, or modules that import from each
    other) for ``codec``, from the cache when it holds it.
    A cache that cannot be read or written (read-only home, a damaged entry) is passed over:
    the module is then compiled from its text, which is what the cache would hold."""
    paths = [str(ASN1_DIR / name) for name in ((filenames,) if isinstance(filenames, str) else filenames)]
    directory = cache_dir()
    if directory is not None:
        try:
            return asn1tools.compile_files(paths, codec, cache_dir=str(directory))
        except Exception:
            pass
    return asn1tools.compile_files(paths, codec)


class TrailingOctets(ValueError):
    """A UPER value that decoded but ended before the last octet of its encoding."""

    def __init__(self, type_name: str, used: int, total: int):
        self.type_name, self.used, self.total = type_name, used, total
        super().__init__(
            f"{type_name} ends after {used} of {total} octets: {total - used} trailing octet{'s' * (total - used != 1)} "
            "(another edition of the message set, or another standard?)"
        )


def decode_with_octets(
    spec: asn1tools.compiler.Specification, type_name: str, data: bytes, check_constraints: bool = False
) -> tuple[Any, int]:
    """``spec.decode(type_name, data)`` of a UPER or OER specification, and how many octets of
    ``data`` the value took.  asn1tools offers ``decode_with_length`` for neither codec; this does
    what its ``decode`` does, with the same decoder, and then asks the decoder how many bits it
    read (``tests/test_strict_decoding.py`` checks the values equal ``spec.decode``'s)."""
    from asn1tools.codecs import ErrorWithLocation, oer, uper

    compiled = spec._types[type_name]  # asn1tools' compiled type (its public decode goes through it)
    decoders = {uper.CompiledType: uper.Decoder, oer.CompiledType: oer.Decoder}
    decoder_class = decoders.get(type(compiled))
    if decoder_class is None:
        raise TypeError(f"{type_name} is neither a UPER nor an OER type")
    decoder = decoder_class(bytearray(data))
    try:
        value = compiled._type.decode(decoder)
    except ErrorWithLocation as exc:
        exc.add_location(compiled._type)
        raise
    except NotImplementedError as exc:  # e.g. an extension bitmap longer than 64 bits (X.691 11.9.3.4)
        raise ValueError(f"{type_name}: the decoder cannot read this encoding ({exc})") from None
    if check_constraints:
        compiled.check_constraints(value)
    return value, (decoder.number_of_read_bits() + 7) // 8


def decode_uper_whole(
    spec: asn1tools.compiler.Specification, type_name: str, data: bytes, check_constraints: bool = False
) -> Any:
    """``spec.decode(type_name, data)`` for a UPER specification, and a :class:`TrailingOctets`
    error when the value ends before ``data`` does.

    A complete UPER encoding is padded to a whole octet (ITU-T X.691, complete encoding), so the
    value must end in the last octet: a decode that stops earlier read the bytes with the wrong
    schema (an older edition, another standard) and its fields are not to be believed."""
    value, used = decode_with_octets(spec, type_name, data)
    if used < len(data):
        raise TrailingOctets(type_name, used, len(data))
    if check_constraints:
        spec._types[type_name].check_constraints(value)  # after the length: a misread value's constraints say less
    return value
