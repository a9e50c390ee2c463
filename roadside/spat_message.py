"""SPAT for one intersection from its fixed-time signal plan (YD/T 3709 SignalPhaseAndTiming).

Each phase lists its current light state and the next two, with TimeCountingDown timing in
TimeMark units (0.1 s) relative to now: startTime 0 for the active state.  A fixed-time plan
knows its end times exactly, so minEndTime = maxEndTime = likelyEndTime with confidence 100 %.
"""

from __future__ import annotations

from typing import Any

from v2x.scenario.model import Intersection
from v2x.scenario.roads import CROSS_PHASE, MAIN_PHASE, phase_states

FIXED_TIME_OPERATION = (bytes([0b00000100, 0]), 16)  # IntersectionStatusObject bit 5
PRIORITY_ACTIVE = (bytes([0b00001100, 0]), 16)  # bit 4 signalPriorityIsActive as well
FULL_CONFIDENCE = 200  # Confidence unit 0.5 %


def _timemark(seconds: float) -> int:
    return max(0, min(36000, round(seconds * 10)))


def spat(inter: Intersection, t_s: float, msg_cnt: int, moy: int, dsecond: int, priority_active: bool = False) -> dict[str, Any]:
    """The SPAT an RSU broadcasts at ``t_s`` on its signal plan's clock (the run time less any
    bus priority extensions granted, :meth:`vehicles.traffic.Traffic.signal_time_s`);
    ``priority_active`` sets signalPriorityIsActive while an extension runs."""
    phases = []
    for phase_id in (MAIN_PHASE, CROSS_PHASE):
        states = []
        for state in phase_states(inter.signal, phase_id, t_s):
            end = _timemark(state.end_in_s)
            states.append(
                {
                    "light": state.light,
                    "timing": (
                        "counting",
                        {
                            "startTime": _timemark(state.start_in_s),
                            "minEndTime": end,
                            "maxEndTime": end,
                            "likelyEndTime": end,
                            "timeConfidence": FULL_CONFIDENCE,
                        },
                    ),
                }
            )
        phases.append({"id": phase_id, "phaseStates": states})
    return {
        "msgCnt": msg_cnt,
        "moy": moy,
        "timeStamp": dsecond,
        "intersections": [
            {
                "intersectionId": {"region": inter.region, "id": inter.id},
                "status": PRIORITY_ACTIVE if priority_active else FIXED_TIME_OPERATION,
                "moy": moy,
                "timeStamp": dsecond,
                "phases": phases,
            }
        ],
    }
