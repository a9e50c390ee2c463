"""numba decoder of SPAT (YD/T 3709-2020 SignalPhaseAndTiming), every field but the name text.

One int64 row per message in ``SPAT_COLUMNS`` and one row per phase state in
``PHASE_STATE_COLUMNS``, which repeats its intersection's header so that a phase state row
reads on its own in SQL.  ``timing_kind`` is 0 for TimeCountingDown, 1 for UTCTiming; the
timing columns are TimeMark values (0.1 s; 36001 = unknown).  Rows equal
:func:`pipeline.decode.reference_rows.spat_rows`.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from pipeline.decode.uper import (
    ABSENT,
    ERR,
    FALLBACK,
    bits,
    count,
    ended,
    enumerated,
    extensible_enumerated,
    fail,
    flag,
    integer,
    no_extension,
    optional,
    status_of,
)

SPAT_COLUMNS = ("msg_cnt", "moy", "time_stamp", "has_name", "intersections")
PHASE_STATE_COLUMNS = (
    "row",
    "intersection",
    "region",
    "node_id",
    "status",
    "intersection_moy",
    "intersection_time_stamp",
    "intersection_time_confidence",
    "phase",
    "phase_id",
    "state",
    "light",
    "timing_kind",
    "start_time",
    "min_end_time",
    "max_end_time",
    "likely_end_time",
    "timing_confidence",
    "next_start_time",
    "next_duration",
)
_HEAD = 8  # columns of PHASE_STATE_COLUMNS taken from the intersection
MAX_STATES = 32 * 16 * 16  # intersections x phases x phase states


@nb.njit(inline="always")
def _timemark(buf, base, limit, pos, present):
    if present:
        return integer(buf, base, limit, pos, 16, 0, 36001)
    return ABSENT, pos


@nb.njit(cache=True)
def _spat(buf, base, limit, out, i, states, n_states, head):
    """Decode one SPAT into out[i] and states[n_states:]; returns (pos, n_states)."""
    ext, pos = flag(buf, base, limit, 4)
    if ext:
        return fail(pos, FALLBACK), n_states
    opt, pos = bits(buf, base, limit, pos, 3)
    out[i, 0], pos = bits(buf, base, limit, pos, 7)
    out[i, 1] = ABSENT
    if opt & 4:
        out[i, 1], pos = integer(buf, base, limit, pos, 20, 0, 527040)
    out[i, 2], pos = optional(buf, base, limit, pos, opt & 2, 16)
    out[i, 3] = 0
    if opt & 1:
        out[i, 3] = 1
        n, pos = bits(buf, base, limit, pos, 6)  # IA5String (SIZE(1..63)): length - 1, 7 bits per character
        for _ in range(n + 1):
            _, pos = bits(buf, base, limit, pos, 7)
    n_inter, pos = count(buf, base, limit, pos, 5, 1, 32)
    out[i, 4] = n_inter
    if pos >= ERR:
        return pos, n_states
    for x in range(n_inter):
        pos = no_extension(buf, base, limit, pos)
        iopt, pos = bits(buf, base, limit, pos, 3)
        head[0] = i
        head[1] = x
        has_region, pos = flag(buf, base, limit, pos)
        head[2], pos = optional(buf, base, limit, pos, has_region, 16)
        head[3], pos = bits(buf, base, limit, pos, 16)
        head[4], pos = bits(buf, base, limit, pos, 16)
        head[5] = ABSENT
        if iopt & 4:
            head[5], pos = integer(buf, base, limit, pos, 20, 0, 527040)
        head[6], pos = optional(buf, base, limit, pos, iopt & 2, 16)
        head[7] = ABSENT
        if iopt & 1:
            head[7], pos = enumerated(buf, base, limit, pos, 6, 40)
        n_phases, pos = count(buf, base, limit, pos, 4, 1, 16)
        if pos >= ERR:
            return pos, n_states
        for p in range(n_phases):
            phase_id, pos = bits(buf, base, limit, pos, 8)
            n_ps, pos = count(buf, base, limit, pos, 4, 1, 16)
            if pos >= ERR:
                return pos, n_states
            for k in range(n_ps):
                j = n_states
                for c in range(_HEAD):
                    states[j, c] = head[c]
                states[j, 8] = p
                states[j, 9] = phase_id
                states[j, 10] = k
                pos = no_extension(buf, base, limit, pos)
                has_timing, pos = flag(buf, base, limit, pos)
                states[j, 11], pos = extensible_enumerated(buf, base, limit, pos, 4, 9)
                for c in range(12, 20):
                    states[j, c] = ABSENT
                if has_timing:
                    pos = no_extension(buf, base, limit, pos)  # TimeChangeDetails CHOICE extension bit
                    states[j, 12], pos = bits(buf, base, limit, pos, 1)
                    topt, pos = bits(buf, base, limit, pos, 5)
                    states[j, 13], pos = _timemark(buf, base, limit, pos, True)
                    states[j, 14], pos = _timemark(buf, base, limit, pos, topt & 16)
                    states[j, 15], pos = _timemark(buf, base, limit, pos, topt & 8)
                    states[j, 16], pos = _timemark(buf, base, limit, pos, True)
                    if topt & 4:
                        states[j, 17], pos = integer(buf, base, limit, pos, 8, 0, 200)
                    states[j, 18], pos = _timemark(buf, base, limit, pos, topt & 2)
                    states[j, 19], pos = _timemark(buf, base, limit, pos, topt & 1)
                n_states += 1
    return pos, n_states


@nb.njit(cache=True)
def decode_spat(buf, starts, ends, out, status, states):
    """Decode the spatFrame MessageFrames buf[starts[i]:ends[i]] (buf padded) into ``out``,
    ``status`` and ``states``; returns the number of phase states (see :func:`decode_bsm`)."""
    head = np.zeros(_HEAD, dtype=np.int64)
    n_states = 0
    spare = states.shape[0] - MAX_STATES
    for i in range(starts.size):
        if n_states <= spare:
            pos, n_states = _spat(buf, starts[i], (ends[i] - starts[i]) * 8, out, i, states, n_states, head)
        else:
            pos, extra = _spat(buf, starts[i], (ends[i] - starts[i]) * 8, out, i, states, spare, head)
            n_states += extra - spare
        status[i] = status_of(ended(pos, (ends[i] - starts[i]) * 8))
    return n_states
