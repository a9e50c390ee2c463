"""The report in a terminal (rich tables: the verdict summary, metrics per type, every check), and
the one-line summaries every format shares (the schedule kept, receiver stalls)."""

from __future__ import annotations

from typing import Any


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def schedule_line(kept: dict[str, Any] | None) -> str | None:
    """One line on how well the simulators kept their schedule (None without simulators)."""
    if not kept:
        return None
    if kept["pace"] == "realtime":
        return (
            f"schedule (real time): achieved {_fmt(kept['achieved_per_s'])} of {_fmt(kept['nominal_per_s'])} frames/s nominal "
            f"= {100 * (kept['achieved_over_nominal'] or 0):.2f} %; lateness p99 {_fmt(kept['lateness_p99_ms'])} ms, "
            f"max {_fmt(kept['lateness_max_ms'])} ms, {kept['late_100ms']} frames >= 100 ms late"
        )
    ratio = kept.get("generated_over_bare_sign")
    return (
        f"schedule (as fast as possible): {kept['due']} frames in {_fmt(kept['wall_s'])} s = {_fmt(kept['generated_per_wall_s'])} "
        f"frames/s generated, signed and published"
        + (f"; {ratio:.2f} x the bare sign rate ({_fmt(kept['bare_sign_per_s'])}/s)" if ratio else "")
    )


def stall_lines(report: dict[str, Any]) -> list[str]:
    """One line per receiver stall the report found (after "receiver stalled")."""
    return [
        f"{stall['second']}: "
        + (
            stall.get("detail")
            or f"{stall['late_senders']} of {stall['senders']} senders late at once ({stall['late_frames']} frames, "
            f"up to {stall['max_latency_ms']:.0f} ms): the receiver, not the devices; that second's frames are not judged "
            "against their devices"
        )
        for stall in report.get("receiver_stalls") or []
    ]


def render_terminal(report: dict[str, Any], console: Any) -> None:
    """Rich tables: verdict summary first, then metrics per type, then every check."""
    from rich.table import Table

    colour = {"PASS": "green", "FAIL": "bold red", "WARN": "yellow", "N/A": "dim"}
    s = report["summary"]
    console.print(
        f"[bold]Compliance report[/] {report['scenario'] or ''}  profile {report['profile']['name']} v{report['profile']['version']}  "
        f"verdict [{colour[report['verdict']]}]{report['verdict']}[/]  "
        f"({s['PASS']} pass, {s['FAIL']} fail, {s['WARN']} warn, {s['N/A']} n/a)"
    )
    o = report["overall"]
    console.print(
        f"published {_fmt(o['published'])}  received {_fmt(o['received'])}  stored {_fmt(o['stored'])}  rejected {o['rejected']}"
    )
    line = schedule_line(report.get("schedule"))
    if line:
        console.print(line)
    t = Table(title="Per message type")
    for col in (
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
    ):
        t.add_column(col, justify="right")
    for m in report["message_types"]:
        t.add_row(
            m["msg_type"],
            _fmt(m["published"]),
            str(m["stored"]),
            str(m["senders"]),
            f"{_fmt(m['rate_hz_min'], 2)} / {_fmt(m['rate_hz_median'], 2)}",
            f"{_fmt(m['latency_p50_ms'])} / {_fmt(m['latency_p95_ms'])} / {_fmt(m['latency_p99_ms'])}",
            _fmt(m["ipg_p99_ms"]),
            _fmt(m["pdr"], 4),
            f"{m['missing']}" + (f" ({m['injected_loss']})" if m["injected_loss"] is not None else ""),
            f"{m['replays']}" + (f" ({m['injected_duplicates']})" if m.get("injected_duplicates") is not None else ""),
            _fmt(m["auth_success_rate"], 4),
            str(m["rejected"]),
        )
    console.print(t)
    rec = report["receivers"]
    r = Table(title=f"Range-aware metrics: senders within range of {len(rec['positions'])} receivers ({rec['source']})")
    for col in ("type", "within m", "messages", "PDR", "latency p95/p99 ms"):
        r.add_column(col, justify="right")
    for x in report["ranges"]:
        r.add_row(
            x["msg_type"] + (f" where {x['where']}" if x["where"] else ""),
            _fmt(x["range_m"], 0),
            str(x["messages"]),
            _fmt(x["pdr"], 4),
            f"{_fmt(x['latency_p95_ms'])} / {_fmt(x['latency_p99_ms'])}",
        )
    console.print(r)
    a = Table(title="Day-1 applications (T/CSAE 53): failing and warning checks in the check table")
    for col in ("application", "verdict", "messages", "Hz / ms / m", "note"):
        a.add_column(col)
    for app in report["applications"]["graded"]:
        a.add_row(
            f"{app['id']} {app['name']}",
            f"[{colour[app['verdict']]}]{app['verdict']}[/]",
            ", ".join(app["messages"]) or "-",
            f"{app['rate_hz']} / {app['latency_ms']} / {app['range_m']}",
            app.get("note", ""),
        )
    console.print(a)
    c = Table(title="Checks")
    for col in ("check", "value", "threshold", "verdict", "basis", "source"):
        c.add_column(col)
    for chk in report["checks"]:
        if chk.get("kind") == "field" or (chk.get("kind") == "application" and chk["verdict"] not in ("FAIL", "WARN")):
            continue  # in the field-check table, or a passing application check (applications table)
        c.add_row(
            chk["id"],
            _fmt(chk["value"], 3),
            f"{chk['op']} {chk['threshold']}",
            f"[{colour[chk['verdict']]}]{chk['verdict']}[/]",
            chk["basis"],
            chk["source"],
        )
    console.print(c)
    f = Table(title='Field checks (messages in violation; v2x sql RUN "SELECT * FROM violations")')
    for col in ("check", "messages", "verdict", "basis", "first example"):
        f.add_column(col)
    for chk in report["checks"]:
        if chk.get("kind") != "field":
            continue
        f.add_row(
            chk["id"], _fmt(chk["value"]), f"[{colour[chk['verdict']]}]{chk['verdict']}[/]", chk["basis"], chk["example"] or ""
        )
    console.print(f)
    sec = report["security"]
    st = Table(title='Security: frames by class and verdict (v2x sql RUN "SELECT * FROM frame_security")')
    for col in ("class", "expected", "frames", "as expected", "verdicts"):
        st.add_column(col)
    for entry in sec["classes"]:
        ok = entry["as_expected"] == entry["frames"]
        st.add_row(
            entry["class"],
            entry["expected"],
            str(entry["frames"]),
            f"[{'green' if ok else 'bold red'}]{entry['as_expected']}[/]",
            ", ".join(f"{k} {v}" for k, v in entry["verdicts"].items()),
        )
    console.print(st)
    if sec["crl"]:
        crl = sec["crl"]
        console.print(
            f"CRL serial {crl['serial']} from {crl['craca']}: {crl['entries']} entries, {crl['age_s']:.0f} s old when the ingest started"
        )
    for line in stall_lines(report):
        console.print(f"[bold red]receiver stalled[/] {line}")
    for event in report["ingest_events"]:
        console.print(f"[yellow]ingest event[/] {event}")
