"""Replay: recorded traffic through today's decoders, verifier and rules, with the original
receive times, into a new run directory, so that an old capture is graded again after a decoder
or rule change (``v2x ingest --replay SOURCE --out OUT``).

A source is either a run directory (its stored frames, in ``rx_seq`` order: every frame the
ingest received, rejects included, each read with the framing it was received with) or a
capture file (read with the framings of ``sources``): JSON Lines, one received frame per line,
``{"topic": "V2X/OBU/OBU-7/BSM/UP", "received_us": 1764500000123456, "payload": "<base64>"}``
(:func:`write_capture` writes one).  Frames are batched as the live ingest batches them (every
:data:`BATCH_WINDOW_US` of receive time, at most :data:`~pipeline.ingest.inbox.MAX_BATCH`), so
msgCnt continuity, the replay window and the generationTime check see what they saw live.  A
replayed run directory carries over the source's ``run.json``, publish records and attack
ledgers, so its report is graded as the source's was.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from v2x.framing.sources import ENVELOPE_ONLY
from v2x.rundir import RunDir, write_json_atomic
from v2x.security import Verifier

from pipeline.decode.framing import Framing, unwrap
from pipeline.ingest.batch import BatchProcessor, Received
from pipeline.ingest.inbox import MAX_BATCH
from pipeline.ingest.sources import Framings, RecordedFramings
from pipeline.ingest.store import TelemetryWriter
from pipeline.ingest.summary import IngestStats, event_time

BATCH_WINDOW_US = 500_000  # the live ingest's flush interval (pipeline.ingest.session.FLUSH_INTERVAL_S)
READ_ROWS = 50_000  # rows read from a source run at a time


class ReplayError(ValueError):
    """A source that cannot be replayed (the message says which line or file, and why)."""


@dataclass(frozen=True)
class Recorded:
    """One received payload as recorded: its topic, receive time (Unix µs), the payload and, from
    a run directory, the framing it was read with and the platform that republished it."""

    topic: str
    received_us: int
    payload: bytes
    framing: Framing | None = None
    relay: str | None = None  # the platform that republished it (a run directory's rows say)


def _rows(run_dir: Path) -> Iterator[tuple[str, int, bytes, str, str | None]]:
    parts = sorted((run_dir / "telemetry").glob("msg_type=*/part-*.parquet"))
    if not parts:
        raise ReplayError(f"{run_dir}: no stored frames (telemetry/msg_type=*/part-*.parquet)")
    con = duckdb.connect()
    try:
        names = {
            r[0]
            for r in con.execute(
                "DESCRIBE SELECT * FROM read_parquet(?, union_by_name = true)", [[str(p) for p in parts]]
            ).fetchall()
        }
        framing = "coalesce(framing, 'envelope')" if "framing" in names else "'envelope'"  # runs before framings were recorded
        relay = "relay" if "relay" in names else "NULL"
        cur = con.execute(
            f"SELECT topic, epoch_us(received_at), frame, {framing}, {relay} FROM read_parquet(?, union_by_name = true) "
            "ORDER BY rx_seq",
            [[str(p) for p in parts]],
        )
        while rows := cur.fetchmany(READ_ROWS):
            for topic, received_us, frame, framed, relayed in rows:
                yield topic or "", int(received_us), bytes(frame or b""), framed, relayed
    except duckdb.Error as exc:
        raise ReplayError(f"{run_dir}: stored frames cannot be read: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()


def recorded_in_run(run_dir: Path) -> Iterator[Recorded]:
    """The payloads a run directory stored, in the order the ingest received them.  A payload
    that held several messages (a vendor wrapper of several BSMs) is one row per message, each
    keeping the payload: it is replayed once."""
    skip = 0
    for topic, received_us, frame, framed, relay in _rows(run_dir):
        if skip:
            skip -= 1
            continue
        try:
            framing = Framing(framed)
        except ValueError:
            raise ReplayError(f"{run_dir}: a row of unknown framing {framed!r}") from None
        skip = len(unwrap(framing, frame, topic)) - 1
        yield Recorded(topic, received_us, frame, framing, relay)


def recorded_in_capture(path: Path) -> Iterator[Recorded]:
    """The frames of a capture file (module docstring); a line that is not one is an error
    naming the line, not a frame skipped."""
    with open(path, encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                topic, received_us, payload = entry["topic"], entry["received_us"], entry["payload"]
                if not isinstance(topic, str) or not isinstance(received_us, int) or isinstance(received_us, bool):
                    raise TypeError("topic must be a string and received_us an integer")
                if not 0 <= received_us < 2**62:
                    raise ValueError(f"received_us {received_us} is not a Unix time in µs")
                frame = base64.b64decode(payload, validate=True)
            except (ValueError, KeyError, TypeError, binascii.Error) as exc:
                raise ReplayError(f"{path}:{number}: not a recorded frame ({type(exc).__name__}: {exc})") from None
            yield Recorded(topic, received_us, frame)


def write_capture(path: Path, frames: Iterable[Recorded]) -> int:
    """Write ``frames`` as a capture file; returns how many."""
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for r in frames:
            out.write(
                json.dumps({"topic": r.topic, "received_us": r.received_us, "payload": base64.b64encode(r.payload).decode()})
            )
            out.write("\n")
            count += 1
    return count


def batches(frames: Iterable[Recorded], window_us: int = BATCH_WINDOW_US, most: int = MAX_BATCH) -> Iterator[Received]:
    """Consecutive frames grouped as the live ingest groups them: a new batch every ``window_us``
    of receive time or ``most`` frames.  The recorded order is kept (receive times may step back
    when a source's clock did)."""
    batch, started = Received(), 0
    for r in frames:
        if len(batch) and (len(batch) >= most or r.received_us - started >= window_us):
            yield batch
            batch = Received()
        if not len(batch):
            started = r.received_us
        batch.add(r.topic, r.payload, r.received_us)
    if len(batch):
        yield batch


def _noting_framings(recorded: Iterable[Recorded], framings: RecordedFramings) -> Iterator[Recorded]:
    for r in recorded:
        if r.framing is not None:
            framings.by_topic[r.topic] = r.framing
        if r.relay is not None:
            framings.relays[r.topic] = r.relay
        yield r


def _carry_over(source: Path, out: RunDir) -> None:
    """The source run's manifest, publish records and attack ledgers, so the replay is graded alike."""
    if (source / "run.json").is_file():
        shutil.copyfile(source / "run.json", out.manifest)
    for folder in ("published", "attacks"):
        for path in sorted((source / folder).glob("*.json")) if (source / folder).is_dir() else []:
            shutil.copyfile(path, out.root / folder / path.name)


def replay(
    source: Path, out_dir: Path, verifier: Verifier | None, *, topic_prefix: str = "", sources: Framings = ENVELOPE_ONLY
) -> IngestStats:
    """Push the frames of ``source`` (a run directory or a capture file) through a fresh batch
    stage into the new run directory ``out_dir``; returns the counts, also written as its
    ``ingest/summary.json``."""
    out = RunDir(out_dir)
    if out.telemetry.is_dir() and any(out.telemetry.iterdir()):
        raise ReplayError(f"{out_dir} already holds telemetry; replay into a new directory")
    out.create()
    recorded: Iterable[Recorded]
    framings: Framings
    if source.is_dir():  # each payload is read as it was read when it was received
        framings = RecordedFramings()
        recorded = _noting_framings(recorded_in_run(source), framings)
        _carry_over(source, out)
    else:
        framings, recorded = sources, recorded_in_capture(source)
    stats = IngestStats(client_id="replay", end_cause="running")
    stats.events.append({"at": event_time(), "event": "replay", "detail": f"replay of {source}"})
    write_json_atomic(out.ingest / "progress.json", stats.as_dict())
    processor = BatchProcessor(verifier, topic_prefix, sources=framings)
    writer = TelemetryWriter(out.telemetry, out.tables)
    for batch in batches(recorded):
        output = processor.process(batch)
        writer.write(output.telemetry, output.tables)
        stats.received += len(batch)
        stats.count_part(output.telemetry, writer.rows_written)
    if verifier is not None and verifier.store.crl is not None:
        stats.crl = dataclasses.asdict(verifier.store.crl)
    stats.ended_at, stats.end_cause = time.time(), "stopped"
    write_json_atomic(out.ingest / "summary.json", stats.as_dict())
    write_json_atomic(out.ingest / "progress.json", stats.as_dict())
    return stats
