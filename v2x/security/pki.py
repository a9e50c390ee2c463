"""A PKI directory in the YD/T 3957 shape: root CA, enrolment, pseudonym and application CAs.

Layout (certificates are COER explicit certificates, keys PKCS#8 PEM written 0600)::

    pki/pki.json                       suite, creation time, CRL serial
    pki/root-ca.oer  root-ca.key.pem   self-signed root (the trust anchor)
    pki/ca/eca.*  pca.*  aca.*         enrolment CA, pseudonym CA (vehicles), application CA (RSUs)
    pki/devices/<id>/enrolment.*       enrolment certificate (ECA): the device's long-term identity
    pki/devices/<id>/pseudonym-<k>.*   vehicles: pseudonym certificates (PCA), AIDs 111/112
    pki/devices/<id>/application.*     RSUs: application certificate (ACA), AIDs 3618..3623
    pki/revoked.json                   what ``revoke`` recorded; ``pki/crl.oer`` the signed CRL

YD/T 3957 5.2: the ECA issues enrolment certificates, the PCA pseudonym certificates to vehicles,
the ACA application (identification) certificates to RSUs; every CA chains to the root.  A CA
may only grant the AIDs in its certIssuePermissions, which the verifier checks.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from v2x import clock
from v2x.messages import DAY_II_RSU_AIDS, DAY_II_VEHICLE_AIDS, EMERGENCY_VEHICLE_AIDS, RSU_AIDS, VEHICLE_AIDS, VRU_AIDS
from v2x.security.backend import BACKENDS, DEFAULT_SUITE, CryptoBackend
from v2x.security.certificates import hashed_id8, hashed_id10, issue_certificate, parse_certificate, security_types
from v2x.security.sign import Credential, sign_data

ROOT_NAME = "root-ca"
CA_NAMES = {"eca": "xiqing-eca", "pca": "xiqing-pca", "aca": "xiqing-aca"}
# What each CA may grant: pseudonyms (PCA) any BSM AID and the Day-II AIDs of vehicles and
# personal devices; the ACA the RSUs' AIDs (Day-I and Day-II) and the emergency vehicles' (they
# sign with an identification certificate); the ECA enrols, granting no AID.
CA_ISSUES = {
    "pca": VEHICLE_AIDS + EMERGENCY_VEHICLE_AIDS + DAY_II_VEHICLE_AIDS + VRU_AIDS,
    "aca": RSU_AIDS + DAY_II_RSU_AIDS + EMERGENCY_VEHICLE_AIDS,
    "eca": None,
}
CRL_AID = 3628  # YD/T 3957: CRL
CRL_SERIES = 1
CRL_VALIDITY_S = 7 * 24 * 3600  # nextCrl: a week (compliance profile: CRL age policy 7 d)
ROOT_VALIDITY_HOURS = 24 * 365
CA_VALIDITY_HOURS = 24 * 180
DeviceKind = Literal["vehicle", "rsu", "emergency_vehicle"]


DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # no path separators, no "..": a device's folder stays inside the PKI


@dataclass(frozen=True)
class DeviceRequest:
    """A device to certify: its id, what it is, and the AIDs its signing certificates grant.
    A vehicle signs with pseudonym certificates (PCA); an RSU with an application certificate
    and an emergency vehicle with an identification certificate, both from the ACA (YD/T 3957)."""

    device_id: str
    app_aids: list[int]
    kind: DeviceKind = "vehicle"
    pseudonyms: int = 1  # vehicles: how many pseudonym certificates (GB/T 45315 7.4.5)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _write_identity(directory: Path, stem: str, certificate: bytes, key_pem: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{stem}.oer").write_bytes(certificate)
    _write_private(directory / f"{stem}.key.pem", key_pem)


def suite_of(directory: Path) -> CryptoBackend:
    """The algorithm suite of the PKI at ``directory``."""
    meta = directory / "pki.json"
    if not meta.exists():
        raise FileNotFoundError(f"{directory} is not a PKI directory (no pki.json); create one with `v2x pki init`")
    return BACKENDS[json.loads(meta.read_text())["suite"]]


def _load_key(directory: Path, stem: str, backend: CryptoBackend) -> Any:
    return backend.load_private_key_pem((directory / f"{stem}.key.pem").read_bytes())


def init_pki(directory: Path, *, suite: str = DEFAULT_SUITE, valid_from_unix_s: float | None = None) -> None:
    """Create the root CA and the enrolment, pseudonym and application CAs under ``directory``."""
    if (directory / "pki.json").exists():
        raise FileExistsError(f"{directory} already holds a PKI")
    backend = BACKENDS[suite]
    start = time.time() if valid_from_unix_s is None else valid_from_unix_s
    directory.mkdir(parents=True, exist_ok=True)
    root_key = backend.generate_private_key()
    root = issue_certificate(
        backend,
        subject_key=root_key,
        issuer_key=root_key,
        issuer_certificate=None,
        name="xiqing-root-ca",
        valid_from_unix_s=start - 3600,
        validity_hours=ROOT_VALIDITY_HOURS,
        is_ca=True,
    )
    _write_identity(directory, ROOT_NAME, root, backend.private_key_pem(root_key))
    for stem, name in CA_NAMES.items():
        key = backend.generate_private_key()
        aids = CA_ISSUES[stem]
        cert = issue_certificate(
            backend,
            subject_key=key,
            issuer_key=root_key,
            issuer_certificate=root,
            name=name,
            valid_from_unix_s=start - 3600,
            validity_hours=CA_VALIDITY_HOURS,
            is_ca=True,
            issue_aids=list(aids) if aids else None,
        )
        _write_identity(directory / "ca", stem, cert, backend.private_key_pem(key))
    meta = {"suite": suite, "created_at": start, "crl_serial": 0}
    (directory / "pki.json").write_text(json.dumps(meta, indent=2) + "\n")


def issue(
    directory: Path, request: DeviceRequest, *, valid_from_unix_s: float | None = None, validity_hours: int = 168
) -> list[Credential]:
    """Issue a device's enrolment certificate and its signing certificates: pseudonyms for a
    vehicle, one application certificate for an RSU.  Returns the signing credentials."""
    if not DEVICE_ID.fullmatch(request.device_id):
        raise ValueError(f"device id {request.device_id!r}: 1 to 64 characters of A-Z a-z 0-9 _ - (it names a folder of the PKI)")
    backend = suite_of(directory)
    start = (time.time() if valid_from_unix_s is None else valid_from_unix_s) - 60
    device_dir = directory / "devices" / request.device_id
    signing = {
        "vehicle": [("pca", f"pseudonym-{k}") for k in range(request.pseudonyms)],
        "rsu": [("aca", "application")],
        "emergency_vehicle": [("aca", "identification")],
    }[request.kind]
    for ca, stem in [("eca", "enrolment"), *signing]:
        ca_cert = (directory / "ca" / f"{ca}.oer").read_bytes()
        key = backend.generate_private_key()
        cert = issue_certificate(
            backend,
            subject_key=key,
            issuer_key=_load_key(directory / "ca", ca, backend),
            issuer_certificate=ca_cert,
            name=None,
            valid_from_unix_s=start,
            validity_hours=validity_hours,
            app_aids=None if ca == "eca" else request.app_aids,
        )
        _write_identity(device_dir, stem, cert, backend.private_key_pem(key))
    return load_credentials(directory, request.device_id)


def create_pki(
    directory: Path,
    devices: list[DeviceRequest],
    *,
    suite: str = DEFAULT_SUITE,
    valid_from_unix_s: float,
    validity_hours: int = 168,
) -> None:
    """A new PKI with certificates for ``devices`` (what a scenario run uses)."""
    init_pki(directory, suite=suite, valid_from_unix_s=valid_from_unix_s)
    for device in devices:
        issue(directory, device, valid_from_unix_s=valid_from_unix_s, validity_hours=validity_hours)


def load_credentials(directory: Path, device_id: str) -> list[Credential]:
    """The signing credentials of ``device_id``: its pseudonyms in order, or its application certificate."""
    backend = suite_of(directory)
    device_dir = directory / "devices" / device_id
    stems = sorted(
        (p.name[: -len(".oer")] for p in device_dir.glob("*.oer") if p.name != "enrolment.oer"), key=lambda s: (len(s), s)
    )
    if not stems:
        raise FileNotFoundError(f"no certificates for {device_id} in {directory}")
    out = []
    for stem in stems:
        cert = (device_dir / f"{stem}.oer").read_bytes()
        out.append(Credential(device_id, cert, hashed_id8(backend, cert), _load_key(device_dir, stem, backend), backend, stem))
    return out


def load_credential(directory: Path, device_id: str) -> Credential:
    """The first signing credential of ``device_id``."""
    return load_credentials(directory, device_id)[0]


def load_trust_anchors(directory: Path) -> list[bytes]:
    """The root certificates a verifier trusts."""
    return [(directory / f"{ROOT_NAME}.oer").read_bytes()]


def load_ca_certificates(directory: Path) -> list[bytes]:
    """The subordinate CA certificates (a receiver holds them to resolve a device's issuer)."""
    return [(directory / "ca" / f"{stem}.oer").read_bytes() for stem in CA_NAMES]


# --- revocation ----------------------------------------------------------------------------


def revoke(directory: Path, target: str, *, reason: str = "unspecified") -> list[str]:
    """Record the revocation of a device (all its certificates) or one certificate given by its
    hex HashedId8; returns the HashedId8s revoked.  ``write_crl`` publishes them."""
    backend = suite_of(directory)
    device_dir = directory / "devices" / target
    if device_dir.is_dir():
        certs = [p.read_bytes() for p in sorted(device_dir.glob("*.oer"))]
    else:
        certs = [
            p.read_bytes()
            for p in (directory / "devices").glob("*/*.oer")
            if hashed_id8(backend, p.read_bytes()).hex() == target.lower()
        ]
        if not certs:
            raise KeyError(f"{target} is neither a device of this PKI nor the HashedId8 of one of its certificates")
    path = directory / "revoked.json"
    entries = json.loads(path.read_text()) if path.exists() else []
    known = {e["hashed_id8"] for e in entries}
    revoked = []
    for cert in certs:
        info = parse_certificate(cert)
        hid = info.hashed_id8.hex()
        revoked.append(hid)
        if hid not in known:
            entries.append(
                {
                    "hashed_id8": hid,
                    "hashed_id10": hashed_id10(backend, cert).hex(),
                    "expiry_unix_s": info.valid_until_us / 1e6,
                    "reason": reason,
                    "revoked_at": time.time(),
                }
            )
    path.write_text(json.dumps(entries, indent=2) + "\n")
    return revoked


def write_crl(directory: Path, *, now_unix_s: float | None = None) -> Path:
    """Sign a full hash-based CRL of everything revoked (YD/T 3957, AID 3628) with the root CA
    and write it to ``pki/crl.oer``."""
    backend = suite_of(directory)
    now = time.time() if now_unix_s is None else now_unix_s
    meta = json.loads((directory / "pki.json").read_text())
    meta["crl_serial"] += 1
    path = directory / "revoked.json"
    entries = json.loads(path.read_text()) if path.exists() else []
    root = (directory / f"{ROOT_NAME}.oer").read_bytes()
    contents = {
        "version": 1,
        "crlSeries": CRL_SERIES,
        "crlCraca": hashed_id8(backend, root),
        "issueDate": clock.time32_from_unix_s(now),
        "nextCrl": clock.time32_from_unix_s(now + CRL_VALIDITY_S),
        "priorityInfo": {},
        "typeSpecific": (
            "fullHashCrl",
            {
                "crlSerial": meta["crl_serial"],
                "entries": [
                    {"id": bytes.fromhex(e["hashed_id10"]), "expiry": clock.time32_from_unix_s(e["expiry_unix_s"])}
                    for e in entries
                ],
            },
        ),
    }
    root_credential = Credential(
        ROOT_NAME, root, hashed_id8(backend, root), _load_key(directory, ROOT_NAME, backend), backend, ROOT_NAME
    )
    crl = sign_data(
        root_credential, security_types().encode("CrlContents", contents), CRL_AID, clock.time64_from_unix_us(int(now * 1e6))
    )
    out = directory / "crl.oer"
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(crl)
    tmp.replace(out)
    (directory / "pki.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out


def _iso(unix_us: int) -> str:
    return datetime.fromtimestamp(unix_us / 1e6, UTC).isoformat(timespec="seconds")


def describe(directory: Path) -> dict[str, Any]:
    """What ``v2x pki show`` prints: the suite, every certificate with its issuer, validity and
    AIDs, and the revocations."""
    backend = suite_of(directory)
    rows = []
    for path in [
        directory / f"{ROOT_NAME}.oer",
        *sorted((directory / "ca").glob("*.oer")),
        *sorted((directory / "devices").glob("*/*.oer")),
    ]:
        info = parse_certificate(path.read_bytes())
        rows.append(
            {
                "file": str(path.relative_to(directory)),
                "hashed_id8": info.hashed_id8.hex(),
                "issuer": info.issuer,
                "name": info.name,
                "valid_from": _iso(info.valid_from_us),
                "valid_until": _iso(info.valid_until_us),
                "app_aids": sorted(info.app_aids),
                "ca": info.is_ca,
                "issue_aids": "all" if info.is_ca and info.issue_aids is None else sorted(info.issue_aids or []),
            }
        )
    revoked_path = directory / "revoked.json"
    return {
        "suite": backend.name,
        "certificates": rows,
        "revoked": json.loads(revoked_path.read_text()) if revoked_path.exists() else [],
        "crl": (directory / "crl.oer").exists(),
    }
