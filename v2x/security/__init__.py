"""Security: YD/T 3957 envelope, certificates, PKI, sign and verify services."""

from v2x.security.backend import BACKENDS, DEFAULT_SUITE, CryptoBackend, EcdsaP256Sha256
from v2x.security.pki import DeviceRequest, create_pki, load_credential, load_credentials, load_trust_anchors
from v2x.security.sign import Credential, Signer, unsecured
from v2x.security.sm2 import Sm2Sm3
from v2x.security.trust_store import CertificateStore
from v2x.security.verdicts import Verdict, Verification
from v2x.security.verifier import Verifier

__all__ = [
    "BACKENDS",
    "DEFAULT_SUITE",
    "CertificateStore",
    "Credential",
    "CryptoBackend",
    "DeviceRequest",
    "EcdsaP256Sha256",
    "Signer",
    "Sm2Sm3",
    "Verdict",
    "Verification",
    "Verifier",
    "create_pki",
    "load_credential",
    "load_credentials",
    "load_trust_anchors",
    "unsecured",
]
