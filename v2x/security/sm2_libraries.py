"""Every SM2 implementation Python reaches here, behind one small interface, for measurement and cross-checks.

SM2 signatures over ``SM3(ZA || M)`` (GB/T 32918.2 6.1, 7.1) with the GB/T 35276 default
distinguishing ID.  ``benches/test_verify.py`` and ``benches/test_generate.py`` measure each of
them side by side; the fastest is the one the suite uses (:mod:`v2x.security.sm2`), the others
check it in the tests.  Keys go in as the 32-byte secret and the 65-byte uncompressed point,
signatures as (r, s) of 32 bytes each.

gmalglib is a dependency; tongsuopy (Tongsuo), gmssl-pyx and gmssl-fast (both GmSSL 3) are
test dependencies, imported when their adapter is first used.  tongsuopy and gmssl-fast take
no distinguishing ID: they use the default one, which is the only one the zone uses.
"""

from __future__ import annotations

from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from v2x.security import openssl_sm2
from v2x.security.sm2 import SM2_USER_ID, private_key_der, public_key_der


class Sm2Library(Protocol):
    """One SM2 implementation: load keys once, then sign and verify many times."""

    name: str
    takes_user_id: bool  # False: the library always uses the default ID

    def public_key(self, point: bytes, uid: bytes = SM2_USER_ID) -> Any: ...

    def verify(self, key: Any, data: bytes, r: bytes, s: bytes) -> bool: ...

    def private_key(self, secret: bytes, point: bytes, uid: bytes = SM2_USER_ID) -> Any: ...

    def sign(self, key: Any, data: bytes) -> tuple[bytes, bytes]: ...


def _rs(der: bytes) -> tuple[bytes, bytes]:
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big"), s.to_bytes(32, "big")


def _der(r: bytes, s: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))


def _split(signature: bytes) -> tuple[bytes, bytes]:
    """(r, s) of a raw 64-byte r || s signature."""
    return signature[:32], signature[32:]


def _default_id_only(uid: bytes) -> None:
    if uid != SM2_USER_ID:
        raise ValueError("this library takes only the default distinguishing ID")


class Gmalglib:
    """gmalglib (C extension): one ``SM2`` object per key."""

    name = "gmalglib"
    takes_user_id = True

    def public_key(self, point: bytes, uid: bytes = SM2_USER_ID) -> Any:
        from gmalglib.sm2 import SM2

        return SM2(pk=point, uid=uid)

    def verify(self, key: Any, data: bytes, r: bytes, s: bytes) -> bool:
        try:
            return bool(key.verify(data, r + s))
        except ValueError:
            return False

    def private_key(self, secret: bytes, point: bytes, uid: bytes = SM2_USER_ID) -> Any:
        from gmalglib.sm2 import SM2

        return SM2(sk=secret, pk=point, uid=uid)

    def sign(self, key: Any, data: bytes) -> tuple[bytes, bytes]:
        return _split(key.sign(data))


class Tongsuo:
    """tongsuopy: Tongsuo (the OpenSSL fork of the Chinese algorithms) with a pyca-style API."""

    name = "tongsuopy"
    takes_user_id = False

    def public_key(self, point: bytes, uid: bytes = SM2_USER_ID) -> Any:
        from tongsuopy.crypto.asymciphers import ec

        _default_id_only(uid)
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SM2(), point)

    def verify(self, key: Any, data: bytes, r: bytes, s: bytes) -> bool:
        from tongsuopy.crypto import hashes
        from tongsuopy.crypto.asymciphers import ec
        from tongsuopy.crypto.exceptions import InvalidSignature

        try:
            key.verify(_der(r, s), data, ec.ECDSA(hashes.SM3()))
        except (InvalidSignature, ValueError):
            return False
        return True

    def private_key(self, secret: bytes, point: bytes, uid: bytes = SM2_USER_ID) -> Any:
        from tongsuopy.crypto.asymciphers import ec

        _default_id_only(uid)
        return ec.derive_private_key(int.from_bytes(secret, "big"), ec.SM2())

    def sign(self, key: Any, data: bytes) -> tuple[bytes, bytes]:
        from tongsuopy.crypto import hashes
        from tongsuopy.crypto.asymciphers import ec

        return _rs(key.sign(data, ec.ECDSA(hashes.SM3())))


class GmsslPyx:
    """gmssl-pyx: GmSSL 3 through a C extension; keys as 64-byte x || y, signatures as DER."""

    name = "gmssl-pyx"
    takes_user_id = True

    def public_key(self, point: bytes, uid: bytes = SM2_USER_ID) -> Any:
        return point[1:], uid

    def verify(self, key: Any, data: bytes, r: bytes, s: bytes) -> bool:
        import gmssl_pyx

        xy, uid = key
        try:
            return bool(gmssl_pyx.sm2_verify(xy, data, _der(r, s), uid))
        except (gmssl_pyx.InvalidValueError, gmssl_pyx.GmsslInnerError, ValueError):
            return False

    def private_key(self, secret: bytes, point: bytes, uid: bytes = SM2_USER_ID) -> Any:
        return secret, point[1:], uid

    def sign(self, key: Any, data: bytes) -> tuple[bytes, bytes]:
        import gmssl_pyx

        secret, xy, uid = key
        return _rs(gmssl_pyx.sm2_sign(secret, xy, data, uid))


class GmsslFast:
    """gmssl-fast: GmSSL 3 statically linked (0.1.0, a young project); keys as hex."""

    name = "gmssl-fast"
    takes_user_id = False

    def public_key(self, point: bytes, uid: bytes = SM2_USER_ID) -> Any:
        import gmssl_fast

        _default_id_only(uid)
        return gmssl_fast.SM2(public_key=point.hex())

    def verify(self, key: Any, data: bytes, r: bytes, s: bytes) -> bool:
        import gmssl_fast

        try:
            return bool(key.verify(data, r + s))
        except gmssl_fast.GmsslError:
            return False

    def private_key(self, secret: bytes, point: bytes, uid: bytes = SM2_USER_ID) -> Any:
        import gmssl_fast

        _default_id_only(uid)
        return gmssl_fast.SM2(private_key=secret.hex(), public_key=point.hex())

    def sign(self, key: Any, data: bytes) -> tuple[bytes, bytes]:
        return _split(key.sign(data))


class OpenSsl:
    """The system's OpenSSL 3 libcrypto through ctypes (:mod:`v2x.security.openssl_sm2`)."""

    name = "openssl-ctypes"
    takes_user_id = True

    def public_key(self, point: bytes, uid: bytes = SM2_USER_ID) -> Any:
        return openssl_sm2.public_key(public_key_der(point)), uid

    def verify(self, key: Any, data: bytes, r: bytes, s: bytes) -> bool:
        pkey, uid = key
        return openssl_sm2.verify(pkey, uid, data, r, s)

    def private_key(self, secret: bytes, point: bytes, uid: bytes = SM2_USER_ID) -> Any:
        return openssl_sm2.private_key(private_key_der(secret, point)), uid

    def sign(self, key: Any, data: bytes) -> tuple[bytes, bytes]:
        pkey, uid = key
        return openssl_sm2.sign(pkey, uid, data)


LIBRARIES: dict[str, Sm2Library] = {lib.name: lib for lib in (Gmalglib(), Tongsuo(), GmsslPyx(), GmsslFast(), OpenSsl())}
