"""The scale scenario: a long signalised corridor with one RSU per intersection and a large
mixed fleet, built in code so that its size is a parameter.

Intersections are 400 m apart along Xiqing Rd (east-west), each RSU sending MAP 1 Hz, SPAT
10 Hz and RSM 10 Hz; every fifth has a road-works event in RSI (1 Hz).  Vehicles send BSM
10 Hz.  Nominal rate: ``10 * vehicles + 21 * rsus + rsus / 5`` frames/s.
"""

from __future__ import annotations

from typing import Any

from v2x.scenario.model import Scenario

SPACING_DEG_LON = 0.0046  # about 400 m at 39.08 N


def scale_scenario(
    vehicles: int = 1000, rsus: int = 50, duration_s: float = 60.0, suite: str = "ecdsa-p256-sha256", name: str = "scale"
) -> Scenario:
    """``vehicles`` OBUs (90 % cars, then buses, logistics vans, sanitation trucks) and
    ``rsus`` intersections, for ``duration_s``."""
    intersections: list[dict[str, Any]] = []
    for k in range(rsus):
        inter: dict[str, Any] = {
            "id": 2001 + k,
            "region": 1201,
            "name": f"Xiqing Rd / cross street {k + 1}",
            "lat": 39.0850,
            "lon": round(117.0000 + k * SPACING_DEG_LON, 6),
            "rsu_id": f"RSU-XQ-{2001 + k}",
            "signal": {"main_green_s": 20, "cross_green_s": 15, "yellow_s": 3, "all_red_s": 2, "offset_s": (k * 7) % 40},
        }
        if k % 5 == 0:
            inter["traffic_info"] = [{"kind": "event", "code": 401, "distance_m": 80, "description": "road works"}]
        intersections.append(inter)
    buses, vans, trucks = max(1, vehicles // 20), max(1, vehicles // 40), max(1, vehicles // 100)
    cars = vehicles - buses - vans - trucks
    fleet = [
        {"kind": "car", "count": cars},
        {"kind": "bus", "count": buses, "lane": "kerb"},
        {"kind": "logistics_van", "count": vans},
        {"kind": "sanitation_truck", "count": trucks, "hazard_lights": True, "speed_kmh": 8},
    ]
    return Scenario.model_validate(
        {
            "name": name,
            "description": f"scale: {rsus} RSUs on a {rsus * 0.4:.0f} km corridor, {vehicles} vehicles, {duration_s:g} s",
            "seed": 6,
            "duration_s": duration_s,
            "intersections": intersections,
            "fleet": [g for g in fleet if g["count"] > 0],
            "security": {"suite": suite},
            "expect": [{"check": "BSM.rate"}, {"check": "RLVW.SPAT.rate"}],
        }
    )


def nominal_rate(scenario: Scenario) -> float:
    """Frames per second the scenario's devices should send (the rates of roadside.simulator
    and vehicles.simulator)."""
    rsi = sum(1 for i in scenario.intersections if i.traffic_info)
    return 10.0 * scenario.vehicle_count + 21.0 * len(scenario.intersections) + 1.0 * rsi
