"""The compliance report of a run: metrics per message type from DuckDB, checked against a profile.

Metrics per message type and overall: messages, senders, per-sender transmit rate (Hz: received
plus msgCnt gaps over the generationTime span of each sender's verified messages), latency
p50/p95/p99 (received_at - generationTime), inter-packet gap p95/p99/max, PDR from msgCnt gaps
(GB/T 45315 Annex C: received / (received + missing)), missing against injected loss,
authentication success rate (over the frames whose signer resolved), and published vs received
vs stored.  Range-aware checks are judged on slices of the messages (:mod:`pipeline.report.slices`),
Day-1 applications by :mod:`pipeline.report.applications`.  Each check gives PASS, FAIL (std/derived
basis) or WARN (policy/unverified basis), or N/A without data."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from v2x.device import schedule
from v2x.editions import Edition
from v2x.rundir import RunDir

from pipeline.report.about import about_run
from pipeline.report.applications import application_checks, slices_needed
from pipeline.report.causes import failure_causes
from pipeline.report.model import (
    REPORT_VERSION,
    Applications,
    Check,
    CheckSpec,
    Crl,
    IngestEvent,
    MessageTypeMetrics,
    Overall,
    PlatformFidelity,
    Position,
    ProfileRef,
    RangeMetrics,
    Receivers,
    ReceiverStall,
    Report,
    Schedule,
    Security,
    SecurityClass,
    SliceMetrics,
    Summary,
)
from pipeline.report.profile import load_profile
from pipeline.report.slices import Receiver, Slice, load_receivers, run_receivers, slice_counts, slice_metrics
from pipeline.report.verdicts import judge
from pipeline.sql.judged import (
    COUNTED,
    COUNTED_LATE_IN_STALL,
    IN_STALL,
    LATE_IN_STALL,
    NO_TRUST_ANCHORS,
    RATED,
    SENT_AT,
    TIMED,
    find_receiver_stalls,
    judging,
    pdr_excusing_stalls,
)
from pipeline.sql.views import connect
from pipeline.sql.window import Window

__all__ = ["REPORT_VERSION", "Report", "build_report", "to_json"]

METRICS_SQL = f"""
WITH marked AS (
    SELECT *, {IN_STALL} AS in_stall FROM messages
), valid AS (
    SELECT * FROM marked WHERE decode_ok
), per_sender AS (
    SELECT msg_type, sender_id, count(*) AS n, coalesce(sum(msg_cnt_gap), 0) AS missing,
           (epoch_us(max({SENT_AT})) - epoch_us(min({SENT_AT}))) / 1e6 AS span_s
    FROM valid WHERE {RATED} GROUP BY ALL
), rates AS (
    SELECT msg_type, min(tx_rate_hz(n, missing, span_s)) AS rate_hz_min, median(tx_rate_hz(n, missing, span_s)) AS rate_hz_median
    FROM per_sender WHERE n > 1 AND span_s > 0 GROUP BY ALL
), totals AS (
    SELECT msg_type,
           count(*) AS stored,
           count(*) FILTER (WHERE decode_ok) AS decoded,
           count(*) FILTER (WHERE NOT decode_ok) AS rejected,
           count(DISTINCT sender_id) FILTER (WHERE decode_ok) AS senders,
           quantile_cont(latency_ms, [0.5, 0.95, 0.99]) FILTER (WHERE decode_ok AND {TIMED} AND NOT in_stall) AS latency,
           max(latency_ms) FILTER (WHERE decode_ok AND {TIMED} AND NOT in_stall) AS latency_max_ms,
           quantile_cont(ipg_ms, [0.95, 0.99]) FILTER (WHERE decode_ok AND NOT in_stall) AS ipg,
           max(ipg_ms) FILTER (WHERE decode_ok AND NOT in_stall) AS ipg_max_ms,
           sum(msg_cnt_gap) FILTER (WHERE decode_ok) AS missing,
           count(*) FILTER (WHERE {COUNTED}) AS counted,
           count(*) FILTER (WHERE duplicate) AS duplicates,
           count(*) FILTER (WHERE auth = 'duplicate_message') AS replays,
           count(*) FILTER (WHERE auth = 'success') AS auth_ok,
           count(*) FILTER (WHERE auth = 'signer_certificate_not_found') AS signer_unresolved,
           count(*) FILTER (WHERE auth = 'not_verified') AS not_verified,
           count(*) FILTER (WHERE decode_ok AND edition IS DISTINCT FROM $edition) AS other_edition,
           count(*) FILTER (WHERE in_stall) AS received_in_stall,
           count(*) FILTER (WHERE {LATE_IN_STALL}) AS late_in_stall,
           count(*) FILTER (WHERE {COUNTED_LATE_IN_STALL}) AS counted_late_in_stall
    FROM marked GROUP BY ALL
)
SELECT t.*, r.rate_hz_min, r.rate_hz_median FROM totals t LEFT JOIN rates r USING (msg_type) ORDER BY msg_type
"""


def _published(run: RunDir) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """(published, lost on purpose, duplicated on purpose by the scenario's network model) per
    message type."""
    counts: dict[str, Counter[str]] = {"published": Counter(), "injected_loss": Counter(), "injected_duplicate": Counter()}
    for record in run.publish_records():
        for kind, by_type in counts.items():
            by_type.update(record.total(kind))
    return dict(counts["published"]), dict(counts["injected_loss"]), dict(counts["injected_duplicate"])


DETECTED_ATTACKS_SQL = """
SELECT msg_type, count(*) FROM frame_security
WHERE class <> 'honest' AND as_expected AND auth NOT IN ('not_verified', 'signer_certificate_not_found') GROUP BY ALL
"""


def _metrics(
    row: dict[str, Any],
    published: int | None,
    injected_loss: int | None,
    injected_duplicates: int | None = None,
    attacks_detected: int = 0,
) -> MessageTypeMetrics:
    lat = row["latency"] or [None, None, None]
    ipg = row["ipg"] or [None, None]
    missing, pdr = pdr_excusing_stalls(row["counted"], int(row["missing"] or 0), row["counted_late_in_stall"])
    signed = row["stored"] - row["not_verified"]  # nobody could verify the others: no trust anchors, or no signature to verify
    verifiable = signed - row["signer_unresolved"]
    # a stalled receiver's lateness is not the sender's, and a detected attack frame not the honest devices'
    judged = verifiable - row["late_in_stall"] - attacks_detected
    metrics = MessageTypeMetrics(
        msg_type=row["msg_type"],
        published=published,
        stored=row["stored"],
        decoded=row["decoded"],
        rejected=row["rejected"],
        senders=row["senders"],
        rate_hz_min=row["rate_hz_min"],
        rate_hz_median=row["rate_hz_median"],
        latency_p50_ms=lat[0],
        latency_p95_ms=lat[1],
        latency_p99_ms=lat[2],
        latency_max_ms=row["latency_max_ms"],
        ipg_p95_ms=ipg[0],
        ipg_p99_ms=ipg[1],
        ipg_max_ms=row["ipg_max_ms"],
        missing=missing,
        injected_loss=injected_loss,
        missing_not_injected=max(missing - injected_loss, 0) if injected_loss is not None else None,
        duplicates=row["duplicates"],
        replays=row["replays"],
        injected_duplicates=injected_duplicates,
        pdr=pdr,
        auth_success_rate=row["auth_ok"] / judged if judged else None,
        signer_unresolved=row["signer_unresolved"],
        not_verified=row["not_verified"],
        other_edition=row["other_edition"],
        received_in_stall=row["received_in_stall"],
        signer_resolved_rate=verifiable / signed if signed else None,
        stored_over_published=row["stored"] / published if published else None,
    )
    if attacks_detected:
        metrics.attacks_detected = attacks_detected
    return metrics


# Fields of a message type's metrics (and of "ALL", which adds received), named in expectations.
METRIC_FIELDS = (*(f for f in MessageTypeMetrics.model_fields if f != "msg_type"), "received")

# Metrics of the whole run only (ALL.<field>): how well the simulators kept a real-time schedule.
RUN_FIELDS = tuple(f for f in Overall.model_fields if f.startswith("schedule_"))


FIELD_CHECKS_SQL = """
SELECT c.name, c.msg_type, c.basis, c.source, c.scope, count(DISTINCT v.rx_seq) AS messages, min(v.detail) AS example
FROM field_checks c LEFT JOIN violations v ON v.check_name = c.name
GROUP BY ALL ORDER BY c.msg_type, c.name
"""


def _field_checks(con: Any, by_type: dict[str, MessageTypeMetrics]) -> list[Check]:
    """One check per named field check (pipeline.sql.field_checks): messages in violation <= 0."""
    out = []
    for name, msg_type, basis, source, scope, messages, example in con.execute(FIELD_CHECKS_SQL).fetchall():
        checked = by_type[msg_type].decoded if msg_type in by_type else None
        spec = CheckSpec(
            id=name,
            msg_type=msg_type,
            metric="messages_in_violation",
            op="<=",
            threshold=0,
            basis=basis,
            source=source,
            kind="field",
            scope=scope,
            example=example,
        )
        out.append(judge(spec, messages if checked else None))
    return out


ATTACK_SOURCES = {
    "forged_signature": "YD/T 3957 6.1.9.3: the signature must verify",
    "replay": "GB/T 45315 7.4.3.4: replayed SPDUs are discarded",
    "expired_certificate": "YD/T 3957 6.1.9.3: generationTime within the certificate's validity period",
    "revoked_certificate": "YD/T 3957 (CRL, AID 3628): certificates on the CRL are rejected",
    "foreign_ca": "YD/T 3957 6.1.9.3: the issuer chains to a trusted CA",
    "wrong_aid": "YD/T 3957 6.1.9.3: the header AID is in the certificate's appPermissions",
    "clock_skew": "GB/T 45315 7.4.3.4: generationTime within [receive - 1 s, receive]",
    "unsigned": "GB/T 45315 7.4.3: every SPDU is signedData",
}


def _security(con: Any, ingest: dict[str, Any]) -> tuple[Security, list[Check]]:
    """The security section (frames per class and verdict, the CRL in force) and one check per
    injected attack class: every such frame got its verdict."""
    by_class: dict[str, SecurityClass] = {}
    for cls, expected, auth, n in con.execute(
        "SELECT class, expected, auth, count(*) AS n FROM frame_security GROUP BY 1, 2, 3 ORDER BY (class <> 'honest'), class, auth"
    ).fetchall():
        seen = by_class.get(cls) or SecurityClass.model_validate(
            {"class": cls, "expected": expected, "frames": 0, "as_expected": 0, "verdicts": {}}
        )
        by_class[cls] = seen
        seen.frames += n
        seen.verdicts[auth] = n
        seen.as_expected += n if auth == expected else 0
    injected = con.execute("SELECT attack, count(*) FROM attacks GROUP BY ALL").fetchall()
    checks = []
    for attack, count in sorted(injected):
        entry = by_class.get(attack)
        if entry is not None:
            entry.injected = count
        right = entry.as_expected if entry is not None else 0
        spec = CheckSpec(
            id=f"security.{attack}",
            msg_type="ALL",
            metric="injected_frames_with_expected_verdict",
            op=">=",
            threshold=1.0,
            basis="std",
            source=ATTACK_SOURCES.get(attack, ""),
            kind="security",
        )
        checks.append(judge(spec, right / count if count else None))
    crl = ingest.get("crl")
    applied = Crl.model_validate({**crl, "age_s": round(ingest.get("started_at", 0) - crl["issued_unix_s"], 1)}) if crl else None
    return Security(classes=list(by_class.values()), crl=applied), checks


def one_value(con: Any, sql: str) -> Any:
    """The single value of a query that returns one row."""
    row = con.execute(sql).fetchone()
    assert row is not None, sql
    return row[0]


def _utc_second(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _receiver_stalls(con: Any, ingest: dict[str, Any]) -> list[ReceiverStall]:
    """When the receiver stalled: seconds in which every sender was late at once (from the data,
    :mod:`pipeline.sql.judged`: the frames of those seconds are not judged against their devices),
    and the ingest's own ``receiver_stalled`` events (a read loop that did not run)."""
    found = [
        ReceiverStall(
            source="data",
            second=_utc_second(epoch_s),
            epoch_s=epoch_s,
            senders=senders,
            late_senders=late,
            late_frames=frames,
            max_latency_ms=worst,
        )
        for epoch_s, senders, late, frames, worst in find_receiver_stalls(con)
    ]
    found += [
        ReceiverStall(source="ingest", second=e.at, detail=e.detail)
        for e in _ingest_events(ingest)
        if e.event == "receiver_stalled"
    ]
    return found


def _ingest_events(ingest: dict[str, Any]) -> list[IngestEvent]:
    """The events the ingest recorded (broker lost, receiver stalled ...) in its summary."""
    return [IngestEvent.model_validate(e) for e in ingest.get("events") or []]


def _harness_check(check_id: str, metric: str, source: str, value: float | None, note: str = "", **rule: Any) -> Check:
    spec = CheckSpec.model_validate(
        {
            "id": check_id,
            "msg_type": "ALL",
            "metric": metric,
            "op": ">=",
            "threshold": 1.0,
            "basis": "harness",
            "source": "harness: " + source,
            "kind": "harness",
            **rule,
            **({"note": note} if note else {}),
        }
    )
    return judge(spec, value)


def _harness(
    run: RunDir, manifest: dict[str, Any], ingest: dict[str, Any], overall: Overall, stalls: list[ReceiverStall]
) -> list[Check]:
    """The harness's own integrity (basis ``harness``: FAIL, never only WARN): every published
    frame stored (``run.delivery``), the ingest ended by a clean stop and did not fail
    (``run.ingest``), and a scenario run went to its end (``run.complete``).  A run that lost
    data, had a stage die or was interrupted cannot pass the gate."""
    delivered = overall.stored_over_published if overall.published else (0.0 if manifest.get("scenario") else None)
    checks = [
        _harness_check(
            "run.delivery",
            "stored_over_published",
            "every published frame is received and stored (no loss on loopback)",
            delivered,
        )
    ]
    ingest_ran = run.ingest_started()
    clean = None
    note = ""
    if ingest or ingest_ran:
        sessions = ingest.get("sessions") or []
        last = sessions[-1] if sessions and isinstance(sessions[-1], dict) else {}
        failure = ingest.get("failure")
        clean = 1.0 if ingest and not failure and last.get("cause", "stopped") == "stopped" else 0.0
        note = (
            f"ingest failed: {failure}"
            if failure
            else "no ingest summary: the ingest did not stop cleanly"
            if not ingest
            else f"the ingest's last session ended: {last.get('cause')}"
        )
    checks.append(
        _harness_check(
            "run.ingest", "ingest_stopped_cleanly", "the ingest ran to a clean stop", clean, note if clean == 0.0 else ""
        )
    )
    complete = None
    if manifest.get("scenario"):
        interrupted = manifest.get("interrupted")
        complete = 1.0 if manifest.get("ended_at") and not interrupted else 0.0
        note = f"the run was interrupted: {interrupted}" if interrupted else "the run has no end (interrupted or still running)"
    stalled = sorted({str(s.second) for s in stalls})
    checks.append(
        _harness_check(
            "run.receiver",
            "receiver_stalls",
            "the receiver kept up (every sender late at once is a stalled receiver, not the devices)",
            len(stalled),
            f"receiver stalled: {', '.join(stalled[:5])}" if stalled else "",
            op="<=",
            threshold=0,
        )
    )
    checks.append(
        _harness_check("run.complete", "run_completed", "the scenario ran to its end", complete, note if complete == 0.0 else "")
    )
    return checks


UNVERIFIED_SIGNED_SQL = f"""
SELECT count(*) FILTER (WHERE auth_reason = '{NO_TRUST_ANCHORS}'),
       count(*) FILTER (WHERE signer IS NOT NULL OR auth_reason = '{NO_TRUST_ANCHORS}')
FROM messages
"""


def _trust_check(con: Any) -> Check:
    """``run.trust``: signed frames were verified.  Frames whose link carries no signature are
    not verifiable and their authentication checks are N/A; a signed frame left unverified for
    want of trust anchors is the harness's gap, so it FAILs here rather than let the gate pass
    on authentication nobody judged.  N/A without signed frames."""
    unverified, signed = con.execute(UNVERIFIED_SIGNED_SQL).fetchone()
    return _harness_check(
        "run.trust",
        "signed_frames_not_verified",
        "signed frames are verified against trust anchors (give the ingest --pki or --trust)",
        unverified if signed else None,
        f"{unverified} signed frames were not verified: {NO_TRUST_ANCHORS}" if unverified else "",
        op="<=",
        threshold=0,
    )


def _receivers(con: Any, receivers_path: Path | None) -> tuple[list[Receiver], str]:
    if receivers_path is not None:
        return load_receivers(receivers_path), f"receivers file {receivers_path}"
    return run_receivers(con), "the run's RSUs at the reference point of their RSMs (rsu_positions())"


def _ranged(check: CheckSpec) -> Slice | None:
    if check.range_m is None and not check.where:
        return None
    return Slice(check.msg_type, check.where, float(check.range_m) if check.range_m is not None else None)


AUTHENTICATION_METRICS = ("auth_success_rate", "signer_resolved_rate")
NOT_VERIFIED_SQL = "SELECT msg_type, any_value(auth_reason) FROM messages WHERE auth = 'not_verified' GROUP BY ALL"


def _judge_profile_check(
    check: CheckSpec,
    by_type: dict[str, MessageTypeMetrics | Overall],
    sliced: dict[Slice, SliceMetrics],
    unverifiable: dict[str, str],
    other_editions: dict[str, str],
) -> Check:
    """A profile check judged on its message type's metrics, or on its slice's when it has a
    range or condition.  An authentication check with no frame anyone could verify is N/A and
    says why (``unverifiable``: a reason per message type), rather than FAIL on frames whose
    link carries no signature or a run without trust anchors.  An edition check with frames of
    another edition says which and from whom (``other_editions``: per message type)."""
    sl = _ranged(check)
    metrics: SliceMetrics | MessageTypeMetrics | Overall | None = sliced[sl] if sl else by_type.get(check.msg_type)
    value = getattr(metrics, check.metric, None) if metrics is not None else None
    if value is None and check.metric in AUTHENTICATION_METRICS and check.msg_type in unverifiable:
        check = check.model_copy(
            update={"note": f"not judged: no {check.msg_type} frame could be verified ({unverifiable[check.msg_type]})"}
        )
    elif check.metric == "other_edition" and value and check.msg_type in other_editions:
        check = check.model_copy(update={"note": other_editions[check.msg_type]})
    return judge(check, value)


EDITIONS_SQL = """
SELECT msg_type, edition, count(*), string_agg(DISTINCT sender_id, ', ' ORDER BY sender_id) FROM messages
WHERE decode_ok AND edition IS DISTINCT FROM $edition GROUP BY ALL ORDER BY ALL
"""


def _other_editions(con: duckdb.DuckDBPyConnection, required: Edition) -> dict[str, str]:
    """Per message type, what was sent in another edition than ``required`` and by whom."""
    seen: dict[str, list[str]] = {}
    for msg_type, edition, n, senders in con.execute(EDITIONS_SQL, {"edition": required.value}).fetchall():
        seen.setdefault(msg_type, []).append(f"{n} frames of {edition or 'unknown edition'} from {senders}")
    return {msg_type: f"{required.value} required; " + "; ".join(parts) for msg_type, parts in seen.items()}


PLATFORM_SQL = """
WITH per AS (
    SELECT relay, msg_type, count(*) AS relayed, count(device_rx_seq) AS matched,
           count(*) FILTER (WHERE device_rx_seq IS NULL) AS unmatched,
           count(*) FILTER (WHERE len(differences) > 0) AS differing,
           quantile_cont(added_latency_ms, 0.5) AS added_latency_p50_ms, quantile_cont(added_latency_ms, 0.99) AS added_latency_p99_ms,
           max(added_latency_ms) AS added_latency_max_ms
    FROM platform_fidelity GROUP BY ALL
), relayed_senders AS (
    SELECT DISTINCT relay, sender_id, msg_type FROM relayed WHERE decode_ok
), missed AS (
    SELECT s.relay, d.msg_type, count(*) AS not_relayed FROM messages d JOIN relayed_senders s USING (sender_id, msg_type)
    WHERE d.decode_ok AND NOT EXISTS (SELECT 1 FROM platform_matches m WHERE m.device_rx_seq = d.rx_seq AND m.relay = s.relay)
    GROUP BY ALL
)
SELECT per.*, coalesce(missed.not_relayed, 0) AS not_relayed FROM per LEFT JOIN missed USING (relay, msg_type) ORDER BY ALL
"""
DIFFERENCES_SQL = """
SELECT relay, msg_type, d, count(*) FROM (SELECT relay, msg_type, unnest(differences) AS d FROM platform_fidelity)
GROUP BY ALL ORDER BY 4 DESC, 3
"""


def _platform(con: duckdb.DuckDBPyConnection) -> list[PlatformFidelity]:
    """Platform fidelity per platform and message type (:mod:`pipeline.sql.fidelity`)."""
    differences: dict[tuple[str, str], dict[str, int]] = {}
    for relay, msg_type, where, n in con.execute(DIFFERENCES_SQL).fetchall():
        differences.setdefault((relay, msg_type), {})[where] = n
    cur = con.execute(PLATFORM_SQL)
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, values)) for values in cur.fetchall()]
    return [PlatformFidelity(**row, differences=differences.get((row["relay"], row["msg_type"]), {})) for row in rows]


PLATFORM_SOURCE = "platform fidelity: a platform republishes every device message, unchanged (policy; pipeline.sql.fidelity)"


def _platform_checks(platform: list[PlatformFidelity]) -> list[Check]:
    """``platform.<name>.<TYPE>``: copies that differ from the device's frame, copies of no frame
    the ingest got from the device, and device frames never copied (policy: WARN)."""
    checks = []
    for p in platform:
        value = p.differing + p.unmatched + p.not_relayed
        parts = [
            f"{p.differing} copies differ ({p.named_differences(4)})" if p.differing else "",
            f"{p.unmatched} copies of no frame received from the device" if p.unmatched else "",
            f"{p.not_relayed} device frames never copied" if p.not_relayed else "",
        ]
        spec = CheckSpec(
            id=f"platform.{p.relay}.{p.msg_type}",
            msg_type=p.msg_type,
            metric="unfaithful",
            op="<=",
            threshold=0,
            basis="policy",
            source=PLATFORM_SOURCE,
            kind="platform",
        )
        if value:
            spec = spec.model_copy(update={"note": "; ".join(x for x in parts if x)})
        checks.append(judge(spec, value))
    return checks


def _overall_auth(types: list[MessageTypeMetrics]) -> float | None:
    """The authentication success rate of the whole run: each type's rate weighted by its frames
    anyone could verify; None when no frame could be."""
    weights = [(t.auth_success_rate, t.stored - t.not_verified) for t in types]
    weights = [(rate, n) for rate, n in weights if n > 0]
    total = sum(n for _, n in weights)
    return sum((rate or 0) * n for rate, n in weights) / total if total else None


def build_report(
    run_dir: Path,
    profile_path: Path | None = None,
    receivers_path: Path | None = None,
    applications: list[str] | None = None,
    *,
    window: Window | None = None,
) -> Report:
    """Everything `v2x report` shows, as a typed model (the JSON format is :meth:`Report.to_json`).

    ``window``: the frames received in that test window only (:func:`pipeline.sql.views.attach`);
    what the simulators published is the whole run's.

    ``receivers_path``: positions range-aware checks measure from (default: the run's RSUs);
    ``applications``: the Day-1 applications to grade (default: those the run declares, else
    those its messages show)."""
    run = RunDir(Path(run_dir))
    profile = load_profile(profile_path)
    published, injected, injected_dup = _published(run)
    con = connect(run.root, window=window)
    ingest = run.ingest_summary()
    stalls = _receiver_stalls(con, ingest)  # first: the metrics leave the stalled seconds' frames out
    cur = con.execute(judging(con, METRICS_SQL), {"edition": profile.edition.value})
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    detected = {str(t): int(n) for t, n in con.execute(DETECTED_ATTACKS_SQL).fetchall()}
    manifest = run.manifest_data()
    network = bool(manifest.get("network"))
    types = [
        _metrics(
            dict(zip(names, r)),
            published.get(r[0]),
            injected.get(r[0], 0) if network else None,
            injected_dup.get(r[0], 0) if network else None,
            detected.get(r[0], 0),
        )
        for r in rows
    ]
    total_published = sum(published.values()) if published else None
    total_stored = sum(t.stored for t in types)
    overall = Overall(
        published=total_published,
        received=ingest.get("received"),
        stored=total_stored,
        rejected=sum(t.rejected for t in types),
        senders=one_value(con, "SELECT count(DISTINCT sender_id) FROM messages WHERE decode_ok"),
        relayed=one_value(con, "SELECT count(*) FROM relayed"),
        stored_over_published=total_stored / total_published if total_published else None,
        auth_success_rate=_overall_auth(types),
    )
    recorded = schedule.of_run(run)
    kept = Schedule.model_validate(recorded) if recorded is not None else None
    if kept is not None and kept.pace == "realtime":
        overall.schedule_achieved_over_nominal = kept.achieved_over_nominal
        overall.schedule_lateness_p99_ms = kept.lateness_p99_ms
    by_type: dict[str, MessageTypeMetrics | Overall] = {t.msg_type: t for t in types} | {"ALL": overall}
    receivers, receivers_source = _receivers(con, receivers_path)
    ranged = [sl for sl in (_ranged(c) for c in profile.checks) if sl is not None]
    app_checked, app_present = slices_needed(profile.applications)
    sliced = slice_metrics(con, list(dict.fromkeys(ranged + app_checked)), receivers)
    unverifiable = {str(t): str(reason) for t, reason in con.execute(NOT_VERIFIED_SQL).fetchall()}
    other_editions = _other_editions(con, profile.edition)
    checks = [_judge_profile_check(c, by_type, sliced, unverifiable, other_editions) for c in profile.checks]
    declared = applications if applications is not None else manifest.get("applications")
    app_checks, app_summary = application_checks(
        profile.applications, declared, by_type, sliced, slice_counts(con, app_present), profile.pdr_in_range
    )
    checks += app_checks
    checks += _harness(run, manifest, ingest, overall, stalls)
    checks.append(_trust_check(con))
    checks += _field_checks(con, {t.msg_type: t for t in types})
    security, security_checks = _security(con, ingest)
    checks += security_checks
    platform = _platform(con) if overall.relayed else []  # no copies: the comparisons are not worth building
    checks += _platform_checks(platform)
    verdicts = [c.verdict for c in checks]
    report = Report(
        report_version=REPORT_VERSION,
        run=str(run.root),
        scenario=manifest.get("scenario"),
        profile=ProfileRef(name=profile.profile, version=profile.version),
        verdict="FAIL" if "FAIL" in verdicts else "PASS",
        summary=Summary.of(verdicts),
        overall=overall,
        message_types=types,
        receivers=Receivers(source=receivers_source, positions=[Position(name=r.name, lat=r.lat, lon=r.lon) for r in receivers]),
        ranges=[
            RangeMetrics(msg_type=sl.msg_type, where=sl.where, range_m=sl.range_m, **dict(sliced[sl]))
            for sl in dict.fromkeys(ranged)
        ],
        applications=Applications(declared=declared, graded=app_summary),
        checks=checks,
        security=security,
        ingest_events=_ingest_events(ingest),
        receiver_stalls=stalls,
        schedule=kept,
        platform=platform,
        about=about_run(run, manifest, ingest, con),
    )
    report.failure_causes = failure_causes(report)
    return report


def to_json(report: Report) -> str:
    """The report's JSON (the format ``report.schema.json`` describes)."""
    return report.to_json()
