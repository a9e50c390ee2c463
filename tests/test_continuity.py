"""msgCnt continuity and inter-packet gaps per stream (pipeline.ingest.continuity), against a direct
count of what was sent and what arrived."""

from __future__ import annotations

import numpy as np

from pipeline.ingest.continuity import FILLS_HOLE, NO_GAP, StreamContinuity


def judge(c: StreamContinuity, rows: list[tuple[int, int, int, int]]):
    """rows of (stream, msgCnt, generated_us, received_us)."""
    a = np.array(rows, dtype=np.int64).reshape(-1, 4)
    return c.judge(a[:, 0], a[:, 1], a[:, 2], a[:, 3])


def test_gaps_wrap_at_128_and_persist_across_batches():
    c = StreamContinuity()
    gaps, dup, ipg = judge(
        c, [(0, 126, 0, 10), (0, 127, 100, 110), (1, 5, 0, 12), (0, 1, 300, 320), (0, 1, 300, 330), (1, 9, 400, 420)]
    )
    assert gaps.tolist() == [NO_GAP, 0, NO_GAP, 1, NO_GAP, 3]
    assert dup.tolist() == [False, False, False, False, True, False]
    assert ipg.tolist() == [-1, 100, -1, 210, 10, 408]
    gaps2, _, ipg2 = judge(c, [(0, 3, 500, 510)])
    assert gaps2.tolist() == [1] and ipg2.tolist() == [180]


def test_late_arrivals_fill_the_holes_they_left():
    """Frames 0..19 sent 100 ms apart, arriving with jitter that reorders them: the gaps add up to
    the number never received (frames 7 and 12 are lost), whatever the order."""
    rng = np.random.default_rng(3)
    sent = [k for k in range(20) if k not in (7, 12)]
    arrival = {k: k * 100_000 + int(rng.uniform(0, 350_000)) for k in sent}
    order = sorted(sent, key=arrival.get)
    assert order != sent  # the jitter did reorder
    c = StreamContinuity()
    gaps, dup, _ = judge(c, [(0, k % 128, k * 100_000, arrival[k]) for k in order])
    assert not dup.any()
    counted = gaps[gaps != NO_GAP]
    assert counted.sum() == 2
    assert (gaps == FILLS_HOLE).sum() > 0


def test_a_run_of_100_losses_is_loss_not_a_late_arrival():
    """msgCnt moves 101 forward modulo 128 (it reads as 27 back); generationTime says forward."""
    c = StreamContinuity()
    gaps, _, _ = judge(c, [(0, 10, 0, 5), (0, (10 + 101) % 128, 10_100_000, 10_100_005)])
    assert gaps.tolist() == [NO_GAP, 100]


def test_skipped_rows_leave_the_stream_alone():
    c = StreamContinuity()
    gaps, _, ipg = judge(c, [(0, 1, 0, 0), (0, -1, 50, 60), (0, 2, 100, 100)])
    assert gaps.tolist() == [NO_GAP, NO_GAP, 0] and ipg.tolist() == [-1, -1, 100]
