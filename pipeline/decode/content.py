"""Message content decoding: the numba decoder of each 10 Hz message, with its asn1tools twin.

``FAST_PATH[msg_type]`` names, for BSM, SPAT and RSM, the numba decoder, its message columns,
its nested table (path points, phase states, participants) and the function producing the same
rows from an asn1tools decode.  :func:`decode_contents` runs a decoder over a batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from v2x.messages import MessageType

from pipeline.decode import reference_rows
from pipeline.decode.bsm import BSM_COLUMNS, MAX_POINTS, PATH_POINT_COLUMNS, decode_bsm
from pipeline.decode.rsm import MAX_PARTICIPANTS, PARTICIPANT_COLUMNS, RSM_COLUMNS, decode_rsm
from pipeline.decode.spat import MAX_STATES, PHASE_STATE_COLUMNS, SPAT_COLUMNS, decode_spat
from pipeline.decode.uper import ABSENT, PADDING, padded


@dataclass(frozen=True)
class ContentDecoder:
    kernel: Callable[..., int]  # (buf, starts, ends, rows, status, children) -> number of children
    columns: tuple[str, ...]
    child_table: str
    child_columns: tuple[str, ...]
    reference: Callable[[dict[str, Any]], tuple[list[int], list[list[int]]]]
    max_children: int  # most nested rows one message can have (its SEQUENCE OF bounds)
    children_guess: int  # nested rows to allocate per message (the kernel asks for more if needed)


FAST_PATH: dict[MessageType, ContentDecoder] = {
    MessageType.BSM: ContentDecoder(
        decode_bsm, BSM_COLUMNS, "bsm_path_points", PATH_POINT_COLUMNS, reference_rows.bsm_rows, MAX_POINTS, MAX_POINTS
    ),
    MessageType.SPAT: ContentDecoder(
        decode_spat, SPAT_COLUMNS, "spat_phase_states", PHASE_STATE_COLUMNS, reference_rows.spat_rows, MAX_STATES, 16
    ),
    MessageType.RSM: ContentDecoder(
        decode_rsm,
        RSM_COLUMNS,
        "rsm_participants",
        PARTICIPANT_COLUMNS,
        reference_rows.rsm_rows,
        MAX_PARTICIPANTS,
        MAX_PARTICIPANTS,
    ),
}


@dataclass
class Contents:
    """Decoded contents of n messages of one type: rows[n, columns], status[n], children[m, child columns]."""

    rows: np.ndarray
    status: np.ndarray
    children: np.ndarray


def decode_contents(decoder: ContentDecoder, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> Contents:
    """Run ``decoder`` over the MessageFrames buf[starts[i]:ends[i]].

    Children of a message whose status is not OK may be partly written; callers keep only the
    children of OK rows.
    """
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    buf = padded(buf, int(ends.max()) if ends.size else 0)
    n = starts.size
    rows = np.empty((n, len(decoder.columns)), dtype=np.int64)
    status = np.zeros(n, dtype=np.int8)
    # Allocated with numpy (not inside the kernel): large numpy arrays get transparent huge
    # pages, which makes first-touch page faults much cheaper.  Untouched capacity costs nothing.
    capacity = n * decoder.children_guess + decoder.max_children
    while True:
        children = np.empty((capacity, len(decoder.child_columns)), dtype=np.int64)
        found = decoder.kernel(buf, starts, ends, rows, status, children)
        if found + decoder.max_children <= capacity:
            return Contents(rows, status, children[:found])
        capacity = found + decoder.max_children


def _id_hex(hi: np.ndarray, lo: np.ndarray) -> pa.Array:
    absent = hi == ABSENT
    values = (hi.astype(np.uint64) << np.uint64(32)) | (lo.astype(np.uint64) & np.uint64(0xFFFFFFFF))
    return pa.array([None if a else f"{v:016x}" for v, a in zip(values.tolist(), absent.tolist())], pa.string())


def to_arrow(columns: tuple[str, ...], matrix: np.ndarray, rx_seq: np.ndarray) -> pa.Table:
    """An int64 row matrix as an Arrow table keyed by ``rx_seq``: ABSENT becomes NULL, the
    ``id_hi``/``id_lo`` halves become one hex ``id``, a nested table's ``row`` is dropped."""
    out: dict[str, pa.Array] = {"rx_seq": pa.array(rx_seq, pa.int64())}
    for k, name in enumerate(columns):
        if name == "row" or name == "id_lo":
            continue
        if name == "id_hi":
            out["id"] = _id_hex(matrix[:, k], matrix[:, k + 1])
            continue
        col = matrix[:, k]
        out[name] = pa.array(col, pa.int64(), mask=col == ABSENT)
    return pa.table(out)


def warm_up() -> None:
    """Compile (or load from cache) every content decoder; compiling is driven by argument
    types, so a zero buffer is enough.  Both kinds of buffer: the batch passes the envelope's
    read-only one (``np.frombuffer``), and a read-only array is a type of its own to numba, so
    warming only a writable one left a first run compiling every decoder again mid-traffic."""
    for buf in (np.frombuffer(bytes(64 + PADDING), dtype=np.uint8), np.zeros(64 + PADDING, dtype=np.uint8)):
        for decoder in FAST_PATH.values():
            decode_contents(decoder, buf, np.array([0]), np.array([64]))
