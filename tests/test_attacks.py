"""Security through the broker: every injected attack frame gets its verdict, no honest frame
gets anything but success, and a scenario can run on an existing PKI with its CRL."""

from __future__ import annotations

import pytest

from v2x.device.attacks import EXPECTED_VERDICT
from v2x.run import RunError, run_scenario
from v2x.scenario.model import load_scenario, obu_id, parse_scenario
from v2x.security import DeviceRequest, load_credentials
from v2x.security.pki import init_pki, issue, revoke, write_crl

from pipeline.report.build import build_report
from pipeline.sql.views import connect

from tests.test_scenario import GOOD


@pytest.mark.broker
def test_every_attack_class_gets_its_verdict_and_honest_frames_succeed(mosquitto, tmp_path):
    scenario = load_scenario("attacks")
    assert {a.kind for a in scenario.attacks} == set(EXPECTED_VERDICT)
    result = run_scenario(scenario, tmp_path / "run", broker_url=mosquitto.address.url)
    assert result.published == result.received == result.stored

    con = connect(result.run.root)
    injected = dict(con.execute("SELECT attack, count(*) FROM attacks GROUP BY ALL").fetchall())
    assert set(injected) == set(EXPECTED_VERDICT) and all(n >= 2 for n in injected.values())
    rows = con.execute("SELECT class, expected, auth, count(*) FROM frame_security GROUP BY ALL").fetchall()
    by_class: dict[str, dict[str, int]] = {}
    for cls, expected, auth, n in rows:
        by_class.setdefault(cls, {})[auth] = n
        assert expected == EXPECTED_VERDICT.get(cls, "success")
    assert by_class.pop("honest") == {"success": result.stored - sum(injected.values())}
    assert by_class == {kind: {EXPECTED_VERDICT[kind]: injected[kind]} for kind in EXPECTED_VERDICT}
    # reasons are specific
    reasons = dict(
        con.execute("SELECT class, any_value(auth_reason) FROM frame_security WHERE class <> 'honest' GROUP BY ALL").fetchall()
    )
    assert "revoked" in reasons["revoked_certificate"] or "CRL" in reasons["revoked_certificate"]
    assert "expired" in reasons["expired_certificate"] and "AID" in reasons["wrong_aid"]

    report = build_report(result.run.root).to_data()
    security = {c["id"]: c for c in report["checks"] if c.get("kind") == "security"}
    assert set(security) == {f"security.{kind}" for kind in EXPECTED_VERDICT}
    assert all(c["verdict"] == "PASS" and c["value"] == 1.0 for c in security.values())
    # Detected attack frames are security results, not the honest devices' authentication failures.
    auth = {c["id"]: c["verdict"] for c in report["checks"] if c["id"].endswith(".auth")}
    assert auth["BSM.auth"] == "PASS" and auth["SPAT.auth"] == "PASS"
    types = {m["msg_type"]: m for m in report["message_types"]}
    detected = sum(m.get("attacks_detected", 0) for m in types.values())
    assert types["BSM"]["auth_success_rate"] == 1.0 and detected == sum(injected.values())
    assert report["security"]["crl"]["entries"] == 4 and report["security"]["crl"]["serial"] == 1
    honest = next(c for c in report["security"]["classes"] if c["class"] == "honest")
    assert honest["as_expected"] == honest["frames"]


@pytest.mark.broker
def test_a_scenario_runs_on_an_existing_pki_and_applies_its_crl(mosquitto, tmp_path):
    zone = tmp_path / "zone-pki"
    init_pki(zone, suite="sm2-sm3")
    rsu = issue(zone, DeviceRequest("RSU-A", [3618, 3619, 3620, 3623], kind="rsu"))[0]
    issue(zone, DeviceRequest(obu_id(1), [111, 112]))
    revoke(zone, obu_id(1), reason="keyCompromise")
    write_crl(zone)
    before = sorted(p.name for p in (zone / "devices").iterdir())

    scenario = parse_scenario(GOOD + f"security: {{pki: '{zone}'}}\n")
    result = run_scenario(scenario, tmp_path / "run", broker_url=mosquitto.address.url)
    assert sorted(p.name for p in (zone / "devices").iterdir()) == before  # the source PKI is untouched
    assert load_credentials(result.run.pki, "RSU-A")[0].certificate == rsu.certificate  # its certificate is used
    con = connect(result.run.root)
    verdicts = dict(con.execute("SELECT sender_id || ' ' || auth, count(*) FROM messages GROUP BY ALL").fetchall())
    assert set(verdicts) == {"RSU-A success", "RSU-B success", f"{obu_id(0)} success", f"{obu_id(1)} revoked_certificate"}
    assert build_report(result.run.root).to_data()["security"]["crl"]["entries"] == 2

    mismatch = parse_scenario(GOOD + f"security: {{pki: '{zone}', suite: ecdsa-p256-sha256}}\n")
    with pytest.raises(RunError, match="sm2-sm3 PKI"):
        run_scenario(mismatch, tmp_path / "run2", broker_url=mosquitto.address.url)
    with pytest.raises(RunError, match="not a PKI directory"):
        run_scenario(
            parse_scenario(GOOD + f"security: {{pki: '{tmp_path}'}}\n"), tmp_path / "run3", broker_url=mosquitto.address.url
        )
