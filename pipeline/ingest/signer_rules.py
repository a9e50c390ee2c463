"""Signer and privacy rules judged over each sender's stream as it arrives (GB/T 45315 7.4.3.5, 7.4.5).

A rule that compares a message with its sender's earlier messages would need a window over the
whole run in SQL; here it is judged in the ingest, in arrival order, with per-sender state that
persists across batches, and stored with the message violations.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pyarrow as pa

from v2x.security.sign import FULL_CERTIFICATE_INTERVAL_US

from pipeline.ingest.continuity import StreamState

NOT_JUDGED, CERTIFICATE, DIGEST = 0, 1, 2
NO_CHANGE, CERTIFICATE_KEPT_ID, ID_CHANGED_UNDER_CERTIFICATE = 0, 1, 2
PSEUDONYM_MAX_S = 300.0  # GB/T 45315 7.4.5
PSEUDONYM_MIN_DISTANCE_M = 2100.0  # GB/T 45315 7.4.5, +/- 100 m
PSEUDONYM_CHANGE_ALLOWANCE_S = 1.0  # time the receiver allows for the change itself
POSITION_TOLERANCE_M = 100.0
METRES_PER_DEGREE = 111_320.0


@nb.njit(cache=True)
def certificate_intervals(sender, signer_kind, generated_us, gaps, last_certificate_us, lost_since, late_us):
    """Digest-signed BSMs sent 450 ms or more after their certificate's last full-certificate BSM
    (GB/T 45315 7.4.3.5), judged only where no message of that stream was lost in between.

    ``sender`` is the stream index (sender, temporary id, certificate); ``signer_kind`` is
    NOT_JUDGED, CERTIFICATE or DIGEST per frame; ``gaps`` the msgCnt gap (:mod:`pipeline.ingest.continuity`).
    ``last_certificate_us`` (-1 none yet) and ``lost_since`` persist across batches.  For a late
    digest, ``late_us[i]`` is set to the time since the last full certificate; otherwise -1.
    """
    for i in range(sender.size):
        kind = signer_kind[i]
        if kind == NOT_JUDGED:
            continue
        s = sender[i]
        if gaps[i] > 0:
            lost_since[s] += gaps[i]
        if kind == CERTIFICATE:
            last_certificate_us[s] = generated_us[i]
            lost_since[s] = 0
        elif last_certificate_us[s] >= 0 and lost_since[s] == 0:
            since = generated_us[i] - last_certificate_us[s]
            if since >= FULL_CERTIFICATE_INTERVAL_US:
                late_us[i] = since


@nb.njit(cache=True)
def pseudonym_changes(device, judged, vehicle_id, signer, previous_id, previous_signer, change, id_before):
    """The temporary id changes with the pseudonym certificate and only with it (GB/T 45315
    7.4.5): per frame, ``change`` is CERTIFICATE_KEPT_ID, ID_CHANGED_UNDER_CERTIFICATE (with the
    earlier id in ``id_before``) or NO_CHANGE, against the device's previous judged frame.
    ``previous_id``/``previous_signer`` (-1 none yet) persist across batches, per device.
    ``signer`` is a code per certificate (equal codes, same certificate)."""
    for i in range(device.size):
        if not judged[i]:
            continue
        d = device[i]
        if previous_signer[d] >= 0:
            if signer[i] != previous_signer[d] and vehicle_id[i] == previous_id[d]:
                change[i] = CERTIFICATE_KEPT_ID
            elif signer[i] == previous_signer[d] and vehicle_id[i] != previous_id[d]:
                change[i] = ID_CHANGED_UNDER_CERTIFICATE
                id_before[i] = previous_id[d]
        previous_id[d] = vehicle_id[i]
        previous_signer[d] = signer[i]


@nb.njit(cache=True)
def pseudonym_lifetimes(
    pseudonym, judged, generated_us, lat_deg, lon_deg, event_flags, first_us, first_lat, first_lon, used_s, moved_m
):
    """A pseudonym is used at most 300 s unless the vehicle is within 2100 m (+/- 100 m) of where
    it took it or an event flag is set (GB/T 45315 7.4.5; 1 s allowed for the change).
    ``pseudonym`` indexes (device, certificate); ``first_*`` (first_us -1: not seen yet) persist
    across batches.  For a frame that breaks the rule ``used_s``/``moved_m`` are set (else -1)."""
    for i in range(pseudonym.size):
        if not judged[i]:
            continue
        k = pseudonym[i]
        if first_us[k] < 0:
            first_us[k], first_lat[k], first_lon[k] = generated_us[i], lat_deg[i], lon_deg[i]
            continue
        used = (generated_us[i] - first_us[k]) / 1e6
        north = (lat_deg[i] - first_lat[k]) * METRES_PER_DEGREE
        east = (lon_deg[i] - first_lon[k]) * METRES_PER_DEGREE * np.cos(np.radians(lat_deg[i]))
        moved = np.sqrt(north * north + east * east)
        if (
            used > PSEUDONYM_MAX_S + PSEUDONYM_CHANGE_ALLOWANCE_S
            and moved >= PSEUDONYM_MIN_DISTANCE_M + POSITION_TOLERANCE_M
            and event_flags[i] == 0
        ):
            used_s[i], moved_m[i] = used, moved


def warm_up() -> None:
    """Compile (or load from cache) the kernels."""
    one, none, yes = np.zeros(1, np.int64), np.full(1, -1, np.int64), np.ones(1, np.bool_)
    certificate_intervals(one, np.zeros(1, np.int8), one, np.zeros(1, np.int16), none.copy(), one.copy(), none.copy())
    pseudonym_changes(one, yes, one, one, none.copy(), none.copy(), np.zeros(1, np.int8), none.copy())
    f = np.zeros(1, np.float64)
    pseudonym_lifetimes(one, yes, one, f, f, one, none.copy(), f.copy(), f.copy(), np.full(1, -1.0), np.full(1, -1.0))


class SenderRules:
    """The state of the rules above across batches, and their violations per batch (stored as
    message violations; see :mod:`pipeline.sql.field_checks`).  Frames are judged in arrival order, and
    only verified BSMs (a forgery or a replay is not a message of its sender)."""

    def __init__(self) -> None:
        self._devices: dict[str, int] = {}
        self._signers: dict[str, int] = {}
        self._pseudonyms: dict[tuple[int, int], int] = {}
        self._streams = StreamState(last_certificate_us=-1, lost_since=0)
        self._device = StreamState(previous_id=-1, previous_signer=-1)
        self._pseudonym = StreamState(first_us=-1, first_lat=0.0, first_lon=0.0)

    def _codes(self, table: dict, keys: list) -> np.ndarray:
        out = np.empty(len(keys), dtype=np.int64)
        for i, key in enumerate(keys):
            code = table.get(key)
            if code is None:
                code = table[key] = len(table)
            out[i] = code
        return out

    def judge(
        self,
        rx_seq: np.ndarray,
        streams: np.ndarray,
        judged: np.ndarray,
        sender: list[str | None],
        signer: list[str | None],
        signer_kind: list[str | None],
        generated_us: np.ndarray,
        gaps: np.ndarray,
        vehicle_id: np.ndarray,
        lat_deg: np.ndarray,
        lon_deg: np.ndarray,
        event_flags: np.ndarray,
    ) -> pa.Table:
        """Violations among one batch's frames (``judged``: the verified BSMs; ``streams``: the
        msgCnt stream index of each frame; ``vehicle_id`` the temporary id as an integer)."""
        from pipeline.sql.field_checks import VIOLATIONS_SCHEMA

        at = np.flatnonzero(judged)
        if not at.size:
            return VIOLATIONS_SCHEMA.empty_table()
        yes = np.ones(at.size, dtype=np.bool_)
        kinds = np.array(
            [
                CERTIFICATE if signer_kind[i] == "certificate" else DIGEST if signer_kind[i] == "digest" else NOT_JUDGED
                for i in at.tolist()
            ],
            dtype=np.int8,
        )
        late_us = np.full(at.size, -1, dtype=np.int64)
        self._streams.fit(int(streams.max()) + 1)
        certificate_intervals(
            streams[at], kinds, generated_us[at], gaps[at], self._streams.last_certificate_us, self._streams.lost_since, late_us
        )

        devices = self._codes(self._devices, [sender[i] or "?" for i in at.tolist()])
        signers = self._codes(self._signers, [signer[i] for i in at.tolist()])
        self._device.fit(len(self._devices))
        change, id_before = np.zeros(at.size, dtype=np.int8), np.full(at.size, -1, dtype=np.int64)
        pseudonym_changes(
            devices, yes, vehicle_id[at], signers, self._device.previous_id, self._device.previous_signer, change, id_before
        )

        pseudonyms = self._codes(self._pseudonyms, list(zip(devices.tolist(), signers.tolist())))
        self._pseudonym.fit(len(self._pseudonyms))
        used_s, moved_m = np.full(at.size, -1.0), np.full(at.size, -1.0)
        pseudonym_lifetimes(
            pseudonyms,
            yes,
            generated_us[at],
            lat_deg[at],
            lon_deg[at],
            event_flags[at],
            self._pseudonym.first_us,
            self._pseudonym.first_lat,
            self._pseudonym.first_lon,
            used_s,
            moved_m,
        )

        rows: list[tuple[int, str, str]] = []
        seqs = rx_seq[at].tolist()
        for k in np.flatnonzero(late_us >= 0).tolist():
            rows.append(
                (
                    seqs[k],
                    "BSM.certificate_interval",
                    f"digest signer {round(late_us[k] / 1000)} ms after the last full certificate",
                )
            )
        for k in np.flatnonzero(change).tolist():
            i = int(at[k])
            new_id, old_id = _hex_id(vehicle_id[i]), _hex_id(id_before[k])
            detail = (
                f"new certificate {signer[i]} kept id {new_id}"
                if change[k] == CERTIFICATE_KEPT_ID
                else f"id {old_id} -> {new_id} under the same certificate {signer[i]}"
            )
            rows.append((seqs[k], "BSM.pseudonym_change", detail))
        for k in np.flatnonzero(used_s >= 0).tolist():
            rows.append(
                (
                    seqs[k],
                    "BSM.pseudonym_lifetime",
                    f"certificate {signer[int(at[k])]} used {round(used_s[k])} s, now "
                    f"{round(moved_m[k])} m from where it was first seen",
                )
            )
        if not rows:
            return VIOLATIONS_SCHEMA.empty_table()
        return pa.Table.from_pylist([dict(zip(VIOLATIONS_SCHEMA.names, r)) for r in rows], schema=VIOLATIONS_SCHEMA)


def _hex_id(value: int) -> str:
    """The 8-byte temporary id as the telemetry's hex (the int64 may have wrapped negative)."""
    return f"{int(value) & 0xFFFF_FFFF_FFFF_FFFF:016x}"
