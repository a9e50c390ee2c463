"""The report in a terminal (rich tables: the verdict summary, metrics per type, every check), and
the one-line summaries every format shares (the schedule kept, receiver stalls)."""

from __future__ import annotations

from typing import Any

from pipeline.report.model import PlatformFidelity, Report, Schedule


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def schedule_line(kept: Schedule | None) -> str | None:
    """One line on how well the simulators kept their schedule (None without simulators)."""
    if not kept:
        return None
    if kept.pace == "realtime":
        return (
            f"schedule (real time): achieved {_fmt(kept.achieved_per_s)} of {_fmt(kept.nominal_per_s)} frames/s nominal "
            f"= {100 * (kept.achieved_over_nominal or 0):.2f} %; lateness p99 {_fmt(kept.lateness_p99_ms)} ms, "
            f"max {_fmt(kept.lateness_max_ms)} ms, {kept.late_100ms} frames >= 100 ms late"
        )
    ratio = kept.generated_over_bare_sign
    return (
        f"schedule (as fast as possible): {kept.due} frames in {_fmt(kept.wall_s)} s = {_fmt(kept.generated_per_wall_s)} "
        f"frames/s generated, signed and published"
        + (f"; {ratio:.2f} x the bare sign rate ({_fmt(kept.bare_sign_per_s)}/s)" if ratio else "")
    )


def stall_lines(report: Report) -> list[str]:
    """One line per receiver stall the report found (after "receiver stalled")."""
    return [
        f"{stall.second}: "
        + (
            stall.detail
            or f"{stall.late_senders} of {stall.senders} senders late at once ({stall.late_frames} frames, "
            f"up to {stall.max_latency_ms or 0:.0f} ms): the receiver, not the devices; that second's frames are not judged "
            "against their devices"
        )
        for stall in report.receiver_stalls
    ]


COLOUR = {"PASS": "green", "FAIL": "bold red", "WARN": "yellow", "N/A": "dim"}


def _table(title: str, columns: tuple[str, ...], justify: str = "left") -> Any:
    from rich.table import Table

    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    return table


def _verdict(v: str) -> str:
    return f"[{COLOUR[v]}]{v}[/]"


def _heading(report: Report, console: Any) -> None:
    s = report.summary
    console.print(
        f"[bold]Compliance report[/] {report.scenario or ''}  profile {report.profile.name} v{report.profile.version}  "
        f"verdict {_verdict(report.verdict)}  ({s.PASS} pass, {s.FAIL} fail, {s.WARN} warn, {s.NA} n/a)"
    )
    o = report.overall
    copies = f" (and {o.relayed} platform copies)" if o.relayed else ""
    console.print(
        f"published {_fmt(o.published)}  received {_fmt(o.received)}  stored {_fmt(o.stored)}{copies}  rejected {o.rejected}"
    )
    line = schedule_line(report.schedule)
    if line:
        console.print(line)
    for line in about_lines(report):
        console.print(line, highlight=False)
    for line in cause_lines(report):
        console.print(line, highlight=False)


def cause_lines(report: Report) -> list[str]:
    """The failing checks grouped by the measurement they judged (:mod:`pipeline.report.causes`)."""
    causes = report.failure_causes or []
    if not causes:
        return []
    failing = sum(len(c.checks) for c in causes)
    lines = [
        f"[bold red]{failing} failing check{'s' if failing != 1 else ''} from {len(causes)} cause{'s' if len(causes) != 1 else ''}:[/]"
    ]
    lines += [f"  {c.measurement} = {_fmt(c.value, 3)}: {', '.join(c.checks)}" for c in causes]
    return lines


def about_lines(report: Report) -> list[str]:
    """The run for a sign-off, in two lines: when (in the zone's time), with what tool, scenario
    and seed; and the devices under test by kind."""
    a = report.about
    if a is None:
        return []
    head = f"run {a.run_started_at or '?'} to {a.run_ended_at or '?'}, {a.time_zone}  {a.tool}"
    if a.seed is not None:
        head += f"  seed {a.seed}"
    if a.scenario_sha256:
        head += f"  scenario sha256 {a.scenario_sha256[:16]}"
    if a.operator:
        head += f"  operator {a.operator}"
    devices = "devices under test: " + (", ".join(f"{g.kind} {g.count}" for g in a.devices) or "none heard")
    return [head, devices]


def message_types_table(report: Report) -> Any:
    t = _table(
        "Per message type",
        (
            "type",
            "published",
            "stored",
            "senders",
            "rate Hz (min/median)",
            "latency p50/p95/p99 ms",
            "IPG p99 ms",
            "PDR",
            "missing (injected)",
            "replays (injected dups)",
            "auth ok",
            "rejected",
        ),
        justify="right",
    )
    for m in report.message_types:
        t.add_row(
            m.msg_type,
            _fmt(m.published),
            str(m.stored),
            str(m.senders),
            f"{_fmt(m.rate_hz_min, 2)} / {_fmt(m.rate_hz_median, 2)}",
            f"{_fmt(m.latency_p50_ms)} / {_fmt(m.latency_p95_ms)} / {_fmt(m.latency_p99_ms)}",
            _fmt(m.ipg_p99_ms),
            _fmt(m.pdr, 4),
            f"{m.missing}" + (f" ({m.injected_loss})" if m.injected_loss is not None else ""),
            f"{m.replays}" + (f" ({m.injected_duplicates})" if m.injected_duplicates is not None else ""),
            _fmt(m.auth_success_rate, 4),
            str(m.rejected),
        )
    return t


def ranges_table(report: Report) -> Any:
    rec = report.receivers
    r = _table(
        f"Range-aware metrics: senders within range of {len(rec.positions)} receivers ({rec.source})",
        ("type", "within m", "messages", "PDR", "latency p95/p99 ms"),
        justify="right",
    )
    for x in report.ranges:
        r.add_row(
            x.msg_type + (f" where {x.where}" if x.where else ""),
            _fmt(x.range_m, 0),
            str(x.messages),
            _fmt(x.pdr, 4),
            f"{_fmt(x.latency_p95_ms)} / {_fmt(x.latency_p99_ms)}",
        )
    return r


PLATFORM_COLUMNS = (
    "platform",
    "type",
    "copies",
    "matched",
    "unmatched",
    "not relayed",
    "differing",
    "fields that differ",
    "added ms p50/p99",
)


def platform_row(x: PlatformFidelity, fields: int | None = None) -> list[str]:
    """A row of the platform fidelity table (``fields``: the most differing fields to name)."""
    counts = (x.relayed, x.matched, x.unmatched, x.not_relayed, x.differing)
    latency = f"{_fmt(x.added_latency_p50_ms)} / {_fmt(x.added_latency_p99_ms)}"
    return [x.relay, x.msg_type, *map(str, counts), x.named_differences(fields), latency]


def platform_table(report: Report) -> Any:
    p = _table(
        "Platform fidelity: a platform's copies against the devices' own frames (v2x sql RUN \"SELECT * FROM platform_fidelity\")",
        PLATFORM_COLUMNS,
        justify="right",
    )
    for x in report.platform:
        p.add_row(*platform_row(x, fields=4))
    return p


def applications_table(report: Report) -> Any:
    a = _table(
        "Day-1 applications (T/CSAE 53): failing and warning checks in the check table",
        ("application", "verdict", "messages", "Hz / ms / m", "note"),
    )
    for app in report.applications.graded:
        a.add_row(
            f"{app.id} {app.name}",
            _verdict(app.verdict),
            ", ".join(app.messages) or "-",
            f"{app.rate_hz} / {app.latency_ms} / {app.range_m}",
            app.note or "",
        )
    return a


def checks_table(report: Report) -> Any:
    """Every check but the field checks (their own table) and passing application checks (the
    applications table)."""
    c = _table("Checks", ("check", "value", "threshold", "verdict", "basis", "source"))
    for chk in report.checks:
        if chk.kind == "field" or (chk.kind == "application" and chk.verdict not in ("FAIL", "WARN")):
            continue
        c.add_row(chk.id, _fmt(chk.value, 3), f"{chk.op} {chk.threshold}", _verdict(chk.verdict), chk.basis, chk.source)
    return c


def field_checks_table(report: Report) -> Any:
    f = _table(
        'Field checks (messages in violation; v2x sql RUN "SELECT * FROM violations")',
        ("check", "messages", "verdict", "basis", "first example"),
    )
    for chk in report.checks:
        if chk.kind == "field":
            f.add_row(chk.id, _fmt(chk.value), _verdict(chk.verdict), chk.basis, chk.example or "")
    return f


def security_table(report: Report) -> Any:
    st = _table(
        'Security: frames by class and verdict (v2x sql RUN "SELECT * FROM frame_security")',
        ("class", "expected", "frames", "as expected", "verdicts"),
    )
    for entry in report.security.classes:
        ok = entry.as_expected == entry.frames
        st.add_row(
            entry.class_,
            entry.expected,
            str(entry.frames),
            f"[{'green' if ok else 'bold red'}]{entry.as_expected}[/]",
            ", ".join(f"{k} {v}" for k, v in entry.verdicts.items()),
        )
    return st


def _notes(report: Report, console: Any) -> None:
    """The CRL in force, receiver stalls and the ingest's events, after the tables."""
    crl = report.security.crl
    if crl:
        console.print(
            f"CRL serial {crl.serial} from {crl.craca}: {crl.entries} entries, {crl.age_s:.0f} s old when the ingest started"
        )
    for line in stall_lines(report):
        console.print(f"[bold red]receiver stalled[/] {line}")
    for event in report.ingest_events:
        console.print(f"[yellow]ingest event[/] {event.model_dump()}")


NOT_A_TERMINAL_WIDTH = 200  # policy: CI logs and files are read in editors, not 80-column terminals
LONGEST_UNCUT = 40  # a word (number, id, verdict) up to this long is never cut; longer ones fold


def never_cut(table: Any, console: Any) -> Any:
    """``table`` laid out so that no number is cut on ``console``: each
    column at least as wide as its longest word (a number, a check id, a verdict), the text
    wrapping around them and longer words folding instead of ending in ``…``; and when even
    that does not fit, the narrow layout: a two-column table of header and value per row."""
    from rich.table import Table
    from rich.text import Text

    for column in table.columns:
        words = [w for cell in column.cells for w in Text.from_markup(str(cell)).plain.split()]
        column.min_width = min(LONGEST_UNCUT, max((len(w) for w in words), default=1))
        column.overflow = "fold"
    if _fits(table, console.width):
        return table
    narrow = Table("", "", title=table.title, show_header=False)
    narrow.columns[0].overflow = "fold"  # headers wrap; the values keep their longest word whole
    narrow.columns[1].overflow = "fold"
    narrow.columns[1].min_width = max(c.min_width or 1 for c in table.columns)
    rows = list(zip(*(list(c.cells) for c in table.columns)))
    for k, row in enumerate(rows):
        for n, (column, cell) in enumerate(zip(table.columns, row)):
            narrow.add_row(str(column.header), cell, end_section=n == len(row) - 1 and k < len(rows) - 1)
    return narrow


def _fits(table: Any, width: int) -> bool:
    """Whether ``table`` renders whole in ``width`` columns: rich crops a table wider than its
    console, so its top border then lacks its right corner."""
    import io

    from rich.console import Console

    probe = Console(file=io.StringIO(), width=width, color_system=None)
    with probe.capture() as captured:
        probe.print(table)
    top = next((line.rstrip() for line in captured.get().splitlines() if line.lstrip().startswith("┏")), "")
    return top.endswith("┓")


def report_console(file: Any = None) -> Any:
    """The console a report is printed on: the terminal's width on a terminal, else
    :data:`NOT_A_TERMINAL_WIDTH` columns (``-o FILE``, a pipe, a CI log)."""
    from rich.console import Console

    console = Console(file=file)
    if not console.is_terminal:
        console = Console(file=file, width=NOT_A_TERMINAL_WIDTH)
    return console


def render_terminal(report: Report, console: Any) -> None:
    """Rich tables: verdict summary first, then metrics per type, then every check."""
    _heading(report, console)
    for table in (message_types_table, ranges_table, applications_table, checks_table, field_checks_table, security_table):
        console.print(never_cut(table(report), console))
    if report.platform:
        console.print(never_cut(platform_table(report), console))
    _notes(report, console)
