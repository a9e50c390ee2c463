"""Continuity of each sender's stream as it arrives: msgCnt gaps, late arrivals and inter-packet gaps.

A stream is one (sender, message type, temporary id, certificate): msgCnt restarts at random on a
pseudonym change (GB/T 45315 7.4.5), which is not loss.  Per received message:

* ``msg_cnt_gap``: msgCnt values missing just before it (modulo 128, GB/T 45315 Annex C.3.3), or
  -1 when it arrived after a later message of its stream and fills a hole counted earlier, so the
  sum over a stream stays the number of messages never received, whatever the arrival order;
* ``ipg_ms``: the inter-packet gap, time since the previous message of the stream was received
  (SAE J2945/1 "IPG", measured at the receiver).

Which way msgCnt moved is decided by generationTime, not by the modulo, so a loss of 64 or more in
a row is still a loss and not a late arrival.  State persists across batches.
"""

from __future__ import annotations

import numba as nb
import numpy as np

NO_GAP = np.iinfo(np.int16).min  # first message of a stream, duplicates, unauthenticated frames
FILLS_HOLE = -1


@nb.njit(cache=True)
def stream_continuity(
    stream, msg_cnt, generated_us, received_us, last_cnt, last_generated_us, holes, last_received_us, gaps, duplicate, ipg_us
):
    """Fill ``gaps`` (NO_GAP where none), ``duplicate`` and ``ipg_us`` (-1 where none) for one
    batch in arrival order.  Rows with msgCnt -1 are not messages of their stream and are skipped.
    ``last_cnt`` (-1 none yet), ``last_generated_us``, ``holes`` and ``last_received_us`` are
    per-stream state."""
    for i in range(stream.size):
        c = msg_cnt[i]
        if c < 0:
            continue
        s = stream[i]
        prev = last_cnt[s]
        if last_received_us[s] >= 0:
            ipg_us[i] = received_us[i] - last_received_us[s]
        last_received_us[s] = received_us[i]
        if prev < 0:
            last_cnt[s] = c
            last_generated_us[s] = generated_us[i]
            continue
        d = (c - prev) & 127
        if d == 0 and generated_us[i] == last_generated_us[s]:
            duplicate[i] = True
        elif generated_us[i] >= last_generated_us[s]:
            gaps[i] = (d - 1) & 127
            holes[s] += gaps[i]
            last_cnt[s] = c
            last_generated_us[s] = generated_us[i]
        elif holes[s] > 0:
            gaps[i] = FILLS_HOLE
            holes[s] -= 1
        else:
            gaps[i] = 0


class StreamState:
    """Named per-index numpy arrays, grown (with their fill values) as indices appear."""

    def __init__(self, **fills: float) -> None:
        self._fills = fills
        for name, fill in fills.items():
            setattr(self, name, np.full(1024, fill, dtype=np.float64 if isinstance(fill, float) else np.int64))

    def __getattr__(self, name: str) -> np.ndarray:
        """The arrays are set in ``__init__``; this tells type checkers that they are arrays."""
        raise AttributeError(name)

    def fit(self, size: int) -> None:
        for name, fill in self._fills.items():
            old = getattr(self, name)
            if old.size < size:
                grown = np.full(2 * size, fill, dtype=old.dtype)
                grown[: old.size] = old
                setattr(self, name, grown)


class StreamContinuity:
    """:func:`stream_continuity` with its state across batches."""

    def __init__(self) -> None:
        self._state = StreamState(last_cnt=-1, last_generated_us=-1, holes=0, last_received_us=-1)

    def judge(
        self, stream: np.ndarray, msg_cnt: np.ndarray, generated_us: np.ndarray, received_us: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(msg_cnt_gap int16 with NO_GAP, duplicate, ipg_us int64 with -1) of one batch."""
        n = stream.size
        if n:
            self._state.fit(int(stream.max()) + 1)
        gaps = np.full(n, NO_GAP, dtype=np.int16)
        duplicate = np.zeros(n, dtype=np.bool_)
        ipg_us = np.full(n, -1, dtype=np.int64)
        st = self._state
        stream_continuity(
            stream.astype(np.int64),
            msg_cnt.astype(np.int64),
            generated_us.astype(np.int64),
            received_us.astype(np.int64),
            st.last_cnt,
            st.last_generated_us,
            st.holes,
            st.last_received_us,
            gaps,
            duplicate,
            ipg_us,
        )
        return gaps, duplicate, ipg_us


def warm_up() -> None:
    """Compile (or load from cache) the kernel before traffic arrives."""
    one = np.zeros(1, np.int64)
    StreamContinuity().judge(one, one, one, one)
