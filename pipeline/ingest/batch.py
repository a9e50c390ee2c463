"""One ingest batch: received frames in; telemetry rows (one Arrow table per message type) and
content tables out.

Per frame: parse the envelope (numba), decode the content (numba for BSM/SPAT/RSM, asn1tools for
MAP/RSI and wherever the fast path steps aside), verify the signature, compute latency =
received_at - generationTime and the msgCnt gap since the sender's previous message, and run the
message field checks.  Frames that do not decode or verify become rows too, with
``reject_reason`` / ``auth`` saying why; nothing received is dropped.
"""

from __future__ import annotations

import atexit
import gc
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from v2x import clock, editions
from v2x.framing.sources import ENVELOPE_ONLY
from v2x.messages import (
    ACCEL_UNIT,
    HEADING_UNIT,
    LATLON_UNIT,
    MESSAGE_TYPE_BY_INDEX,
    SPEED_UNAVAILABLE,
    SPEED_UNIT,
    YAW_UNIT,
    MessageType,
    aid_misfit,
    message_set,
    msg_cnt_of,
)
from v2x.mqtt import topics
from v2x.security import Verdict, Verifier
from v2x.security.certificates import security_types
from v2x.security.replay import ReplayWindow
from v2x.security.verifier import PendingSignature, Spdus
from v2x.security.workers import SignatureBatch, SignatureWorkers

from pipeline.decode import content, day_ii, envelope, map_rsi, psm, ssm, uper, vir
from pipeline.decode.bsm import BSM_COLUMNS
from pipeline.decode.content import FAST_PATH, decode_contents, to_arrow
from pipeline.decode.reference import DecodedFrame, FrameError, decode_frame
from pipeline.decode.uper import ABSENT
from pipeline.ingest import continuity, signer_rules
from pipeline.ingest.fallback import Fallback
from pipeline.ingest.received import Received
from pipeline.ingest.sources import Adapted, Framings, adapt
from pipeline.sql import field_checks
from pipeline.sql.judged import BELIEVED, NO_TRUST_ANCHORS

UNKNOWN_TYPE = "UNKNOWN"
_TYPE_NAME = {i: t.value for i, t in MESSAGE_TYPE_BY_INDEX.items()}
_SIGNER_KIND = {0: "digest", 1: "certificate", 2: "self", 3: "x509"}
NOT_VERIFIED = "not_verified"  # a frame nobody could verify: no trust anchors, or a framing without signatures

SCHEMA = pa.schema(
    [
        ("rx_seq", pa.int64()),
        ("received_at", pa.timestamp("us", tz="UTC")),
        ("generated_at", pa.timestamp("us", tz="UTC")),
        ("latency_ms", pa.float64()),
        ("topic", pa.string()),
        ("device_kind", pa.string()),
        ("sender_id", pa.string()),
        ("msg_cnt", pa.int16()),
        ("msg_cnt_gap", pa.int16()),
        ("ipg_ms", pa.float64()),
        ("duplicate", pa.bool_()),
        ("aid", pa.int64()),
        ("signer", pa.string()),
        ("signer_kind", pa.string()),
        ("auth", pa.string()),
        ("auth_reason", pa.string()),
        ("decode_ok", pa.bool_()),
        ("reject_reason", pa.string()),
        ("frame_size", pa.int32()),
        ("vehicle_id", pa.string()),
        ("sec_mark", pa.int32()),
        ("lat_deg", pa.float64()),
        ("lon_deg", pa.float64()),
        ("elevation_present", pa.bool_()),
        ("speed_mps", pa.float64()),
        ("heading_deg", pa.float64()),
        ("transmission", pa.int8()),
        ("accel_long_mps2", pa.float64()),
        ("accel_lat_mps2", pa.float64()),
        ("yaw_rate_dps", pa.float64()),
        ("width_m", pa.float64()),
        ("length_m", pa.float64()),
        ("vehicle_class", pa.int16()),
        ("frame", pa.binary()),
        ("framing", pa.string()),
        ("edition", pa.string()),
        ("relay", pa.string()),
    ]
)


_BSM = {name: k for k, name in enumerate(BSM_COLUMNS)}
# telemetry column: (BSM column, scale to physical units, Arrow type)
_BSM_CORE = {
    "sec_mark": ("sec_mark", None, pa.int32()),
    "lat_deg": ("lat", LATLON_UNIT, pa.float64()),
    "lon_deg": ("lon", LATLON_UNIT, pa.float64()),
    "speed_mps": ("speed", SPEED_UNIT, pa.float64()),
    "heading_deg": ("heading", HEADING_UNIT, pa.float64()),
    "transmission": ("transmission", None, pa.int8()),
    "accel_long_mps2": ("accel_long", ACCEL_UNIT, pa.float64()),
    "accel_lat_mps2": ("accel_lat", ACCEL_UNIT, pa.float64()),
    "yaw_rate_dps": ("yaw_rate", YAW_UNIT, pa.float64()),
    "width_m": ("width", 0.01, pa.float64()),
    "length_m": ("length", 0.01, pa.float64()),
    "vehicle_class": ("vehicle_class", None, pa.int16()),
}


def _bsm_core(n: int, ok: np.ndarray, frames: np.ndarray, rows: np.ndarray) -> dict[str, pa.Array]:
    """The BSM core columns of the telemetry rows (physical units; NULL for other types)."""
    keep = ok[frames]
    frames, rows = frames[keep], rows[keep]
    out: dict[str, pa.Array] = {}
    ids: list[str | None] = [None] * n
    for i, hi, lo in zip(frames.tolist(), rows[:, _BSM["id_hi"]].tolist(), rows[:, _BSM["id_lo"]].tolist()):
        ids[i] = f"{hi:08x}{lo:08x}"
    out["vehicle_id"] = pa.array(ids, pa.string())
    for name, (column, scale, arrow_type) in _BSM_CORE.items():
        values = np.zeros(n, dtype=np.int64)
        mask = np.ones(n, dtype=np.bool_)
        values[frames] = rows[:, _BSM[column]]
        mask[frames] = rows[:, _BSM[column]] == ABSENT
        if column == "speed":
            mask |= values == SPEED_UNAVAILABLE
        out[name] = pa.array(values * scale if scale else values, arrow_type, mask=mask)
    elevation = np.zeros(n, dtype=np.bool_)
    elevation[frames] = rows[:, _BSM["elevation"]] != ABSENT
    has = np.zeros(n, dtype=np.bool_)
    has[frames] = True
    out["elevation_present"] = pa.array(elevation, mask=~has)
    return out


def _bsm_fields(n: int, bsm_frames: np.ndarray, bsm_rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """What the stream rules read of the BSMs among ``n`` frames, from the decoder's rows:
    (their frame indices, temporary id as int64, latitude and longitude in degrees, event flags)."""
    vehicle_id, lat, lon, events = np.zeros(n, np.int64), np.zeros(n), np.zeros(n), np.zeros(n, np.int64)
    if bsm_frames.size:
        vehicle_id[bsm_frames] = (bsm_rows[:, _BSM["id_hi"]] << 32) | bsm_rows[:, _BSM["id_lo"]]
        lat[bsm_frames] = bsm_rows[:, _BSM["lat"]] * LATLON_UNIT
        lon[bsm_frames] = bsm_rows[:, _BSM["lon"]] * LATLON_UNIT
        flags = bsm_rows[:, _BSM["events"]]
        events[bsm_frames] = np.where(flags == ABSENT, 0, flags)
    return bsm_frames, vehicle_id, lat, lon, events


def _stored_bsm_fields(rx_seq: np.ndarray, bsm: pa.Table | None) -> tuple[np.ndarray, ...]:
    """:func:`_bsm_fields` from a stored ``bsm`` content table (``rx_seq``, ``id``, ``lat``,
    ``lon``, ``events``) for the frames ``rx_seq``."""
    n = rx_seq.size
    vehicle_id, lat, lon, events = np.zeros(n, np.int64), np.zeros(n), np.zeros(n), np.zeros(n, np.int64)
    if bsm is None or not bsm.num_rows:
        return np.zeros(0, np.int64), vehicle_id, lat, lon, events
    at = {r: i for i, r in enumerate(rx_seq.tolist())}
    rows = [(at[r], k) for k, r in enumerate(bsm.column("rx_seq").to_pylist()) if r in at]
    frames = np.array([i for i, _ in rows], dtype=np.int64)
    picked = bsm.take(pa.array([k for _, k in rows], pa.int64()))
    ids = [int(x, 16) if x else 0 for x in picked.column("id").to_pylist()]
    vehicle_id[frames] = np.array([x - 2**64 if x >= 2**63 else x for x in ids], dtype=np.int64)  # as (hi << 32) | lo in int64
    lat[frames] = picked.column("lat").fill_null(0).to_numpy(zero_copy_only=False) * LATLON_UNIT
    lon[frames] = picked.column("lon").fill_null(0).to_numpy(zero_copy_only=False) * LATLON_UNIT
    events[frames] = picked.column("events").fill_null(0).to_numpy(zero_copy_only=False)
    return frames, vehicle_id, lat, lon, events


def warm_up() -> None:
    """Compile every numba kernel and the asn1tools schemas before traffic arrives, so the first
    batch is not late (a compile holds the GIL and would stall the receive loop).  Process-wide
    settings are not touched here: the ingest calls :func:`settle_collector` itself."""
    envelope.warm_up()
    content.warm_up()
    psm.warm_up()
    ssm.warm_up()
    vir.warm_up()
    signer_rules.warm_up()
    continuity.warm_up()
    message_set()
    security_types()


GC_YOUNG_THRESHOLD = 50_000  # allocations between young collections (CPython's default: 700)


def settle_collector() -> None:
    """A process-wide side effect, made once by the ingest at start-up after :func:`warm_up`
    (``pipeline/ingest/__main__.py``, ``v2x ingest``) and by the benchmarks that measure it.

    Move everything allocated so far (modules, schemas, compiled kernels) out of the cyclic
    collector's sight and collect the young generation less often.  A batch allocates hundreds
    of thousands of short-lived tuples, lists and verdicts without reference cycles; with the
    default threshold the collector ran every 700 of them and rescanned the long-lived heap,
    about 2.5 µs per frame (a fifth of the batch stage's own work)."""
    gc.collect()
    gc.freeze()
    atexit.register(gc.unfreeze)  # let the last collection see them (extension modules count leaks at exit)
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def _by_type(table: pa.Table, msg_type: list[str]) -> dict[str, pa.Table]:
    """Telemetry rows grouped by message type (the Hive partition they are written to)."""
    types = np.array(msg_type)
    return {t: table.filter(pa.array(types == t)) for t in sorted(set(msg_type))}


@dataclass
class BatchOutput:
    telemetry: dict[str, pa.Table]  # message type -> one row per received frame
    tables: dict[str, pa.Table]  # content table name -> rows keyed by rx_seq


# Policy limits on what asn1tools decodes (its cost grows with the elements: a certificate listing
# 8,000 AIDs took 0.47 s).  A YD/T 3957 certificate with a handful of AIDs is about 150 octets.
MAX_CERTIFICATE_BYTES = 512
MAX_FALLBACK_SIGNED_BYTES = 4096
AID_MAX = 2**63 - 1  # the telemetry column is int64; YD/T 3957 Psid is INTEGER (0..MAX), real AIDs fit in 4 octets
TIME64_MAX = 2**62  # Time64 (Uint64 µs since 2004) beyond this cannot become a Unix µs timestamp (year ~148,000)


def _fill_from_reference(p: envelope.Parsed, i: int, d: DecodedFrame) -> None:
    """Write an asn1tools decode into row i of the kernel columns (fallback path).  Integer
    fields are range-checked here, where they enter fixed-width columns: a value that does not
    fit raises :class:`FrameError` (the frame is rejected with that reason)."""
    if d.aid is not None and not 0 <= d.aid <= AID_MAX:
        raise FrameError(f"headerInfo.aid {d.aid} is outside 0..2^63-1")
    if d.generation_time is not None and not 0 <= d.generation_time <= TIME64_MAX:
        raise FrameError(f"headerInfo.generationTime {d.generation_time} is outside 0..2^62 µs since 2004")
    if d.msg_cnt is not None and not 0 <= d.msg_cnt <= 127:
        raise FrameError(f"msgCnt {d.msg_cnt} is outside 0..127")
    p.status[i] = envelope.OK
    p.content[i] = envelope.CONTENT_SIGNED if d.content == "signed" else envelope.CONTENT_UNSECURED
    p.msg_index[i] = d.msg_type.frame_index if d.msg_type else -1
    p.msg_cnt[i] = d.msg_cnt if d.msg_cnt is not None else -1
    if d.aid is not None:
        p.aid[i] = d.aid
    p.generation_time[i] = d.generation_time if d.generation_time is not None else -1


def _spdus(raw: bytes, p: envelope.Parsed, signed: list[int], decoded: dict[int, DecodedFrame], received_us: list[int]) -> Spdus:
    """The parts the verify service takes, for the signed frames ``signed``: sliced from the
    batch buffer at the kernel's offsets, or from the asn1tools decode where the kernel stepped aside."""
    at = np.array(signed, dtype=np.int64)
    tbs_start, tbs_end, signer_start, signer_end = (
        p.tbs_start[at].tolist(),
        p.tbs_end[at].tolist(),
        p.signer_start[at].tolist(),
        p.signer_end[at].tolist(),
    )
    spdus = Spdus(
        hash_id=[envelope.HASH_NAMES[h] if 0 <= h < 3 else f"hash#{h}" for h in p.hash_id[at].tolist()],
        tbs=[raw[a:b] for a, b in zip(tbs_start, tbs_end)],
        signer_kind=[_SIGNER_KIND.get(k, "unknown") for k in p.signer_kind[at].tolist()],
        signer=[raw[a:b] for a, b in zip(signer_start, signer_end)],
        aid=p.aid[at].tolist(),
        generation_time64=p.generation_time[at].tolist(),
        r=[raw[a : a + 32] for a in p.r_start[at].tolist()],
        s=[raw[a : a + 32] for a in p.s_start[at].tolist()],
        received_us=[received_us[i] for i in signed],
    )
    for k, i in enumerate(signed):
        d = decoded.get(i)
        if d is not None:
            signed_parts = (d.hash_id, d.tbs, d.signer_kind, d.signer, d.aid, d.r, d.s)
            assert all(part is not None for part in signed_parts), "decode_frame gives every part of a signed frame"
            spdus.hash_id[k], spdus.tbs[k], spdus.signer_kind[k], spdus.signer[k] = d.hash_id, d.tbs, d.signer_kind, d.signer  # type: ignore[assignment]
            spdus.aid[k], spdus.r[k], spdus.s[k] = d.aid, d.r, d.s  # type: ignore[assignment]
            spdus.generation_time64[k] = -1 if d.generation_time is None else d.generation_time
    return spdus


AUTHENTIC = frozenset(BELIEVED)  # not refuted by verification (pipeline.sql.judged)


class BatchProcessor:
    """Turns batches into rows; keeps per-sender msgCnt state across batches.  Signatures are
    verified by ``signature_workers`` (inline if None)."""

    def __init__(
        self,
        verifier: Verifier | None,
        topic_prefix: str = "",
        first_rx_seq: int = 0,
        signature_workers: SignatureWorkers | None = None,
        sources: Framings = ENVELOPE_ONLY,
    ):
        self.verifier = verifier
        self.sources = sources
        self.signature_workers = signature_workers or SignatureWorkers(0)
        self._replays = ReplayWindow()
        self.topic_prefix = topic_prefix
        self.next_rx_seq = first_rx_seq
        self._sender_index: dict[tuple[str, str, str | None, str | None], int] = {}
        self._sender_editions: dict[str, editions.Edition] = {}  # senders seen sending an older edition
        self._continuity = continuity.StreamContinuity()
        self._certificates: dict[bytes, bool] = {}
        self._checks = field_checks.checks_connection()
        self._unchecked = UncheckedBatches()
        self._sender_rules = signer_rules.SenderRules()
        self.unchecked_after_error = 0  # messages whose field checks were lost to a failure (forget_unchecked)

    def _certificate_decodes(self, encoded: bytes) -> bool:
        """Whether a signer certificate span is exactly one canonical COER certificate (cached)."""
        ok = self._certificates.get(encoded)
        if ok is None:
            spec = security_types()
            try:
                ok = spec.encode("Certificate", spec.decode("Certificate", encoded)) == encoded
            except Exception:
                ok = False
            if len(self._certificates) < 100_000:
                self._certificates[encoded] = ok
        return ok

    def _sender_ids(self, keys: list[tuple[str, str, str | None, str | None]]) -> np.ndarray:
        ids = np.empty(len(keys), dtype=np.int64)
        for i, key in enumerate(keys):
            idx = self._sender_index.get(key)
            if idx is None:
                idx = self._sender_index[key] = len(self._sender_index)
            ids[i] = idx
        return ids

    def process(self, batch: Received) -> BatchOutput:
        """Rows of a batch, grouped by message type (``UNKNOWN`` when neither frame nor topic
        says), and the content tables of the frames that decode."""
        return self.finish(self.begin(batch))

    def resume(self, telemetry: pa.Table, bsm: pa.Table | None = None) -> int:
        """Take up the stream state where an earlier ingest on the same output left it: its
        stored rows (``telemetry``, in ``rx_seq`` order, with ``msg_type``; ``bsm``: the BSM
        content of those rows, ``rx_seq``, ``id``, ``lat``, ``lon``, ``events``) go through the
        msgCnt continuity judge and the signer and pseudonym rules again, outputs discarded, so
        the first frames after a restart are judged as if the ingest had never stopped.
        Returns the rows replayed."""
        n = telemetry.num_rows
        if not n:
            return 0
        col = {
            name: telemetry.column(name).to_pylist()
            for name in ("sender_id", "msg_type", "vehicle_id", "signer", "signer_kind", "auth")
        }
        ok = telemetry.column("decode_ok").to_numpy(zero_copy_only=False).astype(np.bool_)
        cnt = telemetry.column("msg_cnt").fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int16)
        generated = telemetry.column("generated_at").cast(pa.int64()).fill_null(-1).to_numpy(zero_copy_only=False)
        received = telemetry.column("received_at").cast(pa.int64()).to_numpy(zero_copy_only=False)
        rx_seq = telemetry.column("rx_seq").to_numpy(zero_copy_only=False)
        relay = telemetry.column("relay").to_pylist() if "relay" in telemetry.column_names else [None] * n
        streams_of = _stream_senders(col["sender_id"], relay)
        streams, gaps, _, _ = self._judge_continuity(
            streams_of, col["msg_type"], col["vehicle_id"], col["signer"], ok, col["auth"], cnt, generated, received
        )
        self._judge_streams(
            rx_seq,
            streams,
            col["auth"],
            col["sender_id"],
            col["signer"],
            col["signer_kind"],
            generated,
            gaps,
            *_stored_bsm_fields(rx_seq, bsm),
        )
        return n

    def process_isolating(self, batch: Received, error: BaseException) -> list[BatchOutput]:
        """Rows of a batch whose processing raised ``error``: it is processed again in halves,
        and halves of those, until each frame that still raises is alone; such a frame becomes a
        reject row naming the error.  No input stops the ingest and nothing received is dropped."""
        if len(batch) == 1:
            return [self.rejected(batch, f"ingest error while processing this frame: {type(error).__name__}: {error}")]
        out: list[BatchOutput] = []
        middle = len(batch) // 2
        for half in (batch.part(0, middle), batch.part(middle, len(batch))):
            try:
                out.append(self.process(half))
            except Exception as exc:
                self.forget_unchecked()
                out += self.process_isolating(half, exc)
        return out

    def remember_certificates(self, frames: list[bytes]) -> int:
        """Admit the certificates that signed ``frames`` (stored by an earlier session on this
        output) to the trust store, as if they had just been received: after a restart, a device's
        digest-signed frames resolve at once instead of waiting for its next certificate-signed
        one (YD/T 3957: a signer sends its certificate at least once a second).  Returns how many."""
        if self.verifier is None or not frames:
            return 0
        buf, offsets = envelope.frames_to_buffer(frames)
        p = envelope.parse_batch(buf, offsets)
        raw = buf.tobytes()
        certificates = {
            raw[p.signer_start[i] : p.signer_end[i]]
            for i in np.flatnonzero((p.status == envelope.OK) & (p.signer_kind == envelope.SIGNER_CERTIFICATE)).tolist()
            if p.signer_end[i] - p.signer_start[i] <= MAX_CERTIFICATE_BYTES
        }
        for certificate in certificates:
            self.verifier.store.admit(certificate)
        return len(certificates)

    def forget_unchecked(self) -> None:
        """After a failure: the batches waiting for their message field checks are not checked
        (a table that made the batch fail must not fail every later check); counted in
        ``unchecked_after_error``."""
        self.unchecked_after_error += self._unchecked.clear()

    def _number(self, batch: Received) -> np.ndarray:
        """The ``rx_seq`` of each frame: the batch's own numbers (from a stream), else the next ones."""
        if batch.rx_seq:
            return np.asarray(batch.rx_seq, dtype=np.int64)
        n = len(batch)
        self.next_rx_seq += n
        return np.arange(self.next_rx_seq - n, self.next_rx_seq, dtype=np.int64)

    def rejected(self, batch: Received, reason: str, sizes: list[int] | None = None) -> BatchOutput:
        """Reject rows for every frame of ``batch`` (``malformed``, with ``reason``): the type
        and sender come from the topic alone.  ``sizes``: the frames' sizes where only their
        start was kept."""
        n = len(batch)
        rx_seq = self._number(batch)
        framing = [self.sources.framing_of(t).value for t in batch.topics]
        relay = [self.sources.relay_of(t) for t in batch.topics]
        parsed = [
            topics.parse_uplink_tail(t) if r else topics.parse_uplink(t, self.topic_prefix) for t, r in zip(batch.topics, relay)
        ]
        msg_type = [t.msg_type.value if t else UNKNOWN_TYPE for t in parsed]
        columns: dict[str, pa.Array] = {name: pa.nulls(n, SCHEMA.field(name).type) for name in SCHEMA.names}
        columns |= {
            "rx_seq": pa.array(rx_seq),
            "received_at": pa.array(batch.received_us, pa.timestamp("us", tz="UTC")),
            "topic": pa.array(batch.topics, pa.string()),
            "device_kind": pa.array([t.device_kind if t else None for t in parsed], pa.string()),
            "sender_id": pa.array([t.device_id if t else None for t in parsed], pa.string()),
            "duplicate": pa.array(np.zeros(n, dtype=np.bool_)),
            "auth": pa.array([Verdict.MALFORMED.value] * n, pa.string()),
            "auth_reason": pa.array([reason] * n, pa.string()),
            "decode_ok": pa.array(np.zeros(n, dtype=np.bool_)),
            "reject_reason": pa.array([reason] * n, pa.string()),
            "frame_size": pa.array(sizes if sizes is not None else [len(f) for f in batch.frames], pa.int32()),
            "frame": pa.array(batch.frames, pa.binary()),
            "framing": pa.array(framing, pa.string()),
            "relay": pa.array(relay, pa.string()),
        }
        return BatchOutput(_by_type(pa.table(columns, schema=SCHEMA), msg_type), {})

    def process_stream(self, batches: Iterable[Received]) -> Iterator[BatchOutput]:
        """:meth:`process` for consecutive batches, in order, one batch ahead: batch k+1 is
        decoded and checked while the signature workers verify batch k."""
        ahead: BatchInProgress | None = None
        for batch in batches:
            begun = self.begin(batch)
            if ahead is not None:
                yield self.finish(ahead, flush_checks=False)
            ahead = begun
        if ahead is not None:
            yield self.finish(ahead)

    def begin(self, batch: Received) -> BatchInProgress:
        """First half of :meth:`process`: decode, check and send the signatures to the workers.
        Batches must begin, and then finish, in arrival order."""
        adapted = adapt(batch, self.sources)  # the messages of each payload, by its source's framing
        batch = adapted.received
        n = len(batch)
        rx_seq = self._number(batch)
        buf, offsets = envelope.frames_to_buffer(batch.frames)
        p = envelope.parse_batch(buf, offsets)
        fallback = Fallback(batch.frames)
        for i, problem in enumerate(adapted.problem):
            if problem is not None:
                fallback.reject(i, problem)
        raw = buf.tobytes()
        self._check_signer_certificates(raw, p, fallback)
        self._recover_envelopes(p, fallback)

        # Topic: who sent it, and the type it claims when the frame itself cannot say.
        parsed_topics = [
            topics.parse_uplink_tail(t) if relay else topics.parse_uplink(t, self.topic_prefix)
            for t, relay in zip(batch.topics, adapted.relay)
        ]
        status, msg_index = p.status.tolist(), p.msg_index.tolist()
        topic_type = [t.msg_type.value if t else None for t in parsed_topics]
        msg_type = [
            _TYPE_NAME[msg_index[i]] if status[i] == envelope.OK and msg_index[i] >= 0 else (topic_type[i] or UNKNOWN_TYPE)
            for i in range(n)
        ]
        sender = [named or (t.device_id if t else None) for named, t in zip(adapted.sender, parsed_topics)]
        kind = [t.device_kind if t else ("RSU" if named else None) for named, t in zip(adapted.sender, parsed_topics)]
        for i, claimed in enumerate(topic_type):
            if claimed is not None and status[i] == envelope.OK and claimed != msg_type[i]:
                fallback.reject(i, f"topic says {claimed} but the frame is {msg_type[i]}")
        self._check_aids(p, fallback)  # before the contents: nothing of a rejected frame reaches their tables

        verifying = self._start_verify(batch, raw, p, fallback.decoded)
        tables, bsm_frames, bsm_rows = self._contents(buf, p, fallback, rx_seq, sender)
        return BatchInProgress(
            batch, rx_seq, p, fallback, verifying, tables, bsm_frames, bsm_rows, msg_type, sender, kind, adapted
        )

    @staticmethod
    def _check_aids(p: envelope.Parsed, fallback: Fallback) -> None:
        """A signed frame whose header AID belongs to no application of its message type is
        rejected (:func:`v2x.messages.aid_misfit`): nothing of it reaches the content tables."""
        signed = (p.status == envelope.OK) & (p.content == envelope.CONTENT_SIGNED) & (p.msg_index >= 0)
        for i in np.flatnonzero(signed).tolist():
            if fallback.is_rejected(i):
                continue
            why = aid_misfit(MESSAGE_TYPE_BY_INDEX[int(p.msg_index[i])], int(p.aid[i]))
            if why is not None:
                fallback.reject(i, why, verify=True)

    def _check_signer_certificates(self, raw: bytes, p: envelope.Parsed, fallback: Fallback) -> None:
        """A signer certificate beyond MAX_CERTIFICATE_BYTES is rejected undecoded; one that is
        not a canonical COER certificate sends its frame to the reference decoder."""
        for i in np.flatnonzero((p.status == envelope.OK) & (p.signer_kind == envelope.SIGNER_CERTIFICATE)).tolist():
            span = int(p.signer_end[i] - p.signer_start[i])
            if span > MAX_CERTIFICATE_BYTES:
                p.status[i] = envelope.BAD_SIGNER
                fallback.reject(
                    i, f"signer certificate of {span} octets exceeds the limit of {MAX_CERTIFICATE_BYTES} (policy); not decoded"
                )
            elif not self._certificate_decodes(raw[p.signer_start[i] : p.signer_end[i]]):
                p.status[i] = envelope.BAD_SIGNER

    @staticmethod
    def _recover_envelopes(p: envelope.Parsed, fallback: Fallback) -> None:
        """Every frame the envelope kernel could not read goes to the reference decoder (up to
        MAX_FALLBACK_SIGNED_BYTES for a signed one); what it reads fills the kernel's columns,
        what it cannot is rejected with both reasons."""
        for i in np.flatnonzero(p.status != envelope.OK).tolist():
            if fallback.is_rejected(i):
                continue
            what = uper.STATUS_TEXT.get(int(p.status[i]), "error")
            frame = fallback.frames[i]
            if len(frame) > MAX_FALLBACK_SIGNED_BYTES and frame[1:2] == b"\x81":
                fallback.reject(
                    i,
                    f"{what}: a signed frame of {len(frame)} octets that the fast path cannot read is not decoded beyond "
                    f"{MAX_FALLBACK_SIGNED_BYTES} octets (policy)",
                )
                continue
            d = fallback.decode(i)
            if d is None:
                fallback.explain(i, what)
                continue
            try:
                _fill_from_reference(p, i, d)
            except FrameError as exc:
                del fallback.decoded[i]
                fallback.reject(i, f"{what}: {exc}")

    def finish(self, begun: BatchInProgress, *, flush_checks: bool = True) -> BatchOutput:
        """Second half of :meth:`process`: verdicts, msgCnt continuity and the rows.

        The message field checks of a batch run with it when ``flush_checks``; otherwise they
        wait for later batches (:class:`UncheckedBatches`) and their violations come with the
        output of the batch that runs them.  The last batch of a stream must flush."""
        batch, rx_seq, p, fallback, tables, msg_type, sender, kind = (
            begun.batch,
            begun.rx_seq,
            begun.parsed,
            begun.fallback,
            begun.tables,
            begun.msg_type,
            begun.sender,
            begun.kind,
        )
        n = len(batch)
        verified = self._finish_verify(begun.verifying, batch.received_us, fallback)
        auth, auth_reason, signer, signer_kind = verified.auth, verified.reason, verified.signer, verified.signer_kind
        if not self.sources.envelope_only():
            _unverifiable_framings(begun.adapted.framing, auth, auth_reason)

        ok = fallback.accepted()
        bsm_core = _bsm_core(n, ok, begun.bsm_frames, begun.bsm_rows)
        # msgCnt continuity (PDR, GB/T 45315 Annex C) over the frames that may be believed (_judge_continuity).
        cnt = np.where(ok, p.msg_cnt, -1).astype(np.int16)
        received = np.array(batch.received_us, dtype=np.int64)
        generated = np.where(ok, clock.unix_us_from_time64_array(p.generation_time), -1)
        if not self.sources.envelope_only():  # a framing without a header may stamp its frames itself
            sent = np.array(begun.adapted.sent_us, dtype=np.int64)
            generated = np.where(ok & (generated < 0), sent, generated)
        streams_of = _stream_senders(sender, begun.adapted.relay)
        sender_ids, gaps, dup, ipg_us = self._judge_continuity(
            streams_of, msg_type, bsm_core["vehicle_id"].to_pylist(), signer, ok, auth, cnt, generated, received
        )
        has_gen = generated >= 0
        columns = {
            "rx_seq": pa.array(rx_seq),
            "received_at": pa.array(received, pa.timestamp("us", tz="UTC")),
            "generated_at": pa.array(generated, pa.timestamp("us", tz="UTC"), mask=~has_gen),
            "latency_ms": pa.array((received - generated) / 1000.0, mask=~has_gen),
            "topic": pa.array(batch.topics, pa.string()),
            "device_kind": pa.array(kind, pa.string()),
            "sender_id": pa.array(sender, pa.string()),
            "msg_cnt": pa.array(cnt, mask=cnt < 0),
            "msg_cnt_gap": pa.array(gaps, mask=gaps == continuity.NO_GAP),
            "ipg_ms": pa.array(ipg_us / 1000.0, mask=ipg_us < 0),
            "duplicate": pa.array(dup),
            "aid": pa.array(p.aid, mask=(p.aid < 0) | ~ok),
            "signer": pa.array(signer, pa.string()),
            "signer_kind": pa.array(signer_kind, pa.string()),
            "auth": pa.array(auth, pa.string()),
            "auth_reason": pa.array(auth_reason, pa.string()),
            "decode_ok": pa.array(ok),
            "reject_reason": pa.array(fallback.reasons, pa.string()),
            "frame_size": pa.array([len(f) for f in begun.adapted.stored], pa.int32()),
            **bsm_core,
            "frame": pa.array(begun.adapted.stored, pa.binary()),
            "framing": pa.array(begun.adapted.framing, pa.string()),
            "edition": pa.array(_editions(ok, fallback.decoded), pa.string()),
            "relay": pa.array(begun.adapted.relay, pa.string()),
        }
        table = pa.table(columns, schema=SCHEMA)
        self._unchecked.add({"messages": table, **tables})
        stream_violations = self._judge_streams(
            rx_seq,
            sender_ids,
            auth,
            sender,
            signer,
            signer_kind,
            generated,
            gaps,
            *_bsm_fields(n, begun.bsm_frames, begun.bsm_rows),
        )
        found = [stream_violations]
        if flush_checks or self._unchecked.due():
            found.append(self._unchecked.check(self._checks))
        violations = pa.concat_tables(found)
        if violations.num_rows:
            tables["violations"] = violations
        return BatchOutput(_by_type(table, msg_type), tables)

    def _judge_continuity(
        self,
        sender: list[str | None],
        msg_type: list[str],
        vehicle_id: list[str | None],
        signer: list[str | None],
        ok: np.ndarray,
        auth: list[str],
        cnt: np.ndarray,
        generated_us: np.ndarray,
        received_us: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each frame's stream index and its msgCnt continuity (gap, duplicate, IPG µs;
        :mod:`pipeline.ingest.continuity`), in arrival order, over the frames that may be believed: a
        replay or a forgery carries someone's msgCnt but is not a message of that sender.  A
        stream is (sender, type, temporary id, certificate): msgCnt restarts at random on a
        pseudonym change (GB/T 45315 7.4.5), which is not loss."""
        authentic = ok & np.array([a in AUTHENTIC for a in auth], dtype=np.bool_)
        streams = self._sender_ids([(sender[i] or "?", msg_type[i], vehicle_id[i], signer[i]) for i in range(len(auth))])
        return (streams, *self._continuity.judge(streams, np.where(authentic, cnt, -1), generated_us, received_us))

    def _judge_streams(
        self,
        rx_seq: np.ndarray,
        streams: np.ndarray,
        auth: list[str],
        sender: list[str | None],
        signer: list[str | None],
        signer_kind: list[str | None],
        generated_us: np.ndarray,
        gaps: np.ndarray,
        bsm_frames: np.ndarray,
        vehicle_id: np.ndarray,
        lat: np.ndarray,
        lon: np.ndarray,
        events: np.ndarray,
    ) -> pa.Table:
        """Violations of the stream checks (:mod:`pipeline.ingest.signer_rules`) among the verified BSMs
        (``bsm_frames``, with the fields of :func:`_bsm_fields`)."""
        judged = np.zeros(len(auth), dtype=np.bool_)
        judged[bsm_frames] = True
        judged &= np.array([a == Verdict.SUCCESS.value for a in auth], dtype=np.bool_)
        return self._sender_rules.judge(
            rx_seq, streams, judged, sender, signer, signer_kind, generated_us, gaps, vehicle_id, lat, lon, events
        )

    def _contents(
        self, buf: np.ndarray, p: envelope.Parsed, fallback: Fallback, rx_seq: np.ndarray, sender: list[str | None]
    ) -> tuple[dict[str, pa.Table], np.ndarray, np.ndarray]:
        """Decode message contents: numba for BSM/SPAT/RSM (asn1tools where it steps aside or to
        name the reason of a reject), asn1tools for MAP and RSI.  Returns the content tables and,
        for the telemetry rows, the batch indices of the BSMs with their rows."""
        tables: dict[str, pa.Table] = {}
        bsm_frames, bsm_rows = np.zeros(0, np.int64), np.zeros((0, len(BSM_COLUMNS)), np.int64)
        ok = (p.status == envelope.OK) & fallback.accepted()
        decoded = fallback.decoded
        for msg_type, dec in FAST_PATH.items():
            of_type = np.flatnonzero(ok & (p.msg_index == msg_type.frame_index))
            if not of_type.size:
                continue
            fast = np.array([i for i in of_type if i not in decoded], dtype=np.int64)
            got = decode_contents(dec, buf, p.payload_start[fast], p.payload_end[fast])
            good = got.status == uper.OK
            slow = [int(i) for i in of_type if i in decoded]
            for k in np.flatnonzero(~good):
                i = int(fast[k])
                if got.status[k] != uper.FALLBACK and fallback.decode(i) is None:
                    fallback.explain(i, uper.STATUS_TEXT[int(got.status[k])])
                elif fallback.decode(i) is not None:
                    slow.append(i)
            for moved in self._sent_in_older_editions(fast, good, fallback, sender):
                good[moved] = False
                slow.append(int(fast[moved]))
            kept = good[got.children[:, 0]] if len(got.children) else np.zeros(0, dtype=np.bool_)
            rows, seqs = [got.rows[good]], [rx_seq[fast[good]]]
            kids, kid_seqs = [got.children[kept]], [rx_seq[fast[got.children[kept, 0]]]]
            for i in slow:
                self._reread(decoded[i], sender[i])
                try:
                    row, children = dec.reference(decoded[i].message or {})
                except (KeyError, TypeError, ValueError) as exc:  # a shape our schema edition does not know
                    fallback.reject(i, f"{msg_type.value} content not understood: {exc!r}")
                    continue
                rows.append(np.array([row], dtype=np.int64))
                seqs.append(rx_seq[[i]])
                if children:
                    kids.append(np.array(children, dtype=np.int64))
                    kid_seqs.append(np.full(len(children), rx_seq[i]))
            frames_of_rows = np.concatenate([fast[good], np.array(slow, dtype=np.int64)])
            rows_matrix = np.vstack(rows)
            if msg_type is MessageType.BSM:
                bsm_frames, bsm_rows = frames_of_rows, rows_matrix
            tables[msg_type.value.lower()] = to_arrow(dec.columns, rows_matrix, np.concatenate(seqs))
            tables[dec.child_table] = to_arrow(dec.child_columns, np.vstack(kids), np.concatenate(kid_seqs))

        links, lanes, movements, items, sections, waiting = [], [], [], [], [], []
        roadside = np.flatnonzero(
            ok & ((p.msg_index == MessageType.MAP.frame_index) | (p.msg_index == MessageType.RSI.frame_index))
        )
        decodes = {i: fallback.decode(i) for i in roadside.tolist()}
        self._learn_editions(fallback, sender)
        for i, d in decodes.items():
            if d is None:
                continue
            self._reread(d, sender[i])
            seq = {"rx_seq": int(rx_seq[i])}
            try:
                if d.msg_type is MessageType.MAP:
                    ls, ms = map_rsi.map_rows(d.message or {})
                    ks = map_rsi.map_links(d.message or {})
                    ss, ws = day_ii.map_addition_rows(d.message or {})
                else:
                    rs = map_rsi.rsi_rows(d.message or {})
            except (KeyError, TypeError, ValueError) as exc:
                fallback.reject(i, f"{d.msg_type.value if d.msg_type else 'message'} content not understood: {exc!r}")
                continue
            if d.msg_type is MessageType.MAP:
                links += [{**seq, **r} for r in ks]
                lanes += [{**seq, **r} for r in ls]
                movements += [{**seq, **r} for r in ms]
                sections += [{**seq, **r} for r in ss]
                waiting += [{**seq, **r} for r in ws]
            else:
                items += [{**seq, **r} for r in rs]
        for i, d in decoded.items():  # msgCnt sits after a preamble whose length depends on the edition
            if d.edition is not editions.CURRENT and d.msg_cnt is not None:
                p.msg_cnt[i] = d.msg_cnt
        for name, records in (
            ("map_links", links),
            ("map_lanes", lanes),
            ("map_movements", movements),
            ("rsi_items", items),
            ("map_sections", sections),  # the Day-II additions to MAP
            ("map_waiting_areas", waiting),
        ):
            if records:
                tables[name] = pa.Table.from_pylist(records, schema=map_rsi.SCHEMAS.get(name) or day_ii.SCHEMAS[name])
        tables.update(self._day_ii_contents(buf, p, ok, fallback, rx_seq))
        return tables, bsm_frames, bsm_rows

    @staticmethod
    def _day_ii_contents(
        buf: np.ndarray, p: envelope.Parsed, ok: np.ndarray, fallback: Fallback, rx_seq: np.ndarray
    ) -> dict[str, pa.Table]:
        """The Day-II content tables (:mod:`pipeline.decode.day_ii`) of the accepted Day-II
        frames: PSM, VIR and SSM from their numba decoders (:mod:`pipeline.decode.psm`,
        :mod:`pipeline.decode.vir`, :mod:`pipeline.decode.ssm`) where they read the message, everything else from the
        asn1tools decode; a message whose rows cannot be made is rejected with why."""
        tables: dict[str, pa.Table] = {}
        fast = []
        psms = np.flatnonzero(ok & (p.msg_index == MessageType.PSM.frame_index))
        if psms.size:
            rows, status = psm.decode_psms(buf, p.payload_start[psms], p.message_bit[psms], p.message_end[psms])
            good = status == uper.OK
            tables["psm"] = day_ii.psm_table(rows[good], rx_seq[psms[good]])
            fast.append(psms[good])
            _explain_day_ii(fallback, psms, status)
        virs = np.flatnonzero(ok & (p.msg_index == MessageType.VIR.frame_index))
        if virs.size:
            rows, status, reqs = vir.decode_virs(buf, p.payload_start[virs], p.message_bit[virs], p.message_end[virs])
            good = status == uper.OK
            tables["vir"], tables["vir_requests"] = day_ii.vir_tables(rows[good], _kept(reqs, good), rx_seq[virs[good]])
            fast.append(virs[good])
            _explain_day_ii(fallback, virs, status)
        ssms = np.flatnonzero(ok & (p.msg_index == MessageType.SSM.frame_index))
        if ssms.size:
            rows, status, objects = ssm.decode_ssms(buf, p.payload_start[ssms], p.message_bit[ssms], p.message_end[ssms])
            good = status == uper.OK
            tables["ssm"], tables["ssm_objects"] = day_ii.ssm_tables(rows[good], _kept(objects, good), rx_seq[ssms[good]])
            fast.append(ssms[good])
            _explain_day_ii(fallback, ssms, status)
        records: dict[str, list[dict[str, Any]]] = {}
        read = np.concatenate(fast) if fast else np.zeros(0, dtype=np.int64)
        slow = np.flatnonzero(ok & (p.msg_index >= envelope.DAY_II_FIRST_INDEX) & ~np.isin(np.arange(len(ok)), read))
        for i in slow.tolist():
            d = fallback.decode(i)
            if d is None or d.msg_type is None:
                continue
            try:
                rows_of = day_ii.rows_of(d.msg_type.value, d.message or {})
            except (KeyError, TypeError, ValueError) as exc:
                fallback.reject(i, f"{d.msg_type.value} content not understood: {exc!r}")
                continue
            seq = int(rx_seq[i])
            for name, found in rows_of.items():
                records.setdefault(name, []).extend({"rx_seq": seq, **r} for r in found)
        for name, found in records.items():
            if found:
                table = pa.Table.from_pylist(found, schema=day_ii.SCHEMAS[name])
                tables[name] = pa.concat_tables([tables[name], table]) if name in tables else table
        return tables

    def _sent_in_older_editions(
        self, fast: np.ndarray, good: np.ndarray, fallback: Fallback, sender: list[str | None]
    ) -> list[int]:
        """The frames (indices in ``fast``) the fast path read whole as 2020 frames although their
        sender sends an older edition that reads them whole too (:meth:`_reread`); re-read in it."""
        self._learn_editions(fallback, sender)
        if not self._sender_editions:
            return []
        moved = []
        for k in np.flatnonzero(good).tolist():
            i = int(fast[k])
            if sender[i] not in self._sender_editions:
                continue
            try:  # not fallback.decode: a frame the fast path read stays accepted whatever happens here
                d = decode_frame(fallback.frames[i])
            except FrameError:
                continue
            if self._reread(d, sender[i]):
                fallback.decoded[i] = d
                moved.append(k)
        return moved

    def _learn_editions(self, fallback: Fallback, sender: list[str | None]) -> None:
        """Each sender's edition, from its frames only an older edition reads (:mod:`v2x.editions`)."""
        for i, decoded in fallback.decoded.items():
            who = sender[i]
            if decoded.edition is not editions.CURRENT and who is not None:
                self._sender_editions[who] = decoded.edition

    def _reread(self, d: DecodedFrame, who: str | None) -> bool:
        """Read ``d`` again in its sender's older edition, if that reads it whole.  A few T/CSAE
        53-2017 BSMs, SPATs and RSMs in ten also decode whole as 2020 frames, with other values;
        once a sender has shown its edition, its frames are taken in it."""
        edition = self._sender_editions.get(who or "")
        if edition is None or d.edition is edition:
            return False
        try:
            d.msg_type, d.message = editions.decode(d.payload, edition)
        except Exception:
            return False  # not a frame of that edition: the 2020 reading stands
        d.edition = edition
        d.msg_cnt = msg_cnt_of(d.message)
        return True

    def _start_verify(self, batch: Received, raw: bytes, p: envelope.Parsed, decoded: dict[int, DecodedFrame]) -> _Verifying:
        """Check every signed frame the envelope parser accepted (in frame order, against the
        store) and hand the signatures left to verify to the workers, which verify them while
        the caller decodes contents."""
        n = len(batch)
        v = _Verifying([Verdict.MALFORMED.value] * n, [None] * n, [None] * n, [None] * n)
        content_kind, status = p.content.tolist(), p.status.tolist()
        signed: list[int] = []
        for i in range(n):
            if status[i] != envelope.OK:
                continue
            if content_kind[i] == envelope.CONTENT_UNSECURED:
                v.auth[i], v.reason[i] = Verdict.UNSIGNED_MESSAGE.value, "unsecuredData: no signature"
            else:
                signed.append(i)
        spdus = _spdus(raw, p, signed, decoded, batch.received_us)
        for i, kind in zip(signed, spdus.signer_kind):
            v.signer_kind[i] = kind
        if self.verifier is None:
            for i in signed:
                v.auth[i], v.reason[i] = NOT_VERIFIED, NO_TRUST_ANCHORS
            return v
        v.signatures = self.signature_workers.batch()
        for i, checked in zip(signed, self.verifier.check_batch(spdus)):
            if isinstance(checked, PendingSignature):
                v.pending.append(i)
                v.jobs.append(checked)
                v.signatures.add(checked.job)
            else:
                v.auth[i], v.reason[i], v.signer[i] = checked.verdict.value, checked.reason, checked.signer
        v.signatures.submit()
        return v

    def _finish_verify(self, v: _Verifying, received_us: list[int], fallback: Fallback) -> _Verifying:
        """The verdicts, once the workers are done: a frame rejected while decoding is
        ``malformed`` with the reason; the replay window goes in arrival order."""
        if v.signatures is not None:
            assert self.verifier is not None  # signatures are only started with a verifier
            success, duplicate = Verdict.SUCCESS.value, Verdict.DUPLICATE_MESSAGE.value
            conclude, seen_before = self.verifier.conclude, self._replays.seen_before
            for i, job, ok in zip(v.pending, v.jobs, v.signatures.results()):
                if fallback.is_rejected(i) and i not in fallback.verified_anyway:
                    continue
                verdict = conclude(job, ok)
                v.signer[i] = verdict.signer
                if not ok:
                    v.auth[i], v.reason[i] = verdict.verdict.value, verdict.reason
                elif seen_before(job.signed, received_us[i]):
                    v.auth[i], v.reason[i] = duplicate, "signed data already received (replay)"
                else:
                    v.auth[i] = success
        for i, reason in fallback.rejected():
            if i in fallback.verified_anyway and v.auth[i] not in BELIEVED:
                continue  # refuted by its signature check (e.g. an AID its certificate does not grant): that verdict stays
            v.auth[i], v.reason[i], v.signer[i] = Verdict.MALFORMED.value, reason, None
        return v


def _kept(children: np.ndarray, good: np.ndarray) -> np.ndarray:
    """The nested rows of the messages a decoder read whole (``good``), their parent column
    renumbered among those messages (a message it refused may have left rows half written)."""
    kept = children[good[children[:, 0]]] if len(children) else children
    kept[:, 0] = (np.cumsum(good) - 1)[kept[:, 0]]
    return kept


def _explain_day_ii(fallback: Fallback, frames: np.ndarray, status: np.ndarray) -> None:
    """Where a Day-II decoder refused a frame (not a step aside): asn1tools decodes it, to
    name the reason, or the frame goes on to the asn1tools rows if it reads it after all."""
    for k in np.flatnonzero((status != uper.OK) & (status != uper.FALLBACK)).tolist():
        i = int(frames[k])
        if fallback.decode(i) is None:
            fallback.explain(i, uper.STATUS_TEXT[int(status[k])])


def _stream_senders(sender: list[str | None], relay: list[str | None]) -> list[str | None]:
    """The sender of each row as msgCnt continuity keys its streams: a platform's copies of a
    device's messages are a stream of their own (``RSU-1@cloud``), never filling or doubling the device's."""
    return [s if r is None or s is None else f"{s}@{r}" for s, r in zip(sender, relay)]


def _editions(ok: np.ndarray, decoded: dict[int, DecodedFrame]) -> list[str | None]:
    """The edition of the message set each decoded frame is in (:mod:`v2x.editions`): the one
    asn1tools read it in, else the 2020 edition of the numba decoders; None for a reject."""
    current = editions.CURRENT.value
    return [(decoded[i].edition.value if i in decoded else current) if good else None for i, good in enumerate(ok.tolist())]


def _unverifiable_framings(framing: list[str], auth: list[str], reason: list[str | None]) -> None:
    """A frame of a framing without signatures (bare UPER, a vendor wrapper) cannot be verified:
    ``not_verified`` with the reason, not ``unsigned_message``, which blames a device for a
    signature its link never carries (the report says its authentication checks could not be
    judged, and why)."""
    unsigned = Verdict.UNSIGNED_MESSAGE.value
    for i, f in enumerate(framing):
        if f != "envelope" and auth[i] == unsigned:
            auth[i], reason[i] = NOT_VERIFIED, f"the {f} framing carries no signature: not verifiable"


class UncheckedBatches:
    """Batches whose message field checks have not run yet.  A run of the checks costs about
    25 ms of DuckDB planning whatever the number of rows (2.5 µs a frame in a batch of 10,000),
    so under load they run over several batches at once: every ``rows`` messages, or once the
    oldest waiting batch is ``seconds`` old."""

    def __init__(self, rows: int = 40_000, seconds: float = 2.0):
        self.rows, self.seconds = rows, seconds
        self._tables: dict[str, list[pa.Table]] = {}
        self._count = 0
        self._since = 0.0

    def add(self, tables: dict[str, pa.Table]) -> None:
        if not self._count:
            self._since = time.monotonic()
        for name, table in tables.items():
            self._tables.setdefault(name, []).append(table)
        self._count += tables["messages"].num_rows

    def clear(self) -> int:
        """Forget the waiting batches (after a failure while checking them); returns how many
        messages went unchecked."""
        count, self._tables, self._count = self._count, {}, 0
        return count

    def due(self) -> bool:
        return self._count >= self.rows or (self._count > 0 and time.monotonic() - self._since >= self.seconds)

    def check(self, con: duckdb.DuckDBPyConnection) -> pa.Table:
        """The violations of every waiting batch; none waits afterwards."""
        if not self._count:
            return field_checks.VIOLATIONS_SCHEMA.empty_table()
        tables = {name: pa.concat_tables(parts) for name, parts in self._tables.items()}
        self._tables, self._count = {}, 0
        return field_checks.message_violations(tables, con)


@dataclass
class BatchInProgress:
    """A batch between :meth:`BatchProcessor.begin` and :meth:`BatchProcessor.finish`."""

    batch: Received
    rx_seq: np.ndarray
    parsed: envelope.Parsed
    fallback: Fallback  # the reference decodes and the reject reasons of the batch's frames
    verifying: _Verifying
    tables: dict[str, pa.Table]
    bsm_frames: np.ndarray
    bsm_rows: np.ndarray
    msg_type: list[str]
    sender: list[str | None]
    kind: list[str | None]
    adapted: Adapted  # the frame each row keeps and its framing


@dataclass
class _Verifying:
    """Verification of one batch under way: per frame verdict, reason, signer (HashedId8 hex)
    and signer kind, and the signatures in the workers."""

    auth: list[str]
    reason: list[str | None]
    signer: list[str | None]
    signer_kind: list[str | None]
    pending: list[int] = field(default_factory=list)  # frames whose signature is in the workers
    jobs: list[PendingSignature] = field(default_factory=list)
    signatures: SignatureBatch | None = None
