"""numba decoder of SPAT (YD/T 3709-2020 SignalPhaseAndTiming), every field but the name text.

One int64 row per message in ``SPAT_COLUMNS`` and one row per phase state in
``PHASE_STATE_COLUMNS``, which repeats its intersection's header so that a phase state row
reads on its own in SQL.  ``timing_kind`` is 0 for TimeCountingDown, 1 for UTCTiming; the
timing columns are TimeMark values (0.1 s; 36001 = unknown).  Rows equal
:func:`pipeline.reference_rows.spat_rows`.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from pipeline.uper import (
    ABSENT,
    FALLBACK,
    LIMIT,
    OK,
    POS,
    STATUS,
    bits,
    count,
    enumerated,
    extensible_enumerated,
    fail,
    flag,
    integer,
    no_extension,
)

SPAT_COLUMNS = ("msg_cnt", "moy", "time_stamp", "has_name", "intersections")
PHASE_STATE_COLUMNS = (
    "row", "intersection", "region", "node_id", "status", "intersection_moy", "intersection_time_stamp",
    "intersection_time_confidence", "phase", "phase_id", "state", "light", "timing_kind", "start_time",
    "min_end_time", "max_end_time", "likely_end_time", "timing_confidence", "next_start_time", "next_duration",
)
_HEAD = 8  # columns of PHASE_STATE_COLUMNS taken from the intersection


@nb.njit(inline="always")
def _timemark(buf, base, st):
    return integer(buf, base, st, 16, 0, 36001)


@nb.njit(cache=True)
def _spat(buf, base, st, out, i, states, n_states, head):
    if flag(buf, base, st):
        fail(st, FALLBACK)
        return n_states
    opt = bits(buf, base, st, 3)
    out[i, 0] = bits(buf, base, st, 7)
    out[i, 1] = integer(buf, base, st, 20, 0, 527040) if opt & 4 else ABSENT
    out[i, 2] = bits(buf, base, st, 16) if opt & 2 else ABSENT
    out[i, 3] = 0
    if opt & 1:
        out[i, 3] = 1
        n = bits(buf, base, st, 6) + 1  # IA5String (SIZE(1..63)), 7 bits per character
        for _ in range(n):
            bits(buf, base, st, 7)
    n_inter = count(buf, base, st, 5, 1, 32)
    out[i, 4] = n_inter
    if st[STATUS] != OK:
        return n_states
    for x in range(n_inter):
        no_extension(buf, base, st)
        iopt = bits(buf, base, st, 3)
        head[0] = i
        head[1] = x
        head[2] = bits(buf, base, st, 16) if flag(buf, base, st) else ABSENT
        head[3] = bits(buf, base, st, 16)
        head[4] = bits(buf, base, st, 16)
        head[5] = integer(buf, base, st, 20, 0, 527040) if iopt & 4 else ABSENT
        head[6] = bits(buf, base, st, 16) if iopt & 2 else ABSENT
        head[7] = enumerated(buf, base, st, 6, 40) if iopt & 1 else ABSENT
        n_phases = count(buf, base, st, 4, 1, 16)
        if st[STATUS] != OK:
            return n_states
        for p in range(n_phases):
            phase_id = bits(buf, base, st, 8)
            n_ps = count(buf, base, st, 4, 1, 16)
            if st[STATUS] != OK:
                return n_states
            for k in range(n_ps):
                j = n_states if n_states < states.shape[0] else states.shape[0] - 1
                for c in range(_HEAD):
                    states[j, c] = head[c]
                states[j, 8] = p
                states[j, 9] = phase_id
                states[j, 10] = k
                no_extension(buf, base, st)
                has_timing = flag(buf, base, st)
                states[j, 11] = extensible_enumerated(buf, base, st, 4, 9)
                for c in range(12, 20):
                    states[j, c] = ABSENT
                if has_timing:
                    no_extension(buf, base, st)  # TimeChangeDetails CHOICE extension bit
                    states[j, 12] = bits(buf, base, st, 1)
                    topt = bits(buf, base, st, 5)
                    states[j, 13] = _timemark(buf, base, st)
                    if topt & 16:
                        states[j, 14] = _timemark(buf, base, st)
                    if topt & 8:
                        states[j, 15] = _timemark(buf, base, st)
                    states[j, 16] = _timemark(buf, base, st)
                    if topt & 4:
                        states[j, 17] = integer(buf, base, st, 8, 0, 200)
                    if topt & 2:
                        states[j, 18] = _timemark(buf, base, st)
                    if topt & 1:
                        states[j, 19] = _timemark(buf, base, st)
                n_states += 1
    return n_states


@nb.njit(cache=True)
def decode_spat(buf, starts, ends, out, status, states):
    """Decode the spatFrame MessageFrames buf[starts[i]:ends[i]]; returns the phase-state count
    (the caller enlarges ``states`` and decodes again if it exceeds the capacity)."""
    st = np.zeros(3, dtype=np.int64)
    head = np.zeros(_HEAD, dtype=np.int64)
    n_states = 0
    for i in range(starts.size):
        st[POS] = 4
        st[LIMIT] = (ends[i] - starts[i]) * 8
        st[STATUS] = OK
        n_states = _spat(buf, starts[i], st, out, i, states, n_states, head)
        status[i] = st[STATUS]
    return n_states
