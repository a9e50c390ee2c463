"""Which stored frames a device is judged on: one definition shared by the report, its range
slices, the HTML report's device table and the analysts' macros.

* **Timed frames.**  Latency counts the frames whose signature verified or that were not
  verified at all (``not_verified``): a forged or replayed frame's generationTime says nothing
  of its sender's timing (policy).
* **Counted frames.**  PDR (GB/T 45315 Annex C) counts a frame as received only when its
  verification did not refute it (``success``, ``not_verified``, ``unsigned_message``): a forged
  or replayed frame carries someone's msgCnt but is not a message of that sender, and the
  ingest's msgCnt continuity (:mod:`pipeline.ingest.continuity`) skips it the same way.
* **Receiver stalls.**  A second in which at least 90 % of at least 3 senders were late at once
  (each more than :data:`STALL_LATE_MS` above its own median latency, so a latency a network
  model adds to every device is not a stall) is the receiver's fault, not the devices' (policy).
  Frames received in such a second are left out of the latency figures, and their
  ``invalid_timestamp`` verdicts out of the authentication rate; such a frame counts as received
  for PDR, and the msgCnt hole it left is not counted missing.  The run FAILs the harness
  check ``run.receiver`` instead, so the verdict is never better than the truth.
"""

from __future__ import annotations

from typing import Any

NO_TRUST_ANCHORS = "no trust anchors configured"  # auth_reason of a signed frame the ingest had no anchors to verify
TIMED = "auth IN ('success', 'not_verified')"
RATED = f"decode_ok AND {TIMED}"  # frames a sender's transmit rate is measured over
SENT_AT = "coalesce(generated_at, received_at)"  # a framing without a send time: when it arrived
BELIEVED = ("success", "not_verified", "unsigned_message")  # verdicts that do not refute a frame
COUNTED = f"decode_ok AND msg_cnt IS NOT NULL AND auth IN {BELIEVED!r}"

STALL_LATE_MS = 300
STALLED_TABLE = "receiver_stalled_seconds"  # a temporary table: epoch_s, one row per stalled second
IN_STALL = f"coalesce(epoch_us(received_at) // 1000000 IN (SELECT epoch_s FROM {STALLED_TABLE}), false)"
LATE_IN_STALL = "in_stall AND auth = 'invalid_timestamp'"  # over rows that carry IN_STALL as in_stall
COUNTED_LATE_IN_STALL = f"{LATE_IN_STALL} AND msg_cnt IS NOT NULL"  # received, though not believed: PDR counts them


def pdr_excusing_stalls(counted: int, missing: int, late_in_stall: int) -> tuple[int, float | None]:
    """(missing, PDR) when the ``late_in_stall`` frames (with a msgCnt) count as received: each
    left a hole in its stream that the continuity counted missing."""
    missing = max(missing - late_in_stall, 0)
    received = counted + late_in_stall
    return missing, received / (received + missing) if received else None


RECEIVER_STALLS_SQL = f"""
WITH timed AS (
    SELECT sender_id, epoch_us(received_at) // 1000000 AS epoch_s, latency_ms FROM messages
    WHERE decode_ok AND latency_ms IS NOT NULL AND sender_id IS NOT NULL
), medians AS (
    SELECT sender_id, median(latency_ms) AS typical_ms FROM timed GROUP BY ALL
), per_second AS (
    SELECT t.epoch_s, count(DISTINCT t.sender_id) AS senders,
           count(DISTINCT t.sender_id) FILTER (WHERE t.latency_ms > m.typical_ms + {STALL_LATE_MS}) AS late_senders,
           count(*) FILTER (WHERE t.latency_ms > m.typical_ms + {STALL_LATE_MS}) AS late_frames,
           max(t.latency_ms) AS max_latency_ms
    FROM timed t JOIN medians m USING (sender_id) GROUP BY ALL
)
SELECT epoch_s, senders, late_senders, late_frames, max_latency_ms
FROM per_second WHERE senders >= 3 AND late_senders >= 0.9 * senders ORDER BY epoch_s
"""


def find_receiver_stalls(con: Any) -> list[tuple[int, int, int, int, float]]:
    """The stalled seconds of the run behind ``con`` (epoch_s, senders, late senders, late frames,
    worst latency), also kept in the temporary table the judging SQL reads (:data:`IN_STALL`)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {STALLED_TABLE} AS {RECEIVER_STALLS_SQL}")
    return [tuple(row) for row in con.execute(f"SELECT * FROM {STALLED_TABLE} ORDER BY epoch_s").fetchall()]


def mark_stalled_seconds(con: Any, epoch_seconds: list[int]) -> None:
    """Give ``con`` the stalled seconds a report found, so that its queries judge the same frames."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {STALLED_TABLE} (epoch_s BIGINT)")
    if epoch_seconds:
        con.executemany(f"INSERT INTO {STALLED_TABLE} VALUES (?)", [(int(s),) for s in epoch_seconds])


INLINE_STALLS = 4096  # up to this many stalled seconds, IN_STALL tests a list of constants


def judging(con: Any, sql: str, inline_limit: int = INLINE_STALLS) -> str:
    """``sql`` with :data:`IN_STALL` made cheap: the constant false when no second stalled (the
    usual case), a list of the stalled seconds when there are a few (about half the cost of the
    subquery over every row), the subquery otherwise.  A connection that never looked for
    stalls has none."""
    con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {STALLED_TABLE} (epoch_s BIGINT)")
    seconds = [
        int(s) for (s,) in con.execute(f"SELECT epoch_s FROM {STALLED_TABLE} ORDER BY 1 LIMIT {inline_limit + 1}").fetchall()
    ]
    if not seconds:
        return sql.replace(IN_STALL, "false")
    if len(seconds) <= inline_limit:
        listed = ", ".join(str(s) for s in seconds)
        return sql.replace(IN_STALL, f"coalesce(epoch_us(received_at) // 1000000 IN ({listed}), false)")
    return sql
