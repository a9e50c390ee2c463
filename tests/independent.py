"""Signature checks outside the project: python-ecdsa for P-256, the OpenSSL 3 CLI for SM2, over
bytes re-encoded by the YD/T 3957 reference ASN.1 modules (not our copy)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import ecdsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from v2x.security.sm2 import SM2_USER_ID, public_key_pem


def openssl_sm2_verify(public: bytes, data: bytes, r: bytes, s: bytes, tmp: Path) -> bool:
    """SM2 verify with the system OpenSSL 3 CLI (an implementation outside the project)."""
    (tmp / "pub.pem").write_bytes(public_key_pem(public))
    (tmp / "data.bin").write_bytes(data)
    (tmp / "sig.der").write_bytes(encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big")))
    result = subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            tmp / "pub.pem",
            "-rawin",
            "-digest",
            "sm3",
            "-pkeyopt",
            f"distid:{SM2_USER_ID.decode()}",
            "-in",
            tmp / "data.bin",
            "-sigfile",
            tmp / "sig.der",
        ],
        capture_output=True,
        text=True,
    )
    return result.returncode == 0 and "Verified Successfully" in result.stdout


def verify_spdu(spdu: bytes, certificate: bytes, reference_modules, tmp: Path) -> bool:
    """Verify an SPDU outside the project: bytes re-encoded by the YD/T 3957 reference modules,
    python-ecdsa for P-256, OpenSSL for SM2 (hashes from hashlib / OpenSSL's SM3)."""
    ref = reference_modules["ydt3957"]
    signed = ref.decode("V2XSecData", spdu)["content"][1]
    tbs = ref.encode("ToBeSignedData", signed["tbsData"])
    return verify_signed(tbs, signed["signature"], certificate, ref.decode("CertificateBase", certificate), tmp)


def verify_signed(tbs: bytes, signature: tuple, certificate: bytes, certificate_value: dict, tmp: Path) -> bool:
    """Verify a signature (the reference modules' Signature value) over ``tbs`` with the key of
    ``certificate`` (its encoding and its reference decode), YD/T 3957 6.3: the hash of the data
    and the hash of the signer's certificate are signed together."""
    key_kind, (point_kind, x) = certificate_value["toBeSigned"]["verifyKeyIndicator"][1]
    compressed = (b"\x02" if point_kind == "compressed-y-0" else b"\x03") + x
    sig_kind, sig = signature
    if key_kind == "ecdsaNistP256":
        vk = ecdsa.VerifyingKey.from_string(compressed, curve=ecdsa.NIST256p)
        data = hashlib.sha256(tbs).digest() + hashlib.sha256(certificate).digest()
        try:
            return vk.verify(sig["rSig"][1] + sig["sSig"], data, hashfunc=hashlib.sha256)
        except ecdsa.BadSignatureError:
            return False
    assert key_kind == "ecsigSm2" and sig_kind == "sm2Signature"
    data = hashlib.new("sm3", tbs).digest() + hashlib.new("sm3", certificate).digest()
    return openssl_sm2_verify(compressed, data, sig["rSig"], sig["sSig"], tmp)
