"""Security: YD/T 3957 envelope, certificates, PKI, sign and verify services."""

from v2x.security.backend import BACKENDS, CryptoBackend, EcdsaP256Sha256
from v2x.security.pki import Credential, DeviceRequest, create_pki, load_credential, load_trust_anchors
from v2x.security.sign import Signer, unsecured
from v2x.security.verify import CertificateStore, Verdict, Verification, Verifier

__all__ = [
    "BACKENDS",
    "CertificateStore",
    "Credential",
    "CryptoBackend",
    "DeviceRequest",
    "EcdsaP256Sha256",
    "Signer",
    "Verdict",
    "Verification",
    "Verifier",
    "create_pki",
    "load_credential",
    "load_trust_anchors",
    "unsecured",
]
