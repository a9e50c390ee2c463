"""A PKI directory: a root CA and the device certificates it issued.

Layout (certificates are COER, keys PKCS#8 PEM written 0600)::

    pki/root-ca.oer   pki/root-ca.key.pem
    pki/devices/<device_id>.oer   pki/devices/<device_id>.key.pem

Issue 2 keeps the hierarchy to root -> device; YD/T 3957's enrolment, pseudonym and application
CAs slot in between without changing this interface.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from v2x.security.backend import BACKENDS, CryptoBackend
from v2x.security.certificates import hashed_id8, issue_certificate

ROOT_NAME = "root-ca"


@dataclass(frozen=True)
class DeviceRequest:
    """What a device is allowed to sign: its id and the AIDs put into appPermissions."""

    device_id: str
    app_aids: list[int]


@dataclass(frozen=True)
class Credential:
    """A signing identity: COER certificate, its HashedId8 and the private key."""

    device_id: str
    certificate: bytes
    hashed_id8: bytes
    private_key: Any
    backend: CryptoBackend


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def create_pki(
    directory: Path,
    devices: list[DeviceRequest],
    *,
    backend: CryptoBackend = BACKENDS["ecdsa-p256-sha256"],
    valid_from_unix_s: float,
    validity_hours: int = 168,
) -> None:
    """Create a root CA and one certificate per device under ``directory``."""
    (directory / "devices").mkdir(parents=True, exist_ok=True)
    root_key = backend.generate_private_key()
    root = issue_certificate(
        backend,
        subject_key=root_key,
        issuer_key=root_key,
        issuer_certificate=None,
        name="xiqing-root-ca",
        valid_from_unix_s=valid_from_unix_s - 3600,
        validity_hours=24 * 365,
        is_ca=True,
    )
    (directory / f"{ROOT_NAME}.oer").write_bytes(root)
    _write_private(directory / f"{ROOT_NAME}.key.pem", backend.private_key_pem(root_key))
    for device in devices:
        key = backend.generate_private_key()
        cert = issue_certificate(
            backend,
            subject_key=key,
            issuer_key=root_key,
            issuer_certificate=root,
            name=None,
            valid_from_unix_s=valid_from_unix_s - 60,
            validity_hours=validity_hours,
            app_aids=device.app_aids,
        )
        (directory / "devices" / f"{device.device_id}.oer").write_bytes(cert)
        _write_private(directory / "devices" / f"{device.device_id}.key.pem", backend.private_key_pem(key))


def load_credential(
    directory: Path, device_id: str, backend: CryptoBackend = BACKENDS["ecdsa-p256-sha256"]
) -> Credential:
    """Load the certificate and private key of ``device_id``."""
    cert = (directory / "devices" / f"{device_id}.oer").read_bytes()
    key = backend.load_private_key_pem((directory / "devices" / f"{device_id}.key.pem").read_bytes())
    return Credential(device_id, cert, hashed_id8(backend, cert), key, backend)


def load_trust_anchors(directory: Path) -> list[bytes]:
    """The root certificates a verifier trusts."""
    return [(directory / f"{ROOT_NAME}.oer").read_bytes()]
