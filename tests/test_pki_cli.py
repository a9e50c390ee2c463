"""`v2x pki init|issue|revoke|crl|show`: the CLI over v2x.security.pki, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from v2x.cli import main
from v2x.security import Signer, Verdict, Verifier, load_credentials
from v2x.security.pki import load_ca_certificates, load_trust_anchors
from v2x.security.trust_store import CertificateStore

from pipeline.decode.reference import decode_frame

from tests.test_security import FRAME, now64


@pytest.mark.parametrize("suite", ["sm2-sm3", "ecdsa-p256-sha256"])
def test_pki_lifecycle_through_the_cli(tmp_path, suite):
    d = tmp_path / "pki"
    runner = CliRunner()
    assert runner.invoke(main, ["pki", "init", str(d), "--suite", suite]).exit_code == 0
    again = runner.invoke(main, ["pki", "init", str(d)])
    assert again.exit_code == 1 and "already holds a PKI" in again.output
    out = runner.invoke(main, ["pki", "issue", str(d), "BUS-1", "--pseudonyms", "2"])
    assert out.exit_code == 0 and out.output.count("HashedId8") == 2
    assert runner.invoke(main, ["pki", "issue", str(d), "RSU-9", "--kind", "rsu"]).exit_code == 0
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in d.rglob("*.key.pem"))

    shown = json.loads(runner.invoke(main, ["pki", "show", str(d), "--json"]).output)
    assert shown["suite"] == suite and len(shown["certificates"]) == 4 + 3 + 2 and shown["revoked"] == []

    bus = load_credentials(d, "BUS-1")
    out = runner.invoke(main, ["pki", "revoke", str(d), bus[1].hashed_id8.hex(), "--reason", "keyCompromise"])
    assert out.exit_code == 0 and bus[1].hashed_id8.hex() in out.output
    bad = runner.invoke(main, ["pki", "revoke", str(d), "nobody"])
    assert bad.exit_code == 1 and "neither a device" in bad.output
    assert runner.invoke(main, ["pki", "crl", str(d)]).exit_code == 0

    store = CertificateStore(load_trust_anchors(d), load_ca_certificates(d))
    assert store.load_crl((d / "crl.oer").read_bytes()).entries == 1
    verifier = Verifier(store)

    def verdict(cred):
        f = decode_frame(Signer(cred).sign(FRAME, 111, now64()))
        return verifier.verify(
            hash_id=f.hash_id,
            tbs=f.tbs,
            signer_kind=f.signer_kind,
            signer=f.signer,
            aid=f.aid,
            generation_time64=f.generation_time,
            r=f.r,
            s=f.s,
        ).verdict

    assert verdict(bus[0]) is Verdict.SUCCESS and verdict(bus[1]) is Verdict.REVOKED_CERTIFICATE
    shown = json.loads(runner.invoke(main, ["pki", "show", str(d), "--format", "json"]).output)
    assert shown["crl"] and [r["reason"] for r in shown["revoked"]] == ["keyCompromise"]


def test_pki_commands_on_a_directory_that_is_not_a_pki(tmp_path):
    result = CliRunner().invoke(main, ["pki", "show", str(tmp_path)])
    assert result.exit_code == 1 and "not a PKI directory" in result.output


@pytest.mark.parametrize("device_id", ["../escaped", "/tmp/absolute", "a/b", "..", ""])
def test_a_device_id_cannot_leave_the_pki_folder(tmp_path, device_id):
    pki = tmp_path / "pki"
    assert CliRunner().invoke(main, ["pki", "init", str(pki), "--suite", "ecdsa-p256-sha256"]).exit_code == 0
    before = set(tmp_path.rglob("*"))
    result = CliRunner().invoke(main, ["pki", "issue", str(pki), device_id])
    assert result.exit_code != 0 and "device id" in result.output
    assert set(tmp_path.rglob("*")) == before and not Path("/tmp/absolute").exists()


def test_ingest_refuses_a_pki_folder_that_holds_no_pki(tmp_path):
    """`--pki` on a folder without a PKI once turned verification off without a word."""
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(
        main, ["ingest", "--broker", "mqtt://127.0.0.1:9", "--out", str(tmp_path / "out"), "--pki", str(tmp_path / "empty")]
    )
    assert result.exit_code == 2 and "holds no PKI" in result.output


def test_ingest_refuses_a_client_id_mqtt_servers_need_not_accept(tmp_path):
    result = CliRunner().invoke(
        main, ["ingest", "--broker", "mqtt://127.0.0.1:9", "--out", str(tmp_path / "out"), "--client-id", "a/b#"]
    )
    assert result.exit_code == 2 and "--client-id" in result.output
