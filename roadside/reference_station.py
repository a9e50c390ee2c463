"""A GNSS reference station at the RSU, whose corrections the RSU relays in RTCMcorrections once a
second (T/CSAE 157-2020 RTCM; DDS, at least 1 Hz): the station's antenna position (RTCM 1005)
and its code and phase observations of GPS (1074) and BeiDou (1124) in MSM4, RTCM 10403.3.

The observations come from a seeded sky: a dozen satellites of each system at 20,000 to 26,000 km
(GPS) or 21,500 to 40,000 km (BeiDou MEO and IGSO/GEO) with range rates within +-800 m/s, so the
numbers are in the ranges a receiver reports; the fields are packed with :mod:`bitstruct` and each
message is framed with :func:`v2x.dayii.rtcm.rtcm3_frame`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import bitstruct
import numpy as np

from v2x.dayii.rtcm import rtcm3_frame

LIGHT_MS = 299_792.458  # metres light travels in 1 ms
WGS84_A = 6_378_137.0
WGS84_F = 1 / 298.257223563
GPS_EPOCH_UNIX_S = 315_964_800  # 1980-01-06T00:00:00Z
GPS_LEAP_S = 18  # GPS time ahead of UTC since 2017-01-01 (IERS Bulletin C)
BDS_BEHIND_GPS_S = 14  # BDT = GPST - 14 s
WEEK_MS = 7 * 86_400_000
MSM4 = {"GPS": 1074, "BDS": 1124}
SIGNAL = {"GPS": 2, "BDS": 2}  # DF395 signal ids: GPS L1 C/A (1C), BeiDou B1I (2I)
RANGE_KM = {"GPS": (20_000, 26_000), "BDS": (21_500, 40_000)}


def ecef(lat_deg: float, lon_deg: float, height_m: float) -> tuple[float, float, float]:
    """WGS-84 geodetic to Earth-centred, Earth-fixed metres."""
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    e2 = WGS84_F * (2 - WGS84_F)
    n = WGS84_A / math.sqrt(1 - e2 * math.sin(lat) ** 2)
    return (
        (n + height_m) * math.cos(lat) * math.cos(lon),
        (n + height_m) * math.cos(lat) * math.sin(lon),
        (n * (1 - e2) + height_m) * math.sin(lat),
    )


def station_position(station_id: int, lat_deg: float, lon_deg: float, height_m: float) -> bytes:
    """RTCM 1005, stationary antenna reference point, as a transport frame (0.1 mm ECEF)."""
    x, y, z = (round(c * 10_000) for c in ecef(lat_deg, lon_deg, height_m))
    # DF002 DF003 DF021 DF022-024 (GPS, GLONASS, Galileo) DF141 DF025 DF142 DF001 DF026 DF364 DF027
    message = bitstruct.pack(
        "u12u12u6b1b1b1b1s38b1u1s38u2s38", 1005, station_id, 0, True, False, False, False, x, False, 0, y, 0, z
    )
    return rtcm3_frame(message)


@dataclass(frozen=True)
class Satellite:
    prn: int  # 1..64
    range_m: float  # at the run's start
    rate_mps: float
    cnr_dbhz: int


class ReferenceStation:
    """The station at an RSU: its id (DF003, 0..4095), position and seeded sky."""

    def __init__(self, station_id: int, lat_deg: float, lon_deg: float, height_m: float, rng: np.random.Generator):
        self.station_id = station_id % 4096
        self.position = station_position(self.station_id, lat_deg, lon_deg, height_m)
        self.sky: dict[str, list[Satellite]] = {}
        for system, (low, high) in RANGE_KM.items():
            prns = sorted(rng.choice(np.arange(1, 33), 12, replace=False).tolist())
            self.sky[system] = [
                Satellite(prn, float(rng.uniform(low, high)) * 1000, float(rng.uniform(-800, 800)), int(rng.integers(35, 50)))
                for prn in prns
            ]

    def corrections(self, unix_ms: int, t_s: float) -> list[tuple[int, bytes]]:
        """(message number, frame) of one second's corrections at ``unix_ms`` (``t_s`` into the run)."""
        gps_ms = unix_ms - GPS_EPOCH_UNIX_S * 1000 + GPS_LEAP_S * 1000
        tow = {"GPS": gps_ms % WEEK_MS, "BDS": (gps_ms - BDS_BEHIND_GPS_S * 1000) % WEEK_MS}
        out = [(1005, self.position)]
        for system, number in MSM4.items():
            out.append((number, self._msm4(number, tow[system], self.sky[system], t_s)))
        return out

    def _msm4(self, number: int, tow_ms: int, sky: list[Satellite], t_s: float) -> bytes:
        """An MSM4 (full pseudoranges and phase ranges, CNR) of one signal of every satellite in ``sky``."""
        sat_mask = sum(1 << (64 - s.prn) for s in sky)
        signal = SIGNAL["GPS" if number == 1074 else "BDS"]
        sig_mask = 1 << (32 - signal)
        n = len(sky)
        cell_mask = (1 << n) - 1  # every satellite has the one signal
        # DF002 DF003 epoch DF393 DF409 DF001 DF411 DF412 DF417 DF418 DF394 DF395 DF396
        fmt = ["u12u12u30b1u3u7u2u2b1u3u64u32", f"u{n}"]
        values: list[int | bool] = [number, self.station_id, tow_ms, False, 0, 0, 0, 0, False, 0, sat_mask, sig_mask, cell_mask]
        rough_ms, rough_frac, fine_pr, fine_cp = [], [], [], []
        for s in sky:
            range_ms = (s.range_m + s.rate_mps * t_s) / LIGHT_MS
            rough = math.floor(range_ms * 1024) / 1024  # DF397 + DF398: 1/1024 ms
            rough_ms.append(int(rough))
            rough_frac.append(round((rough - int(rough)) * 1024))
            residual = range_ms - rough
            fine_pr.append(round(residual * 2**24))  # DF400: 2^-24 ms
            fine_cp.append(round((residual + 1e-7) * 2**29))  # DF401: 2^-29 ms, carrier a little off the code
        fmt += ["u8" * n, "u10" * n, "s15" * n, "s22" * n, "u4" * n, "b1" * n, "u6" * n]
        values += [*rough_ms, *rough_frac, *fine_pr, *fine_cp, *([15] * n), *([False] * n), *(s.cnr_dbhz for s in sky)]
        bits = "".join(fmt)
        size = bitstruct.calcsize(bits)
        message = bitstruct.pack(bits + f"p{-size % 8}", *values)
        return rtcm3_frame(message)
