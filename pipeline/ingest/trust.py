"""The verifier the ingest checks signatures with: trusted roots, CA certificates and a CRL, from
files or a PKI folder."""

from __future__ import annotations

from pathlib import Path

from v2x.security import CertificateStore, Verifier


def verifier_from_files(trust: list[Path], cas: list[Path] = (), crl: Path | None = None) -> Verifier | None:  # type: ignore[assignment]
    """A verifier trusting the root certificates ``trust``, holding the CA certificates ``cas``
    and applying the signed CRL ``crl``; None without trust anchors."""
    if not trust:
        return None
    store = CertificateStore([p.read_bytes() for p in trust], [p.read_bytes() for p in cas])
    if crl is not None:
        store.load_crl(crl.read_bytes())
    return Verifier(store)


def verifier_from_pki(pki: Path) -> Verifier:
    """The verifier of a PKI directory (root, its CAs, its CRL if one was written); ValueError
    when the directory holds no PKI (a verification silently turned off would pass forgeries)."""
    if not (pki / "root-ca.oer").is_file():
        raise ValueError(f"{pki} holds no PKI (no root-ca.oer); give a directory made by v2x pki init or v2x run")
    crl = pki / "crl.oer"
    return verifier_from_files([pki / "root-ca.oer"], sorted((pki / "ca").glob("*.oer")), crl if crl.exists() else None)  # type: ignore[return-value]
