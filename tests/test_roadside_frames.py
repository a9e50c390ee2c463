"""The RSU simulators encode without asn1tools' run-time checks (v2x.messages.encode
checked=False); here every message they build for every built-in scenario must satisfy the
ASN.1 constraints and encode to the same bytes with the checks on."""

from __future__ import annotations

import random

import numpy as np
import pytest

from v2x import clock, editions
from v2x.device import faults
from v2x.scenario.model import builtin_scenarios, load_scenario

from roadside.simulator import rsu_streams
from vehicles.traffic import Traffic

SECONDS = 3.0


@pytest.mark.parametrize("name", sorted(builtin_scenarios()))
def test_unchecked_roadside_frames_meet_the_constraints(name):
    scenario = load_scenario(name)
    traffic = Traffic(scenario, np.random.default_rng(scenario.seed))
    rng = random.Random(1)
    now = clock.now_unix_us()
    checked = expected = 0
    for index, intersection in enumerate(scenario.intersections):
        spec = editions.specification(intersection.edition)  # an RSU of an older edition encodes in it
        for stream in rsu_streams(scenario, index, rng, traffic):
            for k in range(max(1, int(SECONDS / stream.period_s))):
                if faults.due(scenario.faults, stream.msg_type, index, k):
                    continue  # a deliberately faulted message is encoded with the checks on
                expected += 1
                frame = stream.build(k, now + int(k * stream.period_s * 1e6))
                frame = frame if isinstance(frame, bytes) else frame.frame
                choice, content = spec.decode("MessageFrame", frame, check_constraints=True)
                assert spec.encode("MessageFrame", (choice, content), check_types=True, check_constraints=True) == frame
                checked += 1
    assert checked == expected > 0
