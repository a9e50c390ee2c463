"""The compliance profile is a user's file: it is validated as it loads (pipeline/report/profile.py)."""

from __future__ import annotations

import pytest

from pipeline.report.profile import ProfileError, load_profile

GOOD_CHECK = '{id: BSM.pdr, msg_type: BSM, metric: pdr, op: ">=", threshold: 0.95, basis: derived, source: "Annex C"}'


def test_the_shipped_profile_loads_with_its_checks_and_applications():
    profile = load_profile()
    assert profile.profile == "xiqing" and "BSM.latency_p99" in profile.check_ids()
    assert {"FCW", "RLVW", "EVW"} <= profile.application_ids() and profile.pdr_in_range is not None
    ranged = next(c for c in profile.checks if c.id == "BSM.pdr_within_100m")
    assert ranged.range_m == 100 and ranged.basis == "derived"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("profile: x\nversion: 1\nchecks:\n  - {id: a.b}\n", "checks.0.msg_type"),
        (f"profile: x\nversion: 1\nchecks:\n  - {GOOD_CHECK[:-1]}, treshold: 1}}\n", "treshold"),
        ("profile: x\nversion: 1\nchecks:\n  - " + GOOD_CHECK.replace('">="', '"=>"') + "\n", "checks.0.op"),
        ("profile: x\nversion: 1\nchecks:\n  - " + GOOD_CHECK.replace("derived", "hearsay") + "\n", "checks.0.basis"),
        ("profile: x\nversion: 1\nchecks:\n  - " + GOOD_CHECK.replace("0.95", "high") + "\n", "checks.0.threshold"),
        ("profile: x\nversion: 1\nchecks:\n  - " + GOOD_CHECK + "\n  - " + GOOD_CHECK + "\n", "used twice: BSM.pdr"),
        ("profile: x\nversion: 1\nchecks: [\n", "not YAML"),
        ("profile: x\nversion: 1\nchecks:\n  - " + GOOD_CHECK.replace("derived", "harness") + "\n", "checks.0: basis harness"),
        ("profile: x\nversion: 1\nchecks:\n  - " + GOOD_CHECK[:-1] + ", kind: field}\n", "kind are the report's own"),
        ("- just\n- a list\n", "Input should be a valid dictionary"),
        (
            "profile: x\nversion: 1\nchecks: []\napplications:\n  - {id: FCW, name: f, messages: [{type: BSM}], rate_hz: 10,"
            " latency_ms: 100, range_m: 300, basis: derived, source: s}\n",
            "needs pdr_in_range",
        ),
    ],
)
def test_a_broken_profile_is_refused_naming_the_entry(tmp_path, body, says):
    path = tmp_path / "profile.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ProfileError, match=says.replace(".", r"\.")) as caught:
        load_profile(path)
    assert str(path) in str(caught.value)
