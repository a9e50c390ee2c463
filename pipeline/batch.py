"""One ingest batch: received frames in; telemetry rows (one Arrow table per message type) and
content tables out.

Per frame: parse the envelope (numba), decode the content (numba for BSM/SPAT/RSM, asn1tools for
MAP/RSI and wherever the fast path steps aside), verify the signature, compute latency =
received_at - generationTime and the msgCnt gap since the sender's previous message, and run the
message field checks.  Frames that do not decode or verify become rows too, with
``reject_reason`` / ``auth`` saying why; nothing received is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from v2x import clock, topics
from v2x.messages import (
    ACCEL_UNIT,
    HEADING_UNIT,
    LATLON_UNIT,
    MESSAGE_TYPE_BY_INDEX,
    SPEED_UNAVAILABLE,
    SPEED_UNIT,
    YAW_UNIT,
    MessageType,
    message_set,
)
from v2x.security import Verdict, Verifier
from v2x.security.verify import PendingSignature, ReplayWindow, Verification
from v2x.security.workers import SignatureWorkers
from v2x.security.certificates import security_types

from pipeline import content, envelope, map_rsi, uper, validation
from pipeline.content import FAST_PATH, decode_contents, to_arrow
from pipeline.decode_bsm import BSM_COLUMNS
from pipeline.reference import DecodedFrame, FrameError, decode_frame
from pipeline.uper import ABSENT

UNKNOWN_TYPE = "UNKNOWN"
_SIGNER_KIND = {0: "digest", 1: "certificate", 2: "self", 3: "x509"}

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
        ("lat", pa.float64()),
        ("lon", pa.float64()),
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
    ]
)


_BSM = {name: k for k, name in enumerate(BSM_COLUMNS)}
# telemetry column: (BSM column, scale to physical units, Arrow type)
_BSM_CORE = {
    "sec_mark": ("sec_mark", None, pa.int32()),
    "lat": ("lat", LATLON_UNIT, pa.float64()),
    "lon": ("lon", LATLON_UNIT, pa.float64()),
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
    ids = [None] * n
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


def warm_up() -> None:
    """Compile every numba kernel and the asn1tools schemas before traffic arrives, so the first
    batch is not late (a compile holds the GIL and would stall the receive loop)."""
    envelope.warm_up()
    content.warm_up()
    message_set()
    security_types()


@dataclass
class BatchOutput:
    telemetry: dict[str, pa.Table]  # message type -> one row per received frame
    tables: dict[str, pa.Table]  # content table name -> rows keyed by rx_seq


@dataclass
class Received:
    """Frames received since the last batch, in arrival order."""

    topics: list[str] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)
    received_us: list[int] = field(default_factory=list)

    def add(self, topic: str, frame: bytes, received_us: int) -> None:
        self.topics.append(topic)
        self.frames.append(frame)
        self.received_us.append(received_us)

    def __len__(self) -> int:
        return len(self.frames)


def _fill_from_reference(p: envelope.Parsed, i: int, d: DecodedFrame) -> None:
    """Write an asn1tools decode into row i of the kernel columns (fallback path)."""
    p.status[i] = envelope.OK
    p.content[i] = envelope.CONTENT_SIGNED if d.content == "signed" else envelope.CONTENT_UNSECURED
    p.msg_index[i] = d.msg_type.frame_index if d.msg_type else -1
    p.msg_cnt[i] = d.msg_cnt if d.msg_cnt is not None else -1
    if d.aid is not None:
        p.aid[i] = d.aid
    p.generation_time[i] = d.generation_time if d.generation_time is not None else -1


AUTHENTIC = frozenset({Verdict.SUCCESS.value, "not_verified", Verdict.UNSIGNED_MESSAGE.value})  # not refuted by verification


class BatchProcessor:
    """Turns batches into rows; keeps per-sender msgCnt state across batches.  Signatures are
    verified by ``signature_workers`` (inline if None)."""

    def __init__(self, verifier: Verifier | None, topic_prefix: str = "", first_rx_seq: int = 0,
                 signature_workers: SignatureWorkers | None = None):
        self.verifier = verifier
        self.signature_workers = signature_workers or SignatureWorkers(0)
        self._replays = ReplayWindow()
        self.topic_prefix = topic_prefix
        self.next_rx_seq = first_rx_seq
        self._sender_index: dict[tuple[str, str, str | None, str | None], int] = {}
        self._last_cnt = np.full(1024, -1, dtype=np.int16)
        self._certificates: dict[bytes, bool] = {}

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
        if len(self._sender_index) > self._last_cnt.size:
            grown = np.full(2 * len(self._sender_index), -1, dtype=np.int16)
            grown[: self._last_cnt.size] = self._last_cnt
            self._last_cnt = grown
        return ids

    def process(self, batch: Received) -> BatchOutput:
        """Rows of a batch, grouped by message type (``UNKNOWN`` when neither frame nor topic
        says), and the content tables of the frames that decode."""
        n = len(batch)
        rx_seq = np.arange(self.next_rx_seq, self.next_rx_seq + n, dtype=np.int64)
        self.next_rx_seq += n
        buf, offsets = envelope.frames_to_buffer(batch.frames)
        p = envelope.parse_batch(buf, offsets)
        reject: list[str | None] = [None] * n
        decoded: dict[int, DecodedFrame] = {}
        raw = buf.tobytes()
        for i in np.flatnonzero((p.status == envelope.OK) & (p.signer_kind == envelope.SIGNER_CERTIFICATE)):
            if not self._certificate_decodes(raw[p.signer_start[i] : p.signer_end[i]]):
                p.status[i] = envelope.BAD_SIGNER
        for i in np.flatnonzero(p.status != envelope.OK):
            try:
                decoded[i] = decode_frame(batch.frames[i])
                _fill_from_reference(p, i, decoded[i])
            except FrameError as exc:
                reject[i] = f"{uper.STATUS_TEXT.get(int(p.status[i]), 'error')}: {exc}"
        tables, bsm_frames, bsm_rows = self._contents(batch.frames, buf, p, decoded, reject, rx_seq)

        # Topic: who sent it, and the type it claims when the frame itself cannot say.
        parsed_topics = [topics.parse_uplink(t, self.topic_prefix) for t in batch.topics]
        msg_type = [
            MESSAGE_TYPE_BY_INDEX[int(p.msg_index[i])].value
            if p.status[i] == envelope.OK and p.msg_index[i] >= 0
            else (parsed_topics[i].msg_type.value if parsed_topics[i] else UNKNOWN_TYPE)
            for i in range(n)
        ]
        sender = [t.device_id if t else None for t in parsed_topics]
        kind = [t.device_kind if t else None for t in parsed_topics]
        for i, t in enumerate(parsed_topics):
            if t is not None and p.status[i] == envelope.OK and t.msg_type.value != msg_type[i]:
                reject[i] = f"topic says {t.msg_type.value} but the frame is {msg_type[i]}"

        auth, auth_reason, signer, signer_kind = self._verify(batch, buf, p, decoded, reject)

        ok = np.array([r is None for r in reject])
        bsm_core = _bsm_core(n, ok, bsm_frames, bsm_rows)
        # msgCnt continuity (PDR, GB/T 45315 Annex C) follows the frames that may be believed:
        # a replay or a forgery carries someone's msgCnt but is not a message of that sender.
        # A sender is segmented by (temporary id, certificate): msgCnt restarts at random on a
        # pseudonym change (GB/T 45315 7.4.5), which is not loss.
        authentic = ok & np.array([a in AUTHENTIC for a in auth])
        gaps = np.full(n, -1, dtype=np.int16)
        dup = np.zeros(n, dtype=np.bool_)
        cnt = np.where(ok, p.msg_cnt, -1).astype(np.int16)
        vehicle_ids = bsm_core["vehicle_id"].to_pylist()
        sender_ids = self._sender_ids([(sender[i] or "?", msg_type[i], vehicle_ids[i], signer[i]) for i in range(n)])
        envelope.msg_cnt_gaps(sender_ids, np.where(authentic, cnt, -1).astype(np.int16), self._last_cnt, gaps, dup)

        received = np.array(batch.received_us, dtype=np.int64)
        generated = np.where(ok, clock.unix_us_from_time64_array(p.generation_time), -1)
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
            "msg_cnt_gap": pa.array(gaps, mask=gaps < 0),
            "duplicate": pa.array(dup),
            "aid": pa.array(p.aid, mask=(p.aid < 0) | ~ok),
            "signer": pa.array(signer, pa.string()),
            "signer_kind": pa.array(signer_kind, pa.string()),
            "auth": pa.array(auth, pa.string()),
            "auth_reason": pa.array(auth_reason, pa.string()),
            "decode_ok": pa.array(ok),
            "reject_reason": pa.array(reject, pa.string()),
            "frame_size": pa.array(np.diff(offsets).astype(np.int32)),
            **bsm_core,
            "frame": pa.array(batch.frames, pa.binary()),
        }
        table = pa.table(columns, schema=SCHEMA)
        violations = validation.message_violations({"messages": table, **tables})
        if violations.num_rows:
            tables["violations"] = violations
        types = np.array(msg_type)
        telemetry = {t: table.filter(pa.array(types == t)) for t in sorted(set(msg_type))}
        return BatchOutput(telemetry, tables)

    def _contents(
        self, frames: list[bytes], buf: np.ndarray, p: envelope.Parsed, decoded: dict[int, DecodedFrame],
        reject: list[str | None], rx_seq: np.ndarray,
    ) -> tuple[dict[str, pa.Table], np.ndarray, np.ndarray]:
        """Decode message contents: numba for BSM/SPAT/RSM (asn1tools where it steps aside or to
        name the reason of a reject), asn1tools for MAP and RSI.  Returns the content tables and,
        for the telemetry rows, the batch indices of the BSMs with their rows."""
        tables: dict[str, pa.Table] = {}
        bsm_frames, bsm_rows = np.zeros(0, np.int64), np.zeros((0, len(BSM_COLUMNS)), np.int64)
        ok = (p.status == envelope.OK) & np.array([r is None for r in reject], dtype=np.bool_)

        def reference(i: int) -> DecodedFrame | None:
            if i not in decoded:
                try:
                    decoded[i] = decode_frame(frames[i])
                except FrameError as exc:
                    reject[i] = str(exc)
                    return None
            return decoded[i]

        for msg_type, dec in FAST_PATH.items():
            of_type = np.flatnonzero(ok & (p.msg_index == msg_type.frame_index))
            if not of_type.size:
                continue
            fast = np.array([i for i in of_type if i not in decoded], dtype=np.int64)
            got = decode_contents(dec, buf, p.payload_start[fast], p.payload_end[fast])
            good = got.status == uper.OK
            kept = good[got.children[:, 0]] if len(got.children) else np.zeros(0, dtype=np.bool_)
            rows, seqs = [got.rows[good]], [rx_seq[fast[good]]]
            kids, kid_seqs = [got.children[kept]], [rx_seq[fast[got.children[kept, 0]]]]
            slow = [int(i) for i in of_type if i in decoded]
            for k in np.flatnonzero(~good):
                i = int(fast[k])
                if got.status[k] != uper.FALLBACK and reference(i) is None:
                    reject[i] = f"{uper.STATUS_TEXT[int(got.status[k])]}: {reject[i]}"
                elif reference(i) is not None:
                    slow.append(i)
            for i in slow:
                try:
                    row, children = dec.reference(decoded[i].message)
                except (KeyError, TypeError, ValueError) as exc:  # a shape our schema edition does not know
                    reject[i] = f"{msg_type.value} content not understood: {exc!r}"
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

        lanes, movements, items = [], [], []
        for i in np.flatnonzero(ok & ((p.msg_index == MessageType.MAP.frame_index) | (p.msg_index == MessageType.RSI.frame_index))):
            d = reference(int(i))
            if d is None:
                continue
            seq = {"rx_seq": int(rx_seq[i])}
            try:
                if d.msg_type is MessageType.MAP:
                    ls, ms = map_rsi.map_rows(d.message)
                else:
                    rs = map_rsi.rsi_rows(d.message)
            except (KeyError, TypeError, ValueError) as exc:
                reject[int(i)] = f"{d.msg_type.value} content not understood: {exc!r}"
                continue
            if d.msg_type is MessageType.MAP:
                lanes += [{**seq, **r} for r in ls]
                movements += [{**seq, **r} for r in ms]
            else:
                items += [{**seq, **r} for r in rs]
        for name, records in (("map_lanes", lanes), ("map_movements", movements), ("rsi_items", items)):
            if records:
                tables[name] = pa.Table.from_pylist(records, schema=map_rsi.SCHEMAS[name])
        return tables, bsm_frames, bsm_rows

    def _verify(
        self, batch: Received, buf: np.ndarray, p: envelope.Parsed, decoded: dict[int, DecodedFrame], reject: list[str | None]
    ) -> tuple[list[str], list[str | None], list[str | None], list[str | None]]:
        n = len(batch)
        auth: list[str] = [Verdict.MALFORMED.value] * n
        reason: list[str | None] = [None] * n
        signer: list[str | None] = [None] * n
        signer_kind: list[str | None] = [None] * n
        raw = buf.tobytes()
        pending: list[tuple[int, PendingSignature]] = []
        signatures = self.signature_workers.batch()
        content_kind, hash_ids, signer_kinds, aids, generation = (
            p.content.tolist(), p.hash_id.tolist(), p.signer_kind.tolist(), p.aid.tolist(), p.generation_time.tolist())
        tbs_start, tbs_end, signer_start, signer_end, r_start, s_start = (
            p.tbs_start.tolist(), p.tbs_end.tolist(), p.signer_start.tolist(), p.signer_end.tolist(), p.r_start.tolist(), p.s_start.tolist())
        for i in range(n):
            if reject[i] is not None:
                reason[i] = reject[i]
                continue
            if content_kind[i] == envelope.CONTENT_UNSECURED:
                auth[i], reason[i] = Verdict.UNSIGNED_MESSAGE.value, "unsecuredData: no signature"
                continue
            d = decoded.get(i)
            if d is not None:
                parts = (d.hash_id, d.tbs, d.signer_kind, d.signer, d.r, d.s)
            else:
                parts = (
                    envelope.HASH_NAMES[hash_ids[i]] if 0 <= hash_ids[i] < 3 else f"hash#{hash_ids[i]}",
                    raw[tbs_start[i] : tbs_end[i]],
                    _SIGNER_KIND[signer_kinds[i]],
                    raw[signer_start[i] : signer_end[i]],
                    raw[r_start[i] : r_start[i] + 32],
                    raw[s_start[i] : s_start[i] + 32],
                )
            hash_id, tbs, skind, sbytes, r, s = parts
            signer_kind[i] = skind
            if self.verifier is None:
                auth[i], reason[i] = "not_verified", "no trust anchors configured"
                continue
            gen = generation[i]
            checked = self.verifier.check(
                hash_id=hash_id, tbs=tbs, signer_kind=skind, signer=sbytes, aid=aids[i],
                generation_time64=gen if gen >= 0 else None, r=r, s=s, received_us=batch.received_us[i],
            )
            if isinstance(checked, PendingSignature):
                pending.append((i, checked))
                signatures.add(checked.job)
            else:
                auth[i], reason[i], signer[i] = checked.verdict.value, checked.reason, checked.signer
        # The signatures were verified in parallel with the loop above; the replay window goes
        # in arrival order.
        for (i, job), ok in zip(pending, signatures.results()):
            v = self.verifier.conclude(job, ok)
            if ok and self._replays.seen_before(job.signature, batch.received_us[i]):
                v = Verification(Verdict.DUPLICATE_MESSAGE, "signature already received (replay)", v.signer)
            auth[i], reason[i], signer[i] = v.verdict.value, v.reason, v.signer
        return auth, reason, signer, signer_kind
