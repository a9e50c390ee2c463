"""Cloud JSON: a V2X message as an RSU sends it to a cloud road-network service, on
``v2x/v1/rsu/{esn}/{type}/up``, in degrees, metres, m/s and ISO 8601 times.

Large commercial clouds take RSU uplinks as JSON in physical units.  Their format descriptions
are not public (a vendor's topic layout is, compliance.md 6.6), so the document read and written
here is ours (policy), documented in docs/operators.md ("Cloud JSON")::

    {"esn": "RSU-0001", "type": "spat", "time": "2026-12-01T08:16:49.123+08:00", "data": {...}}

* ``esn`` the RSU (it must be the topic's), ``type`` the message type in lower case (the topic's);
* ``time`` when the RSU sent it, an RFC 3339 time with its offset: stored as the frame's send time;
* ``data`` the message's value with the message set's field names and forms (as in OpenV2X JSON,
  :mod:`v2x.framing.json_value`), except that the fields of the types in :data:`UNITS` are numbers
  in the unit named there (null for the value the message set reserves for "unavailable"), and
  the absolute times (DSecond, MinuteOfTheYear, the UTCTiming TimeMarks) are RFC 3339 times,
  or numbers in their own units (ms in the minute, minutes of the year, seconds in the hour).

A number is rounded to the nearest step of the message set; the UPER encoder then holds each
value to its range.  The writer writes times in the zone's local time (UTC+8, policy).
"""

from __future__ import annotations

import calendar
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from v2x import messages
from v2x.framing.json_value import DocumentError, ValueReader, frame_of_document, kind, message_type, parse_json, shown
from v2x.messages import MessageType

__all__ = ["UNITS", "DocumentError", "Unit", "document", "document_of", "message_frame", "parse_time"]

ZONE_TIME = timezone(timedelta(hours=8))  # policy: the writer's offset, Beijing time


@dataclass(frozen=True)
class Unit:
    """One step of an integer of the message set in a document's unit: ``value = steps * step``."""

    step: float
    unit: str
    decimals: int  # enough to write every step exactly
    unavailable: int | None = None  # the integer the message set reserves for "unavailable", written null


_DEGREE_E7 = Unit(1e-7, "degree", 7)
UNITS: dict[str, Unit] = {
    # YD/T 3709-2020 data elements (DE_<name>); the units and reserved values are the comments
    # of v2x/asn1/XiqingDayI.asn, each from its clause.
    "Latitude": Unit(1e-7, "degree", 7, 900_000_001),
    "Longitude": Unit(1e-7, "degree", 7, 1_800_000_001),
    "Elevation": Unit(0.1, "m", 1, -4096),
    **{f"OffsetLL-B{bits}": _DEGREE_E7 for bits in (12, 14, 16, 18, 22, 24)},
    **{f"VertOffset-B{bits:02d}": Unit(0.1, "m", 1) for bits in range(7, 13)},
    "Speed": Unit(0.02, "m/s", 2, 8191),
    "Heading": Unit(0.0125, "degree", 4),
    "CoarseHeading": Unit(1.5, "degree", 1),
    "SteeringWheelAngle": Unit(1.5, "degree", 1, 127),
    "Acceleration": Unit(0.01, "m/s2", 2, 2001),
    "VerticalAcceleration": Unit(0.02, "g", 2),
    "YawRate": Unit(0.01, "degree/s", 2),
    "SemiMajorAxisAccuracy": Unit(0.05, "m", 2, 255),
    "SemiMinorAxisAccuracy": Unit(0.05, "m", 2, 255),
    "VehicleWidth": Unit(0.01, "m", 2),
    "VehicleLength": Unit(0.01, "m", 2),
    "VehicleHeight": Unit(0.05, "m", 2),
    "LaneWidth": Unit(0.01, "m", 2),
    "Radius": Unit(0.1, "m", 1),
    "TimeOffset": Unit(0.01, "s", 2),
    "TimeMark": Unit(0.1, "s", 1, 36001),  # a count-down (TimeCountingDown); UTCTiming's are times, below
}


@dataclass(frozen=True)
class Clock:
    """An absolute time of the message set, written as an RFC 3339 time or as a number (``number``)."""

    step_ms: int  # one step of its integer
    period_ms: int  # the time repeats after this (a minute, an hour); 0: it counts within the UTC year
    number: Unit

    def of(self, utc_ms: int, leap: bool) -> int:
        """The integer of the message set for a UTC instant (``leap``: in a leap second, :60)."""
        if self.period_ms == 0:
            return (utc_ms - _year_start_ms(time_of(utc_ms).year)) // self.step_ms
        return (utc_ms % self.period_ms + (1000 if leap else 0)) // self.step_ms

    def instant(self, value: int, near_ms: int) -> int | None:
        """The instant nearest ``near_ms`` whose integer is ``value``; None if there is none."""
        if self.period_ms == 0:
            year = time_of(near_ms).year
            candidates = [_year_start_ms(y) + value * self.step_ms for y in (year - 1, year, year + 1)]
        else:
            base = near_ms - near_ms % self.period_ms + value * self.step_ms
            candidates = [base - self.period_ms, base, base + self.period_ms]
        fitting = [at for at in candidates if self.of(at, False) == value and value != self.number.unavailable]
        return min(fitting, key=lambda at: abs(at - near_ms)) if fitting else None


CLOCKS: dict[str, Clock] = {
    # YD/T 3709-2020 DefTime
    "DSecond": Clock(1, 60_000, Unit(1, "ms", 0)),  # ms within the UTC minute
    "MinuteOfTheYear": Clock(60_000, 0, Unit(1, "min", 0, 527_040)),  # minutes since the UTC year began
    "TimeMark@UTC": Clock(100, 3_600_000, UNITS["TimeMark"]),  # 0.1 s within the UTC hour (UTCTiming)
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _year_start_ms(year: int) -> int:
    return calendar.timegm((year, 1, 1, 0, 0, 0)) * 1000


def time_of(utc_ms: int) -> datetime:
    """A UTC Unix ms as a datetime in UTC."""
    return _EPOCH + timedelta(milliseconds=utc_ms)


_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def parse_time(text: Any, path: str) -> tuple[int, bool]:
    """An RFC 3339 time (``2026-12-01T08:16:49.123+08:00``): its UTC Unix ms (to the ms below)
    and whether it is in a leap second (``:60``, read as ``:59`` plus the flag)."""
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise DocumentError(f"{path}: expected an RFC 3339 time such as 2026-12-01T08:16:49.123+08:00, got {shown(text)}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, offset = match.group(7) or "0", match.group(8)
    try:
        zone = (
            UTC
            if offset in ("Z", "z")
            else timezone((1 if offset[0] == "+" else -1) * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
        )
        at = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=zone)
    except ValueError as exc:
        raise DocumentError(f"{path}: {text!r} is not a time: {exc}") from None
    if second > 60:
        raise DocumentError(f"{path}: {text!r} is not a time: second must be in 0..60")
    ms = int(fraction[:3].ljust(3, "0"))
    return calendar.timegm(at.utctimetuple()) * 1000 + ms, second == 60


def format_time(utc_ms: int) -> str:
    """An instant as the writer writes it: RFC 3339 in the zone's time, to the ms."""
    return time_of(utc_ms).astimezone(ZONE_TIME).isoformat(timespec="milliseconds")


def _type_of(t: Any) -> str:
    name: str = getattr(t, "type_name", "")
    if name == "TimeMark" and getattr(t, "name", "").endswith("UTCTime"):
        return "TimeMark@UTC"
    return name


def _from_number(unit: Unit, value: Any, path: str) -> int:
    if value is None and unit.unavailable is not None:
        return unit.unavailable
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
        unavailable = " or null (unavailable)" if unit.unavailable is not None else ""
        raise DocumentError(f"{path}: expected a number in {unit.unit}{unavailable}, got {shown(value)}")
    try:
        steps = value / unit.step
    except OverflowError:  # an integer beyond any float
        steps = math.inf
    if not math.isfinite(steps):  # 1.8e301 degrees in 1e-7 degree steps
        number = f"{value:.6g}" if isinstance(value, float) else f"a {len(str(abs(value)))}-digit number of"
        raise DocumentError(f"{path}: {number} {unit.unit} is beyond any value of the message set")
    return round(steps)


def _to_number(unit: Unit, value: int) -> float | int | None:
    if value == unit.unavailable:
        return None
    number = round(value * unit.step, unit.decimals)
    return int(number) if unit.decimals == 0 else number


class _PhysicalReader(ValueReader):
    """Reads the types of :data:`UNITS` and :data:`CLOCKS` in their physical forms."""

    def read(self, t: Any, value: Any, path: str) -> Any:
        name = _type_of(t)
        clock = CLOCKS.get(name)
        if clock is not None:
            if isinstance(value, str):
                return clock.of(*parse_time(value, path))
            return _from_number(clock.number, value, path)
        unit = UNITS.get(name)
        if unit is not None:
            return _from_number(unit, value, path)
        return super().read(t, value, path)


def _physical(t: Any, value: Any, near_ms: int) -> Any:
    """A JER value with the types of :data:`UNITS` and :data:`CLOCKS` in their physical forms."""
    name = _type_of(t)
    if name in CLOCKS:
        at = CLOCKS[name].instant(value, near_ms)
        return format_time(at) if at is not None else _to_number(CLOCKS[name].number, value)
    if name in UNITS:
        return _to_number(UNITS[name], value)
    label = type(t).__name__
    if label in ("Sequence", "Set"):
        by_name = {m.name: m for m in t.members}
        return {k: _physical(by_name[k], v, near_ms) for k, v in value.items()}
    if label in ("SequenceOf", "SetOf"):
        return [_physical(t.element_type, v, near_ms) for v in value]
    if label == "Choice":
        [(alternative, inner)] = value.items()
        return {alternative: _physical(t.name_to_member[alternative], inner, near_ms)}
    return value


def document(frame: bytes, esn: str, sent_us: int) -> bytes:
    """The cloud JSON document of a UPER MessageFrame an RSU ``esn`` sent at ``sent_us`` (Unix µs)."""
    return document_of(*messages.decode(frame), esn=esn, sent_us=sent_us)


def document_of(msg_type: MessageType, content: dict[str, Any], *, esn: str, sent_us: int) -> bytes:
    """The cloud JSON document of a message's value (asn1tools' representation)."""
    t = message_type(msg_type)
    sent_ms = sent_us // 1000
    data = _physical(t, t.encode(content), sent_ms)
    doc = {"esn": esn, "type": msg_type.value.lower(), "time": format_time(sent_ms), "data": data}
    return json.dumps(doc, separators=(",", ":")).encode()


_KEYS = ("esn", "type", "time", "data")


def message_frame(msg_type: MessageType, esn: str, payload: bytes) -> tuple[bytes, int]:
    """The UPER MessageFrame of a cloud JSON document received on the topic of RSU ``esn`` and
    ``msg_type``, and its send time (Unix µs); :class:`DocumentError` naming what does not fit."""
    doc = parse_json(payload)
    if not isinstance(doc, dict):
        raise DocumentError(f"expected an object with {', '.join(_KEYS)}, got {kind(doc)}")
    unknown = [k for k in doc if k not in _KEYS]
    if unknown:
        raise DocumentError(f"no field {unknown[0]!r} in a cloud JSON document (it has {', '.join(_KEYS)})")
    absent = [k for k in _KEYS if k not in doc]
    if absent:
        raise DocumentError(f"the mandatory field {absent[0]!r} is absent")
    if doc["esn"] != esn:
        raise DocumentError(f"esn: {shown(doc['esn'])} is not the topic's RSU {esn!r}")
    if doc["type"] != msg_type.value.lower():
        raise DocumentError(f"type: {shown(doc['type'])} is not the topic's {msg_type.value.lower()!r}")
    sent_ms, _ = parse_time(doc["time"], "time")
    return frame_of_document(msg_type, doc["data"], "data", _PhysicalReader()), sent_ms * 1000
