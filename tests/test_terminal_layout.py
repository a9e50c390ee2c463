"""The terminal report never cuts a number: below the width a table needs it wraps text around
whole words, then switches to a narrow layout (header and value per row); a file or a pipe gets
the width of a wide terminal (pipeline/render/terminal.py).  A saved report once held 30 cells
such as ``0.9…`` -- the auth rate that FAILed."""

from __future__ import annotations

import subprocess
import sys

import pytest
from rich.console import Console

from pipeline.render.terminal import NOT_A_TERMINAL_WIDTH, _table, never_cut, render_terminal
from pipeline.report.build import build_report

from tests.test_platform_fidelity import _run, _traffic


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("layout"), _traffic())


@pytest.mark.parametrize("width", [50, 80, 100, 140, 200])
def test_no_cell_is_cut_at_any_width(run, width):
    report = build_report(run)
    console = Console(record=True, width=width, file=open("/dev/null", "w"))  # noqa: SIM115
    render_terminal(report, console)
    text = console.export_text()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    flat = text.replace("\n", " ")
    for check in report.checks:  # every check of the tables is there whole (passing application checks have their own table)
        if check.kind != "application" or check.verdict in ("FAIL", "WARN"):
            assert check.id in flat, check.id


def test_a_table_too_wide_becomes_header_and_value_per_row():
    table = _table("T", ("a long header", "another", "third"))
    table.add_row("0.987654321", "1234567890123", "PASS")
    table.add_row("0.5", "7", "FAIL")
    narrow = Console(record=True, width=30, file=open("/dev/null", "w"))  # noqa: SIM115
    narrow.print(never_cut(table, narrow))
    text = narrow.export_text()
    assert "0.987654321" in text and "1234567890123" in text and "…" not in text
    assert "│ another " in text and "│ third " in text and "│ 0.5 " in text  # a header and its value per line
    wide = Console(record=True, width=120, file=open("/dev/null", "w"))  # noqa: SIM115
    wide.print(never_cut(_table("T", ("a", "b")), wide))
    assert "┏" in wide.export_text()  # a table that fits keeps its layout


def test_a_report_saved_to_a_file_has_the_width_of_a_wide_terminal(run, tmp_path):
    out = tmp_path / "report.txt"
    proc = subprocess.run(
        [sys.executable, "-m", "v2x.cli", "report", str(run), "-o", str(out)],
        capture_output=True,
        text=True,
        env={"COLUMNS": "80", "PATH": ""},
    )
    assert proc.returncode in (0, 1), proc.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert "…" not in "\n".join(lines) and max(len(line) for line in lines) <= NOT_A_TERMINAL_WIDTH
    assert any(line.startswith("┏") and line.endswith("┓") for line in lines)


def test_the_report_says_when_with_what_and_on_which_devices_and_has_a_block_to_sign(run, tmp_path):
    """A run without a scenario file (an ingest): the devices heard, the times of the ingest, in the zone's time."""
    report = build_report(run)
    about = report.about
    assert about is not None and about.tool.startswith("xiqing-v2x ") and about.time_zone.startswith("Asia/Shanghai")
    assert about.made_at.endswith("+08:00") and about.seed is None and about.scenario_sha256 is None
    heard = {(g.kind, g.count) for g in about.devices}
    senders = report.overall.senders
    assert heard and sum(n for _, n in heard) == senders
    page = tmp_path / "report.html"
    proc = subprocess.run(
        [sys.executable, "-m", "v2x.cli", "report", str(run), "--format", "html", "-o", str(page), "--operator", "Li Lei <QA>"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode in (0, 1), proc.stderr
    html = page.read_text(encoding="utf-8")
    assert "<td id=operator>Li Lei &lt;QA&gt;</td>" in html and "<h2>Devices under test</h2>" in html
    assert "@media print" in html and "#signoff{break-after:page}" in html  # the first page prints on its own
    console = Console(record=True, width=200, file=open("/dev/null", "w"))  # noqa: SIM115
    render_terminal(report, console)
    assert "devices under test: " in console.export_text()


def test_failing_checks_are_grouped_by_the_measurement_they_judged(run):
    from pipeline.report.causes import failure_causes
    from pipeline.report.model import Check

    base = {"op": "<=", "basis": "std", "source": "T/CSAE 53", "verdict": "FAIL"}
    checks = [
        Check(id="BSM.latency_p99", msg_type="BSM", metric="latency_p99_ms", threshold=100, value=305.2, **base),
        *(
            Check(
                id=f"{app}.BSM.latency_p99",
                msg_type="BSM",
                metric="latency_p99_ms",
                threshold=100,
                value=305.2,
                kind="application",
                application=app,
                **base,
            )
            for app in ("FCW", "ICW")
        ),
        Check(id="BSM.latency_p99_near", msg_type="BSM", metric="latency_p99_ms", threshold=50, value=80.0, range_m=100, **base),
        Check(id="BSM.speed_range", msg_type="BSM", metric="violations", threshold=0, value=3, kind="field", **base),
        Check(
            id="SPAT.rate",
            msg_type="SPAT",
            metric="rate_hz_min",
            threshold=9.5,
            value=10.0,
            **(base | {"op": ">=", "verdict": "PASS"}),
        ),
    ]
    report = build_report(run).model_copy(update={"checks": checks})
    causes = failure_causes(report)
    assert [(c.measurement, c.value, c.checks) for c in causes] == [
        ("BSM latency_p99_ms", 305.2, ["BSM.latency_p99", "FCW.BSM.latency_p99", "ICW.BSM.latency_p99"]),
        ("BSM latency_p99_ms within 100 m", 80.0, ["BSM.latency_p99_near"]),
        ("BSM.speed_range", 3, ["BSM.speed_range"]),
    ]
    report.failure_causes = causes
    console = Console(record=True, width=200, file=open("/dev/null", "w"))  # noqa: SIM115
    render_terminal(report, console)
    assert "5 failing checks from 3 causes:" in console.export_text()
