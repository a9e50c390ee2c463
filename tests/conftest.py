"""Shared fixtures: reference ASN.1 modules, a PKI, a real Mosquitto broker on loopback."""

from __future__ import annotations

import glob
import os
import time
from pathlib import Path

import asn1tools
import pytest

from v2x.broker import find_mosquitto, start_broker
from v2x.security import DeviceRequest, create_pki

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ["pytester"]  # tests/test_pytest_plugin.py runs test files of its own


def reference_dir() -> Path:
    """../shared/reference/asn1 beside the checkout (override with V2X_REFERENCE_ASN1)."""
    return Path(os.environ.get("V2X_REFERENCE_ASN1", REPO.parent / "shared" / "reference" / "asn1"))


@pytest.fixture(scope="session")
def reference_modules() -> dict[str, asn1tools.compiler.Specification]:
    """Independent reference copies of the standard modules, compiled with asn1tools."""
    ref = reference_dir()
    if not ref.is_dir():
        pytest.fail(f"reference ASN.1 modules not found at {ref}; set V2X_REFERENCE_ASN1")
    sec = ref / "ydt3957-lte-v2x-security_v2x-asn1-bridge"
    return {
        "ydt3709": asn1tools.compile_files([str(ref / "ydt3709-2020_single-module" / "V2X-2020.asn")], "uper"),
        "csae53_vss": asn1tools.compile_files(sorted(glob.glob(str(ref / "csae53-2020-dayI+csae157-2020-dayII_vss" / "*.asn"))), "uper"),
        "ydt3957": asn1tools.compile_files(
            [str(sec / "SecurityBaseDataTypes.asn"), str(sec / "SecurityDataTypes.asn")], "oer", encoding="latin-1"
        ),
    }


SUITES = ("sm2-sm3", "ecdsa-p256-sha256")


@pytest.fixture(scope="session", params=SUITES)
def pki(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PKI (root, ECA, PCA, ACA) with a vehicle OBU-1 (two pseudonyms) and an RSU-1, once per suite."""
    d = tmp_path_factory.mktemp(f"pki-{request.param}")
    create_pki(
        d,
        [DeviceRequest("OBU-1", [111, 112], kind="vehicle", pseudonyms=2), DeviceRequest("RSU-1", [3618, 3619, 3620, 3623], kind="rsu")],
        suite=request.param,
        valid_from_unix_s=time.time(),
    )
    return d


@pytest.fixture
def mosquitto(tmp_path: Path):
    """A Mosquitto process on a free loopback port, stopped after the test."""
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed: apt-get install mosquitto (see README)")
    broker = start_broker(tmp_path / "broker", kind="mosquitto")
    yield broker
    broker.stop()
