"""Time bases used on the air and in telemetry.

* Time64 / Time32 (IEEE 1609.2 6.4.11-12, kept by YD/T 3957): TAI microseconds / seconds
  since 2004-01-01T00:00:00Z.  TAI runs ahead of UTC by the leap seconds inserted since then.
* DSecond (YD/T 3709 DefTime): milliseconds within the current UTC minute (0..59999, 60000..60999
  during a leap second).
* MinuteOfTheYear (YD/T 3709 DefTime): minutes since the start of the UTC year.

All functions take Unix time (UTC seconds or microseconds) so callers can pass a simulated clock.
"""

from __future__ import annotations

import bisect
import calendar
import time

import numpy as np

EPOCH_2004_UNIX = calendar.timegm((2004, 1, 1, 0, 0, 0))

# UTC instants (Unix seconds) after which one more leap second separates TAI from UTC,
# counted from 2004-01-01 (IERS Bulletin C).  TAI-UTC was 32 s at the epoch.
_LEAP_SECONDS_SINCE_2004 = (
    calendar.timegm((2006, 1, 1, 0, 0, 0)),
    calendar.timegm((2009, 1, 1, 0, 0, 0)),
    calendar.timegm((2012, 7, 1, 0, 0, 0)),
    calendar.timegm((2015, 7, 1, 0, 0, 0)),
    calendar.timegm((2017, 1, 1, 0, 0, 0)),
)


def leap_seconds_since_2004(unix_s: float) -> int:
    """Leap seconds inserted between 2004-01-01 and ``unix_s``."""
    return bisect.bisect_right(_LEAP_SECONDS_SINCE_2004, unix_s)


def now_unix_us() -> int:
    """Wall-clock time in Unix microseconds."""
    return time.time_ns() // 1000


def time64_from_unix_us(unix_us: int) -> int:
    """Time64 (TAI µs since 2004) for a Unix time in µs (IEEE 1609.2 6.4.12)."""
    leaps = leap_seconds_since_2004(unix_us / 1e6)
    return unix_us - EPOCH_2004_UNIX * 1_000_000 + leaps * 1_000_000


def unix_us_from_time64(t64: int) -> int:
    """Inverse of :func:`time64_from_unix_us`."""
    approx = t64 + EPOCH_2004_UNIX * 1_000_000
    leaps = leap_seconds_since_2004((approx - 5_000_000) / 1e6)
    return approx - leaps * 1_000_000


def time32_from_unix_s(unix_s: float) -> int:
    """Time32 (TAI seconds since 2004) for a Unix time (IEEE 1609.2 6.4.11)."""
    return int(unix_s) - EPOCH_2004_UNIX + leap_seconds_since_2004(unix_s)


def unix_s_from_time32(t32: int) -> int:
    """Inverse of :func:`time32_from_unix_s`."""
    approx = t32 + EPOCH_2004_UNIX
    return approx - leap_seconds_since_2004(approx - 5)


def dsecond(unix_us: int) -> int:
    """DSecond: milliseconds within the UTC minute (YD/T 3709 DefTime)."""
    return (unix_us // 1000) % 60_000


def minute_of_the_year(unix_us: int) -> int:
    """MinuteOfTheYear: minutes since 1 January 00:00 UTC of the current year."""
    seconds = unix_us // 1_000_000
    year = time.gmtime(seconds).tm_year
    return int((seconds - calendar.timegm((year, 1, 1, 0, 0, 0))) // 60)


def unix_us_from_time64_array(t64: np.ndarray) -> np.ndarray:
    """Vectorised :func:`unix_us_from_time64` for an int64 array (values < 0 stay -1)."""

    thresholds = np.array([time64_from_unix_us(t * 1_000_000) for t in _LEAP_SECONDS_SINCE_2004], dtype=np.int64)
    leaps = np.searchsorted(thresholds, t64, side="right")
    out = t64 + EPOCH_2004_UNIX * 1_000_000 - leaps.astype(np.int64) * 1_000_000
    return np.where(t64 < 0, -1, out)
