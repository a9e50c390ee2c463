"""Attack injection through the broker: every injected frame gets its verdict, no honest frame
gets anything but success, and the report fails the run while its security checks pass."""

from __future__ import annotations

import pytest

from v2x.attacks import EXPECTED_VERDICT
from v2x.run import run_scenario
from v2x.scenario import load_scenario

from pipeline.report import build_report
from pipeline.views import connect


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
    reasons = dict(con.execute("SELECT class, any_value(auth_reason) FROM frame_security WHERE class <> 'honest' GROUP BY ALL").fetchall())
    assert "revoked" in reasons["revoked_certificate"] or "CRL" in reasons["revoked_certificate"]
    assert "expired" in reasons["expired_certificate"] and "AID" in reasons["wrong_aid"]

    report = build_report(result.run.root)
    security = {c["id"]: c for c in report["checks"] if c.get("kind") == "security"}
    assert set(security) == {f"security.{kind}" for kind in EXPECTED_VERDICT}
    assert all(c["verdict"] == "PASS" and c["value"] == 1.0 for c in security.values())
    assert report["verdict"] == "FAIL"  # the auth-rate checks fail on the injected frames
    auth = {c["id"]: c["verdict"] for c in report["checks"] if c["id"].endswith(".auth")}
    assert auth["BSM.auth"] == "FAIL" and auth["SPAT.auth"] == "FAIL"
    assert report["security"]["crl"]["entries"] == 4 and report["security"]["crl"]["serial"] == 1
    honest = next(c for c in report["security"]["classes"] if c["class"] == "honest")
    assert honest["as_expected"] == honest["frames"]
