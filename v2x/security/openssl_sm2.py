"""SM2 with SM3 through the system's OpenSSL 3 libcrypto, by ctypes (the SM2(7) recipe of OpenSSL 3).

One of the SM2 implementations measured side by side (:mod:`v2x.security.sm2_libraries`) and a
cross-check of the others: OpenSSL is the reference the zone's devices are most often built on.
Keys go in as DER (SubjectPublicKeyInfo, PKCS#8), signatures as DER ``SEQUENCE { r, s }``.  The
distinguishing ID is set on every context (GB/T 35276 default ``1234567812345678``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature


class OpenSslUnavailable(RuntimeError):
    """No OpenSSL 3 libcrypto with SM2 on this machine."""


@cache
def libcrypto() -> Any:
    """The system's libcrypto, version 3 or later (``OpenSslUnavailable`` otherwise)."""
    name = ctypes.util.find_library("crypto")
    if name is None:
        raise OpenSslUnavailable("libcrypto not found")
    lib = ctypes.CDLL(name)
    lib.OpenSSL_version_num.restype = ctypes.c_ulong
    if lib.OpenSSL_version_num() < 0x30000000:
        raise OpenSslUnavailable(f"{name} is older than OpenSSL 3")
    p, i, sz = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
    signatures: dict[str, tuple[Any, list[Any]]] = {
        "d2i_PUBKEY": (p, [p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]),
        "d2i_AutoPrivateKey": (p, [p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]),
        "EVP_PKEY_free": (None, [p]),
        "EVP_sm3": (p, []),
        "EVP_MD_CTX_new": (p, []),
        "EVP_MD_CTX_free": (None, [p]),
        "EVP_MD_CTX_set_pkey_ctx": (None, [p, p]),
        "EVP_PKEY_CTX_new": (p, [p, p]),
        "EVP_PKEY_CTX_free": (None, [p]),
        "EVP_PKEY_CTX_set1_id": (i, [p, ctypes.c_char_p, sz]),
        "EVP_DigestVerifyInit": (i, [p, p, p, p, p]),
        "EVP_DigestVerify": (i, [p, ctypes.c_char_p, sz, ctypes.c_char_p, sz]),
        "EVP_DigestSignInit": (i, [p, p, p, p, p]),
        "EVP_DigestSign": (i, [p, ctypes.c_char_p, ctypes.POINTER(sz), ctypes.c_char_p, sz]),
        "ERR_clear_error": (None, []),
    }
    for fn, (restype, argtypes) in signatures.items():
        getattr(lib, fn).restype = restype
        getattr(lib, fn).argtypes = argtypes
    return lib


class _Pkey:
    """An EVP_PKEY, freed with the object."""

    def __init__(self, handle: int):
        self.handle = handle

    def __del__(self) -> None:
        if self.handle:
            libcrypto().EVP_PKEY_free(self.handle)
            self.handle = 0


def _load(fn: str, der: bytes) -> _Pkey:
    buf = ctypes.c_char_p(der)
    handle = getattr(libcrypto(), fn)(None, ctypes.byref(buf), len(der))
    if not handle:
        libcrypto().ERR_clear_error()
        raise ValueError("OpenSSL refused the key")
    return _Pkey(handle)


def public_key(spki_der: bytes) -> _Pkey:
    """An SM2 public key from its SubjectPublicKeyInfo DER."""
    return _load("d2i_PUBKEY", spki_der)


def private_key(pkcs8_der: bytes) -> _Pkey:
    """An SM2 private key from its PKCS#8 DER."""
    return _load("d2i_AutoPrivateKey", pkcs8_der)


def _digest_context(key: _Pkey, uid: bytes, sign: bool) -> tuple[int, int]:
    lib = libcrypto()
    mctx = lib.EVP_MD_CTX_new()
    pctx = lib.EVP_PKEY_CTX_new(key.handle, None)
    ok = bool(mctx and pctx) and lib.EVP_PKEY_CTX_set1_id(pctx, uid, len(uid)) == 1
    if ok:
        lib.EVP_MD_CTX_set_pkey_ctx(mctx, pctx)
        init = lib.EVP_DigestSignInit if sign else lib.EVP_DigestVerifyInit
        ok = init(mctx, None, lib.EVP_sm3(), None, key.handle) == 1
    if not ok:
        _free(mctx, pctx)
        lib.ERR_clear_error()
        raise ValueError("OpenSSL could not set up an SM2 context")
    return mctx, pctx


def _free(mctx: int, pctx: int) -> None:
    lib = libcrypto()
    if mctx:
        lib.EVP_MD_CTX_free(mctx)
    if pctx:
        lib.EVP_PKEY_CTX_free(pctx)


def verify(key: _Pkey, uid: bytes, data: bytes, r: bytes, s: bytes) -> bool:
    """Whether (r, s) is an SM2 signature of ``data`` by ``key`` with distinguishing ID ``uid``."""
    der = encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))
    mctx, pctx = _digest_context(key, uid, sign=False)
    try:
        result = libcrypto().EVP_DigestVerify(mctx, der, len(der), data, len(data))
    finally:
        _free(mctx, pctx)
    if result != 1:
        libcrypto().ERR_clear_error()
    return bool(result == 1)


def sign(key: _Pkey, uid: bytes, data: bytes) -> tuple[bytes, bytes]:
    """An SM2 signature (r, s) of ``data``, 32 bytes each."""
    mctx, pctx = _digest_context(key, uid, sign=True)
    try:
        out = ctypes.create_string_buffer(80)
        size = ctypes.c_size_t(len(out))
        if libcrypto().EVP_DigestSign(mctx, out, ctypes.byref(size), data, len(data)) != 1:
            libcrypto().ERR_clear_error()
            raise ValueError("OpenSSL could not sign")
    finally:
        _free(mctx, pctx)
    r, s = decode_dss_signature(out.raw[: size.value])
    return r.to_bytes(32, "big"), s.to_bytes(32, "big")
