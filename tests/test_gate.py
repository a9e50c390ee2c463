"""Gate, diff, JUnit and Markdown outputs of the compliance report, on run directories made from
signed BSMs with chosen latency and loss, through the ingest's batch stage and Parquet writer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from junitparser import Failure, JUnitXml, Skipped

from v2x import clock, messages
from v2x.cli import main as v2x
from v2x.messages import MessageType
from v2x.rundir import RunDir, write_json_atomic
from v2x.security import Signer, load_credentials

from pipeline.ingest.batch import BatchProcessor, Received
from pipeline.ingest.store import TelemetryWriter
from pipeline.ingest.trust import verifier_from_pki
from pipeline.render.junit import to_junit
from pipeline.render.markdown import diff_to_markdown, to_markdown
from pipeline.report.build import build_report
from pipeline.report.gate import diff_reports, failures, regressions
from pipeline.sql.judged import IN_STALL, find_receiver_stalls, judging
from pipeline.sql.views import connect

LAT, LON = 39.085, 117.056
IMPAIRED_DEVICE_FAILS = {"BSM.pdr", "BSM.latency_p99"}
IMPAIRED_FAILS = IMPAIRED_DEVICE_FAILS | {"run.delivery"}  # published frames the harness did not store


def generated_run(
    root: Path,
    pki: Path,
    *,
    seconds: float = 4.0,
    latency_ms: float = 20.0,
    lose_every: int = 0,
    late_every: int = 0,
    late_ms: float = 0.0,
) -> Path:
    """A run directory of one vehicle's signed BSMs at 10 Hz, received ``latency_ms`` after
    generation; every ``lose_every``-th message lost on the way, every ``late_every``-th
    ``late_ms`` late.  Published counts include the lost messages."""
    signer = Signer(load_credentials(pki, "OBU-1")[0])
    start_us = clock.now_unix_us() - int(seconds * 1e6) - 5_000_000
    batch = Received()
    ticks = int(seconds * 10)
    for k in range(ticks):
        gen_us = start_us + k * 100_000
        content = messages.bsm(
            msg_cnt=k % 128,
            vehicle_id=b"\x01" * 8,
            sec_mark=clock.dsecond(gen_us),
            lat_deg=LAT,
            lon_deg=LON + k * 1e-5,
            speed_mps=10.0,
            heading_deg=90.0,
            width_m=1.8,
            length_m=4.7,
            vehicle_class=10,
        )
        spdu = signer.sign(messages.encode(MessageType.BSM, content), MessageType.BSM.aid, clock.time64_from_unix_us(gen_us))
        if lose_every and k % lose_every == lose_every - 1:
            continue
        delay_ms = latency_ms + (late_ms if late_every and k % late_every == late_every - 1 else 0.0)
        batch.add("V2X/OBU/OBU-1/BSM/UP", spdu, gen_us + int(delay_ms * 1000))
    run = RunDir(root)
    run.create()
    out = BatchProcessor(verifier_from_pki(pki)).process(batch)
    TelemetryWriter(run.telemetry, run.tables).write(out.telemetry, out.tables)
    write_json_atomic(
        run.published / "vehicles.json",
        {
            "simulator": "vehicles",
            "devices": {"OBU-1": {"generated": {"BSM": ticks}, "published": {"BSM": ticks}, "failed": {}}},
            "totals": {"generated.BSM": ticks, "published.BSM": ticks},
        },
    )
    return root


@pytest.fixture
def clean(pki, tmp_path) -> Path:
    return generated_run(tmp_path / "clean", pki)


@pytest.fixture
def impaired(pki, tmp_path) -> Path:
    """1 message in 8 lost (PDR 0.875, 8.75 Hz received, 10 Hz sent) and 1 in 20 150 ms late
    (p99 > 100 ms, p95 still 20 ms)."""
    return generated_run(tmp_path / "impaired", pki, lose_every=8, late_every=20, late_ms=150.0)


def test_a_clean_run_passes_and_an_impaired_one_fails_exactly_its_checks(clean, impaired):
    good = build_report(clean)
    assert good.verdict == "PASS" and failures(good) == []
    bad = build_report(impaired)
    assert bad.verdict == "FAIL"
    failed = {c.id: c for c in failures(bad)}
    assert set(failed) == IMPAIRED_FAILS
    assert "Annex C" in failed["BSM.pdr"].source and "100 ms" in failed["BSM.latency_p99"].source
    assert failed["BSM.pdr"].value == pytest.approx(35 / 39)  # the 5th loss is the last message: no later msgCnt shows it
    by_id = {c.id: c for c in bad.checks}
    assert by_id["BSM.latency_p95"].verdict == "PASS"  # 5 % late: p95 is still the 20 ms of the rest
    assert by_id["BSM.rate"].value == pytest.approx(10.0, rel=1e-3)  # the sender kept 10 Hz: msgCnt counts the lost ones
    ipg_p99 = by_id["BSM.ipg_p99"].value
    assert ipg_p99 is not None and 200 <= ipg_p99 <= 350  # a loss is a 200 ms gap; a late frame stretches one by up to 150 ms
    assert by_id["run.delivery"].verdict == "FAIL"  # published frames the harness did not store: a harness check, fails


def test_gate_exit_codes_and_reasons(clean, impaired, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(v2x, ["gate", str(clean)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("PASS")
    failed = runner.invoke(v2x, ["gate", str(impaired), "--junit", str(tmp_path / "gate.xml")])
    assert failed.exit_code == 1
    reasons = [line for line in failed.output.splitlines() if line.startswith("FAIL ")]
    assert {line.split()[1].rstrip(":") for line in reasons} == IMPAIRED_FAILS
    assert any("GB/T 45315" in line and "pdr" in line for line in reasons)
    assert JUnitXml.fromfile(str(tmp_path / "gate.xml")).failures == len(IMPAIRED_FAILS)
    (tmp_path / "empty").mkdir()
    broken = runner.invoke(v2x, ["gate", str(tmp_path / "empty")])
    assert broken.exit_code == 2 and "no report" in broken.output
    bad_profile = tmp_path / "profile.yaml"
    bad_profile.write_text("profile: x\nversion: 1\nchecks:\n  - {id: a.b}\n")
    assert runner.invoke(v2x, ["gate", str(clean), "--profile", str(bad_profile)]).exit_code == 2


def test_junit_parses_with_one_testcase_per_check(impaired, tmp_path):
    report = build_report(impaired)
    path = tmp_path / "report.xml"
    path.write_text(to_junit(report), encoding="utf-8")
    xml = JUnitXml.fromfile(str(path))
    cases = {case.name: case for suite in xml for case in suite}
    assert set(cases) == {c.id for c in report.checks}
    assert xml.tests == len(report.checks)
    failed = {name for name, case in cases.items() if any(isinstance(r, Failure) for r in case.result)}
    assert failed == IMPAIRED_FAILS
    skipped = {name for name, case in cases.items() if any(isinstance(r, Skipped) for r in case.result)}
    assert skipped == {c.id for c in report.checks if c.verdict == "N/A"} and "SPAT.rate" in skipped
    message = next(r for r in cases["BSM.latency_p99"].result if isinstance(r, Failure)).message
    assert "<= 100" in message and "T/CSAE 53" in message


def test_markdown_puts_the_verdict_and_failures_first(impaired, clean):
    text = to_markdown(build_report(impaired))
    assert text.startswith("## Compliance: **FAIL**")
    failing = text.split("### Failing checks", 1)[1].split("###", 1)[0]
    assert {
        line.split("|")[1].strip() for line in failing.splitlines() if line.startswith(("| BSM.", "| run."))
    } == IMPAIRED_FAILS
    assert "<details>" in text
    assert to_markdown(build_report(clean)).startswith("## Compliance: **PASS**")


def test_diff_flags_the_regressions_of_an_impaired_run(clean, impaired):
    changes = diff_reports(build_report(clean), build_report(impaired))
    assert {c.id for c in regressions(changes)} == IMPAIRED_FAILS
    by_id = {c.id: c for c in changes}
    assert by_id["run.delivery"].change == "regression"  # the harness lost frames: a harness check closes the gate
    assert by_id["BSM.latency_p95"].change == "same" and by_id["BSM.auth"].change == "same"
    back = diff_reports(build_report(impaired), build_report(clean))
    assert regressions(back) == [] and {c.id for c in back if c.change == "fixed"} >= IMPAIRED_FAILS
    assert diff_to_markdown(changes, "a", "b").startswith("## Run comparison: **REGRESSION**")


def test_diff_cli_exit_codes_and_json(clean, impaired):
    runner = CliRunner()
    assert runner.invoke(v2x, ["diff", str(clean), str(clean)]).exit_code == 0
    result = runner.invoke(v2x, ["diff", str(clean), str(impaired), "--format", "json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["regressions"] == len(IMPAIRED_FAILS)


def test_report_formats_write_files(impaired, tmp_path):
    runner = CliRunner()
    for fmt, check in (
        ("json", lambda t: json.loads(t)["verdict"] == "FAIL"),
        ("markdown", lambda t: t.startswith("## Compliance")),
        ("junit", lambda t: t.startswith("<?xml")),
    ):
        out = tmp_path / f"report.{fmt}"
        result = runner.invoke(v2x, ["report", str(impaired), "--format", fmt, "--output", str(out)])
        assert result.exit_code == 0, result.output
        assert check(out.read_text(encoding="utf-8"))


def test_a_broken_run_cannot_pass_the_gate(clean, tmp_path):
    """A dead ingest, an interrupted run and lost frames are harness checks that FAIL: the gate
    once said PASS with the ingest dead and 15.8 % of the frames stored."""
    import shutil

    runner = CliRunner()
    run = RunDir(clean)
    write_json_atomic(run.manifest, {"scenario": "generated", "started_at": 1.0, "ended_at": 2.0})
    write_json_atomic(run.ingest / "progress.json", {"received": 40, "stored": 40})
    assert runner.invoke(v2x, ["gate", str(clean)]).exit_code == 1  # the ingest left no summary: it did not stop cleanly
    write_json_atomic(run.ingest / "summary.json", {"received": 40, "stored": 40, "sessions": [{"cause": "stopped"}]})
    ok = runner.invoke(v2x, ["gate", str(clean)])
    assert ok.exit_code == 0, ok.output
    write_json_atomic(
        run.ingest / "summary.json", {"failure": "storing a batch: OSError: disk full", "sessions": [{"cause": "failed"}]}
    )
    dead = runner.invoke(v2x, ["gate", str(clean)])
    assert dead.exit_code == 1 and "FAIL run.ingest" in dead.output
    write_json_atomic(run.ingest / "summary.json", {"sessions": [{"cause": "stopped"}]})
    write_json_atomic(run.manifest, {"scenario": "generated", "started_at": 1.0, "interrupted": "KeyboardInterrupt"})
    cut = runner.invoke(v2x, ["gate", str(clean)])
    assert cut.exit_code == 1 and "FAIL run.complete" in cut.output
    check = {c["id"]: c for c in build_report(clean).to_data()["checks"]}["run.complete"]
    assert check["basis"] == "harness" and "interrupted: KeyboardInterrupt" in check["note"]
    write_json_atomic(run.manifest, {"scenario": "generated", "started_at": 1.0, "ended_at": 2.0})
    shutil.rmtree(run.published)
    lost = runner.invoke(v2x, ["gate", str(clean)])
    assert lost.exit_code == 1 and "FAIL run.delivery" in lost.output  # a scenario run without publish records


def test_a_run_file_that_is_not_a_json_object_is_exit_2(clean):
    (RunDir(clean).ingest / "summary.json").write_text("[1, 2]")
    result = CliRunner().invoke(v2x, ["gate", str(clean)])
    assert result.exit_code == 2 and "is not a JSON object" in result.output


def test_a_damaged_parquet_part_is_exit_2_in_every_command(clean, tmp_path):
    runner = CliRunner()
    part = next(RunDir(clean).telemetry.glob("msg_type=*/part-*.parquet"))
    part.write_bytes(part.read_bytes()[: len(part.read_bytes()) // 2])
    for args in (
        ["report", str(clean)],
        ["report", str(clean), "--format", "html"],
        ["gate", str(clean)],
        ["diff", str(clean), str(clean)],
        ["sql", str(clean), "SELECT count(*) FROM messages"],
    ):
        result = runner.invoke(v2x, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
        assert "Traceback" not in result.output


def signed_bsm(signer: Signer, msg_cnt: int, vehicle_id: bytes, gen_us: int) -> bytes:
    content = messages.bsm(
        msg_cnt=msg_cnt,
        vehicle_id=vehicle_id,
        sec_mark=clock.dsecond(gen_us),
        lat_deg=LAT,
        lon_deg=LON,
        speed_mps=10.0,
        heading_deg=90.0,
        width_m=1.8,
        length_m=4.7,
        vehicle_class=10,
    )
    return signer.sign(messages.encode(MessageType.BSM, content), MessageType.BSM.aid, clock.time64_from_unix_us(gen_us))


def stored_run(root: Path, pki: Path, batch: Received) -> Path:
    """A run directory holding ``batch`` as the ingest stores it, verified with ``pki``."""
    run = RunDir(root).create()
    out = BatchProcessor(verifier_from_pki(pki)).process(batch)
    TelemetryWriter(run.telemetry, run.tables).write(out.telemetry, out.tables)
    return root


def stalled_run(root: Path, pki: Path, stall_from_s: float | None) -> Path:
    """Five senders at 10 Hz for 6 s, 20 ms latency; at ``stall_from_s`` the receiver stops
    reading for 1.3 s, then reads what waited, in order."""
    signer = Signer(load_credentials(pki, "OBU-1")[0])
    start_us = clock.now_unix_us() - 15_000_000
    batch = Received()
    for k in range(60):
        gen_us = start_us + k * 100_000
        for s in range(5):
            spdu = signed_bsm(signer, k % 128, b"\x01" * 7 + bytes([s]), gen_us + s)
            received = gen_us + s + 20_000
            if stall_from_s is not None and k / 10 >= stall_from_s:  # held until the receiver reads again, in order
                received = max(received, start_us + int((stall_from_s + 1.3) * 1e6) + k * 10 + s)
            batch.add(f"V2X/OBU/OBU-{s + 1}/BSM/UP", spdu, received)
    return stored_run(root, pki, batch)


def test_every_sender_late_at_once_is_named_a_receiver_stall(pki, tmp_path):
    """A receiver stopped for a second once turned honest frames into late ones and FAILs blamed
    on the devices, and the report never said the receiver stalled."""
    calm = build_report(stalled_run(tmp_path / "calm", pki, None))
    calm_check = calm.check("run.receiver")
    assert calm.receiver_stalls == [] and calm_check is not None and calm_check.verdict == "PASS"
    report = build_report(stalled_run(tmp_path / "stalled", pki, 2.0))
    check = report.check("run.receiver")
    assert check is not None and check.verdict == "FAIL" and check.basis == "harness" and "receiver stalled" in (check.note or "")
    assert report.receiver_stalls and all(s.late_senders == s.senders == 5 for s in report.receiver_stalls)
    assert sum(s.late_frames or 0 for s in report.receiver_stalls) == 50, report.receiver_stalls  # the 10 frames of each sender
    # ... and the late frames are the receiver's, not the devices': every other check judges as on the calm run
    verdicts = {c.id: c.verdict for c in report.checks if c.id != "run.receiver"}
    assert verdicts == {c.id: c.verdict for c in calm.checks if c.id != "run.receiver"}
    bsm, calm_bsm = report.message_types[0], calm.message_types[0]
    # the 65 frames held by the stall and those read after it in the same second
    assert 65 <= bsm.received_in_stall <= 115 and calm_bsm.received_in_stall == 0
    assert bsm.latency_max_ms is not None and bsm.latency_max_ms < 100
    assert bsm.auth_success_rate == calm_bsm.auth_success_rate == 1.0
    raw = (
        connect(tmp_path / "stalled")
        .execute("SELECT count(*) FILTER (WHERE auth = 'invalid_timestamp'), max(latency_ms) FROM messages")
        .fetchone()
    )
    assert raw[0] > 0 and raw[1] > 1000  # what was left out is there in the data, as received
    assert "receiver stalled" in to_markdown(report) and "receiver stalled" not in to_markdown(calm)


def test_the_stalled_seconds_listed_or_looked_up_mark_the_same_frames(pki, tmp_path):
    """judging() lists a few stalled seconds as constants and looks many up in their table: both
    must mark the same frames (and none when no second stalled)."""
    con = connect(stalled_run(tmp_path / "stalled", pki, 2.0))
    assert len(find_receiver_stalls(con)) >= 1
    sql = f"SELECT rx_seq FROM messages WHERE {IN_STALL} ORDER BY rx_seq"
    listed, looked_up = judging(con, sql), judging(con, sql, inline_limit=0)
    assert listed != looked_up == sql and "SELECT epoch_s" not in listed
    marked = con.execute(listed).fetchall()
    assert 65 <= len(marked) <= 115 and marked == con.execute(looked_up).fetchall()
    calm = connect(stalled_run(tmp_path / "calm", pki, None))
    assert find_receiver_stalls(calm) == [] and calm.execute(judging(calm, sql)).fetchall() == []


def test_a_forged_frame_is_not_counted_received_in_pdr(pki, tmp_path):
    """A frame whose signature does not verify carries someone's msgCnt but is not their message:
    PDR (GB/T 45315 Annex C) counted it as received, and so read better than the truth."""
    signer = Signer(load_credentials(pki, "OBU-1")[0])
    start_us = clock.now_unix_us() - 5_000_000
    batch = Received()
    for k in range(20):
        gen_us = start_us + k * 100_000
        spdu = signed_bsm(signer, k, b"\x01" * 8, gen_us)
        if k == 10:  # lost on the way; a forgery with its msgCnt arrives instead
            spdu = spdu[:-1] + bytes([spdu[-1] ^ 1])
        batch.add("V2X/OBU/OBU-1/BSM/UP", spdu, gen_us + 20_000)
    run = RunDir(stored_run(tmp_path / "forged", pki, batch))
    con = connect(run.root)
    assert con.execute("SELECT count(*) FROM messages WHERE auth = 'false_signature' AND msg_cnt = 10").fetchone()[0] == 1
    bsm = build_report(run.root).to_data()["message_types"][0]
    assert (bsm["missing"], bsm["pdr"]) == (1, 19 / 20)
    assert con.execute("SELECT pdr FROM sender_summary()").fetchone()[0] == 19 / 20


def test_signed_frames_left_unverified_cannot_pass_the_gate(pki, tmp_path):
    """Without trust anchors the authentication checks cannot be judged (N/A), but the signed
    frames nobody verified FAIL the harness check run.trust: no gate passes on unjudged signatures."""
    verified = build_report(generated_run(tmp_path / "verified", pki))
    assert verified.check("run.trust").verdict == "PASS" and verified.verdict == "PASS"  # type: ignore[union-attr]
    run = generated_run(tmp_path / "unverified", pki)
    batch = Received()
    for row in connect(run).execute("SELECT topic, frame, epoch_us(received_at) FROM messages ORDER BY rx_seq").fetchall():
        batch.add(*row)
    out = BatchProcessor(None).process(batch)  # the same frames, no trust anchors
    for folder in ("telemetry", "tables", "ingest"):
        shutil.rmtree(run / folder, ignore_errors=True)
    TelemetryWriter(run / "telemetry", run / "tables").write(out.telemetry, out.tables)
    report = build_report(run)
    trust, auth = report.check("run.trust"), report.check("BSM.auth")
    assert trust is not None and trust.verdict == "FAIL" and trust.value == 40 and "no trust anchors" in (trust.note or "")
    assert auth is not None and auth.verdict == "N/A" and "no trust anchors configured" in (auth.note or "")
    assert report.verdict == "FAIL"
