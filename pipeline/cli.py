"""`v2x report`, `v2x gate`, `v2x diff`, `v2x suite`, `v2x sql` and `v2x ingest`: thin click commands over pipeline library calls.

They are registered with the `v2x` CLI through the ``v2x.commands`` entry-point group
(pyproject.toml), so the v2x package never imports the pipeline.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
import duckdb
import pyarrow as pa
from aiomqtt import MqttError
from rich.console import Console
from rich.table import Table

from v2x.framing.sources import ENVELOPE_ONLY, Sources, SourcesError, load_sources
from v2x.messages import MessageType
from v2x.mqtt.access import ClientTls
from v2x.mqtt.transport import BrokerAddress
from v2x.objectstore.bucket import Bucket, is_bucket_url
from v2x.rundir import RunDir, bucket_view, write_json_atomic
from v2x.scenario.model import ScenarioError, load_scenario
from v2x.security import Verifier
from v2x.stage_log import stage_logger

from pipeline.harness.suite import (
    ScenarioResult,
    expectation_problems,
    load_suite,
    run_suite,
    scenario_expectations,
    suite_junit,
)
from pipeline.ingest.batch import settle_collector, warm_up
from pipeline.ingest.metrics import IngestMetrics, serve
from pipeline.ingest.receiver import client_tls
from pipeline.ingest.replay import ReplayError, replay
from pipeline.ingest.session import CLIENT_ID_PATTERN
from pipeline.ingest.session import ingest as run_ingest
from pipeline.ingest.stream_receiver import stream_source
from pipeline.ingest.summary import IngestStats, Progress, progress_line
from pipeline.ingest.trust import verifier_from_files, verifier_from_pki
from pipeline.ingest.watch import Watch, WatchFilter, line
from pipeline.ingest.watch import watch as run_watch
from pipeline.render.html import to_html
from pipeline.render.junit import to_junit
from pipeline.render.markdown import diff_to_markdown, to_markdown
from pipeline.render.pdf import PdfError, html_to_pdf
from pipeline.render.terminal import never_cut, render_terminal, report_console
from pipeline.report.build import build_report, to_json
from pipeline.report.charts import chart_data
from pipeline.report.expectations import evaluate
from pipeline.report.gate import EXIT_ERROR, EXIT_FAIL, EXIT_PASS, diff_reports, failure_line, failures, regressions
from pipeline.report.model import Report
from pipeline.report.profile import ProfileError, load_profile
from pipeline.sql.shell import FORMATS as FORMATS_SQL
from pipeline.sql.shell import execute, run_shell, stdin_lines
from pipeline.sql.views import connect_runs
from pipeline.sql.window import Window


class _RunArgument(click.ParamType):
    """A run directory, or a destination on object storage (``s3://bucket/prefix``) read as one."""

    name = "run"
    folder = click.Path(exists=True, file_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        if isinstance(value, str) and is_bucket_url(value):
            try:
                return bucket_view(value)
            except ValueError as exc:
                self.fail(str(exc), param, ctx)
        return Path(str(self.folder.convert(value, param, ctx)))


RUN_DIR = _RunArgument()
TABLE = ("table", "terminal")  # tables for people, the same name in every command (terminal: its older name)
TABLE_HELP = "table: for people (terminal is the same); the others for programs and documents"
OUTPUT = click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="write to this file instead of stdout"
)
FORMATS = {"json": to_json, "junit": to_junit, "markdown": to_markdown}


class _WindowArgument(click.ParamType):
    name = "START/END"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Window:
        if isinstance(value, Window):
            return value
        try:
            return Window.parse(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


WINDOW_OPTION = click.option(
    "--window",
    type=_WindowArgument(),
    default=None,
    help="only the frames received in this test window, e.g. 2026-12-01T16:00+08:00/2026-12-01T17:00+08:00 "
    "(of a destination on object storage, only the files of its hours are read)",
)


def grading_options(command: Callable) -> Callable:
    """--profile, --receivers, --window and --application: how a run is graded (report, gate, diff)."""
    for option in reversed(
        (
            click.option(
                "--profile",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="compliance profile YAML (default: the shipped xiqing profile)",
            ),
            click.option(
                "--receivers",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="YAML/JSON list of {name, lat, lon} that range-aware checks measure from (default: the run's RSUs)",
            ),
            WINDOW_OPTION,
            click.option(
                "--application",
                "applications",
                multiple=True,
                metavar="NAME",
                help="grade this Day-1 application (repeatable; default: those the run declares, else those its messages show)",
            ),
        )
    ):
        command = option(command)
    return command


# Exit codes of every command: 0 pass, 1 a check failed (or a regression), 2 the input could not be judged.
UNJUDGEABLE = (OSError, ValueError, KeyError, TypeError, duckdb.Error, pa.ArrowException)


class _GateError(click.ClickException):
    """The input could not be judged (exit 2)."""

    exit_code = EXIT_ERROR


def _grade(
    run: Path, profile: Path | None, receivers: Path | None, applications: tuple[str, ...], window: Window | None = None
) -> Report:
    """build_report with the grading options; :class:`_GateError` (exit 2) when the run cannot be
    judged: no Parquet, a damaged Parquet part, a profile or receivers file that does not parse."""
    try:
        return build_report(run, profile, receivers, list(applications) or None, window=window)
    except UNJUDGEABLE as exc:
        raise _GateError(
            f"no report: {RunDir(run).where}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        output.write_text(text, encoding="utf-8")


@click.command()
@click.argument("run", type=RUN_DIR)
@click.option(
    "--format", "fmt", type=click.Choice([*TABLE, "html", "pdf", *FORMATS]), default="table", show_default=True, help=TABLE_HELP
)
@OUTPUT
@click.option("--operator", default=None, help="who ran the test and signs the report (its sign-off block, and the JSON's about)")
@grading_options
def report(
    run: Path,
    fmt: str,
    output: Path | None,
    operator: str | None,
    profile: Path | None,
    receivers: Path | None,
    window: Window | None,
    applications: tuple[str, ...],
) -> None:
    """Compliance report of RUN (a run directory): terminal tables, one self-contained HTML page
    with charts (its first part the run, the devices under test and a block to sign), that page
    printed to PDF by headless Chromium (-o FILE, default RUN/report.pdf), JSON, JUnit XML or
    Markdown.

    Exit codes: 0 the report was made, whatever its verdict (`v2x gate` judges it); 2 no report
    can be made of RUN."""
    data = _grade(run, profile, receivers, applications, window)
    if operator is not None and data.about is not None:
        data.about.operator = operator
    if fmt in ("html", "pdf"):
        try:
            charts = chart_data(run, data, window)
        except UNJUDGEABLE as exc:
            raise _GateError(f"no report: {run}: {exc}") from None
        if fmt == "html":
            _emit(to_html(data, charts), output)
            return
        pdf = output or (run / "report.pdf" if RunDir(run).where == str(run) else Path("report.pdf"))
        try:
            html_to_pdf(to_html(data, charts, opened=True), pdf)
        except (PdfError, OSError) as exc:
            raise _GateError(f"no PDF: {exc}") from None
        click.echo(f"wrote {pdf}", err=True)
    elif fmt in TABLE:
        render_terminal(data, report_console(output.open("w", encoding="utf-8") if output else None))
    else:
        _emit(FORMATS[fmt](data), output)


@click.command()
@click.argument("run", type=RUN_DIR)
@grading_options
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="also write the JUnit XML report here")
def gate(
    run: Path,
    profile: Path | None,
    receivers: Path | None,
    window: Window | None,
    applications: tuple[str, ...],
    junit: Path | None,
) -> None:
    """Exit 1 when any check of RUN FAILs (std or derived basis), printing why; 0 when none
    does; 2 when no report can be made."""
    data = _grade(run, profile, receivers, applications, window)
    if junit:
        junit.write_text(to_junit(data), encoding="utf-8")
    failed = failures(data)
    s = data.summary
    click.echo(f"{data.verdict}: {s.PASS} pass, {s.FAIL} fail, {s.WARN} warn, {s.NA} n/a ({RunDir(run).where})")
    for check in failed:
        click.echo(f"FAIL {failure_line(check)}")
    sys.exit(EXIT_FAIL if failed else EXIT_PASS)


@click.command()
@click.argument("run_a", type=RUN_DIR)
@click.argument("run_b", type=RUN_DIR)
@grading_options
@click.option(
    "--format", "fmt", type=click.Choice([*TABLE, "json", "markdown"]), default="table", show_default=True, help=TABLE_HELP
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=0.05,
    show_default=True,
    help="relative change of a value below which it counts as the same",
)
@OUTPUT
def diff(
    run_a: Path,
    run_b: Path,
    profile: Path | None,
    receivers: Path | None,
    window: Window | None,
    applications: tuple[str, ...],
    fmt: str,
    tolerance: float,
    output: Path | None,
) -> None:
    """Compare RUN_A (before) and RUN_B (after) check by check; exit 1 on a regression (a verdict
    worse in B, or a new FAIL), 2 when a report cannot be made."""
    changes = diff_reports(
        _grade(run_a, profile, receivers, applications, window),
        _grade(run_b, profile, receivers, applications, window),
        tolerance,
    )
    if fmt == "json":
        document = {"run_a": str(run_a), "run_b": str(run_b), "regressions": len(regressions(changes))}
        _emit(json.dumps(document | {"checks": [c.as_dict() for c in changes]}, indent=2) + "\n", output)
    elif fmt == "markdown":
        _emit(diff_to_markdown(changes, str(run_a), str(run_b)), output)
    else:
        table = Table(title=f"A = {run_a}   B = {run_b}")
        for col in ("check", "change", "A", "B", "value A", "value B"):
            table.add_column(col)
        colour = {
            "regression": "bold red",
            "new_warning": "yellow",
            "worse": "yellow",
            "no_data": "yellow",
            "fixed": "green",
            "better": "green",
        }
        for c in changes:
            if c.change != "same":
                table.add_row(
                    c.id,
                    f"[{colour.get(c.change, 'default')}]{c.change}[/]",
                    c.verdict_a or "-",
                    c.verdict_b or "-",
                    _number(c.value_a),
                    _number(c.value_b),
                )
        console = report_console(output.open("w", encoding="utf-8") if output else None)
        console.print(never_cut(table, console))
        console.print(f"{len(regressions(changes))} regression(s), {sum(c.change != 'same' for c in changes)} change(s)")
    sys.exit(EXIT_FAIL if regressions(changes) else EXIT_PASS)


@click.command()
@click.argument("run", type=RUN_DIR, required=False)
@click.option(
    "--scenario",
    "scenario_name",
    default=None,
    help="a built-in name or a YAML file whose expect: list to judge (default: RUN/scenario.yaml)",
)
@click.option(
    "--profile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="compliance profile YAML (default: the shipped xiqing profile)",
)
@click.option("--format", "fmt", type=click.Choice([*TABLE, "json"]), default="table", show_default=True, help=TABLE_HELP)
@OUTPUT
def expect(run: Path | None, scenario_name: str | None, profile: Path | None, fmt: str, output: Path | None = None) -> None:
    """Judge a scenario's expectations on RUN, as `v2x suite` does: its expect: list, and the gate
    PASS unless the list says what the gate must be.  Writes RUN/expectations.json.  Without
    RUN, only checks that every name in the list is known (what `v2x run` does before it starts).

    Exit codes: 0 every expectation holds (or, without RUN, every name is known); 1 one does not
    hold; 2 the scenario, a name in it or the run cannot be judged."""
    if run is None and scenario_name is None:
        raise click.UsageError("give a RUN directory, or --scenario to check its expectations' names")
    source = scenario_name or str(run / "scenario.yaml")  # type: ignore[operator]
    try:
        scenario = load_scenario(source)
        problems = expectation_problems(scenario, source, load_profile(profile))
    except (ScenarioError, ProfileError) as exc:
        raise _GateError(str(exc)) from None
    if problems:
        raise _GateError("\n".join(problems))
    if run is None:
        return
    data = _grade(run, profile, None, ())
    outcomes = evaluate(scenario_expectations(scenario), data, run)
    write_json_atomic(run / "expectations.json", [o.as_dict() for o in outcomes])
    if fmt == "json":
        _emit(json.dumps([o.as_dict() for o in outcomes], indent=2, default=str) + "\n", output)
    else:
        held = sum(o.held for o in outcomes)
        lines = [  # one line each, never wrapped or cut (colour only on a terminal, never in a file)
            f"{click.style('held', fg='green') if o.held else click.style('not held', fg='red', bold=True)} {o.expectation}: {o.detail}"
            for o in outcomes
        ]
        lines.append(
            f"{'PASS' if held == len(outcomes) else 'FAIL'}: {held} of {len(outcomes)} expectations of {scenario.name} held"
        )
        _emit("\n".join(click.unstyle(line) if output else line for line in lines) + "\n", output)
    if not all(o.held for o in outcomes):
        sys.exit(EXIT_FAIL)


@click.command()
@click.argument("scenarios", nargs=-1, metavar="[DIR|SCENARIO]...")
@click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"), show_default=True)
@click.option(
    "--broker",
    envvar="V2X_BROKER",
    help="mqtt://host:port of an external broker (default: each run starts its own; env V2X_BROKER)",
)
@click.option(
    "--profile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="compliance profile YAML (default: the shipped xiqing profile)",
)
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="JUnit XML output (default: RUNS_DIR/suite.xml)")
def suite(scenarios: tuple[str, ...], runs_dir: Path, broker: str | None, profile: Path | None, junit: Path | None) -> None:
    """Run the scenarios (built-in names, files, or directories of *.yaml; default: every
    built-in scenario) one after another and judge each one's declared expectations.  Prints a
    table, writes JUnit; exits 0 when every expectation holds, 1 when one does not, 2 when a
    scenario file or expectation is invalid (nothing runs then)."""
    try:
        entries = load_suite(list(scenarios), profile)
    except ScenarioError as exc:
        raise _GateError(str(exc)) from None
    console = Console(stderr=True)
    expectations = sum(len(e.expectations) for e in entries)
    console.print(f"suite: {len(entries)} scenarios, {expectations} expectations")

    def done(r: ScenarioResult) -> None:
        mark = "[green]PASS[/]" if r.passed else "[bold red]FAIL[/]"
        held = sum(o.held for o in r.outcomes)
        console.print(
            f"{mark} {r.name}: {held}/{len(r.outcomes)} expectations held in {r.seconds:.0f} s"
            + (f"; {r.error}" if r.error else "")
        )
        for o in r.outcomes:
            if not o.held:
                console.print(f"     [red]not held[/] {o.expectation}: {o.detail}")

    result = run_suite(
        entries, runs_dir, profile_path=profile, broker_url=broker, status=lambda m: console.print(f"[dim]{m}[/]"), done=done
    )
    table = Table(title="Scenario suite")
    for col in ("scenario", "result", "expectations held", "report verdict", "seconds", "run directory"):
        table.add_column(col)
    for r in result.results:
        table.add_row(
            r.name,
            "[green]PASS[/]" if r.passed else "[bold red]FAIL[/]",
            f"{sum(o.held for o in r.outcomes)}/{len(r.outcomes)}",
            r.verdict or "-",
            f"{r.seconds:.0f}",
            str(r.run or r.error),
        )
    Console().print(table)
    junit = junit or runs_dir / "suite.xml"
    junit.parent.mkdir(parents=True, exist_ok=True)
    junit.write_text(suite_junit(result), encoding="utf-8")
    passed = sum(r.passed for r in result.results)
    click.echo(
        f"{'PASS' if result.passed else 'FAIL'}: {passed} of {len(result.results)} scenarios met their expectations; JUnit {junit}"
    )
    sys.exit(EXIT_PASS if result.passed else EXIT_FAIL)


def _is_dir(arg: str) -> bool:
    """Whether a command-line argument names a run: a directory (a query longer than a file name
    may be is not one) or a destination on object storage."""
    if is_bucket_url(arg):
        return True
    try:
        return Path(arg).is_dir()
    except (OSError, ValueError):  # ENAMETOOLONG; a NUL in the text
        return False


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@click.command()
@click.argument("args", nargs=-1, required=True, metavar="RUN... [QUERY]")
@click.option("--format", "fmt", type=click.Choice(FORMATS_SQL), default="table", show_default=True)
@click.option(
    "--time-zone",
    envvar="V2X_TIME_ZONE",
    default="UTC",
    show_default=True,
    help="show times in this IANA time zone, e.g. Asia/Shanghai, the zone's (env V2X_TIME_ZONE)",
)
@WINDOW_OPTION
@OUTPUT
def sql(args: tuple[str, ...], fmt: str, time_zone: str, window: Window | None, output: Path | None) -> None:
    """Run QUERY over the views of one or more run directories, or, without QUERY, open an
    interactive SQL shell on them.  Over several runs each view has a ``run`` column (run1,
    run2, ... in the order given; the table ``runs`` names them) and run k is also in schema
    ``run<k>``.  Views and macros: docs/sql.md.

    Exit codes: 0 every statement ran; 1 one failed (DuckDB's error on stderr); 2 the runs or
    the options cannot be used."""
    leading = next((k for k, a in enumerate(args) if not _is_dir(a)), len(args))  # RUN/ with its slash too
    runs, rest = [RUN_DIR.convert(a, None, None) for a in args[:leading]], list(args[leading:])
    if not runs or len(rest) > 1:
        raise click.UsageError("give one or more run directories, then at most one query")
    try:
        con = connect_runs(runs, sandboxed=True, time_zone=time_zone, window=window)
    except UNJUDGEABLE as exc:
        raise _GateError(str(exc)) from None  # also an unknown --time-zone
    interactive = sys.stdin.isatty() and not rest
    if interactive and output:
        raise click.UsageError("-o/--output writes a query's results, or piped statements': not an interactive shell's")
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        if rest and rest[0].lstrip().startswith("."):  # a dot command: .describe bsm, .tables
            failed = run_shell(con, [rest[0] + "\n"], out, False, fmt)
        elif rest:  # several statements are run in turn, each result printed, as in the shell
            failed = execute(con, rest[0], fmt, out, errors=sys.stderr)
        else:
            if interactive:
                click.echo(f"views of {', '.join(str(r) for r in runs)}; .tables lists them, .help for commands, Ctrl-D to leave")
            failed = run_shell(con, stdin_lines(interactive), out, interactive, fmt)
    finally:
        if output:
            out.close()
    sys.exit(1 if failed and not interactive else 0)


def zone_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that say how to read a zone's broker: its topic prefix, the framing of its
    topics and whom to trust (ingest and watch)."""
    for option in reversed(
        [
            click.option("--prefix", default="", help="zone topic prefix"),
            click.option(
                "--sources",
                "sources_file",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                default=None,
                help="YAML: the framing of each topic filter (envelope, bare-uper, vendor-wrapper, ...); default: the envelope",
            ),
            click.option(
                "--trust",
                multiple=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="trusted root certificate (COER)",
            ),
            click.option(
                "--ca",
                multiple=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="CA certificate under a trusted root (COER)",
            ),
            click.option(
                "--crl", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="signed CRL to apply"
            ),
            click.option(
                "--pki",
                type=click.Path(exists=True, file_okay=False, path_type=Path),
                default=None,
                help="trust a PKI directory (its root, CAs and CRL) instead of --trust/--ca/--crl",
            ),
        ]
    ):
        command = option(command)
    return command


def tls_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The client credentials of an mqtts:// broker (ingest and watch)."""
    for option in reversed(
        [
            click.option(
                "--tls-ca", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="CA of an mqtts:// broker (PEM)"
            ),
            click.option(
                "--tls-cert",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="client certificate for mqtts:// (PEM)",
            ),
            click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="its private key (PEM)"),
        ]
    ):
        command = option(command)
    return command


def _zone(
    sources_file: Path | None, pki: Path | None, trust: tuple[Path, ...], ca: tuple[Path, ...], crl: Path | None
) -> tuple[Sources, Verifier | None]:
    """The framings and the verifier of :func:`zone_options`; exit 2 when they cannot be used."""
    try:
        sources = load_sources(sources_file) if sources_file else ENVELOPE_ONLY
    except SourcesError as exc:
        raise _GateError(f"sources: {exc}") from None
    try:
        return sources, verifier_from_pki(pki) if pki else verifier_from_files(list(trust), list(ca), crl)
    except ValueError as exc:
        raise _GateError(f"trust store: {exc}") from None


def _broker(
    broker: str, tls_ca: Path | None, tls_cert: Path | None, tls_key: Path | None
) -> tuple[BrokerAddress, ClientTls | None]:
    """The broker's address and, for mqtts://, the client credentials; a usage error otherwise."""
    try:
        address = BrokerAddress.parse(broker)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--broker") from None
    try:
        tls = client_tls(tls_ca, tls_cert, tls_key)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if address.tls and tls is None:
        raise click.UsageError("an mqtts:// broker needs --tls-ca, --tls-cert and --tls-key")
    return address, tls


def _replay(source: Path, out: Path, verifier: Verifier | None, prefix: str, sources: Sources) -> None:
    try:
        stats = replay(source, out, verifier, topic_prefix=prefix, sources=sources)
    except (ReplayError, OSError) as exc:
        raise _GateError(f"replay: {exc}") from None
    click.echo(
        f"replayed {stats.received} frames of {source} into {out}: stored {stats.stored}, rejected {stats.rejected}", err=True
    )


@click.command()
@click.option("--broker", default=None, envvar="V2X_BROKER", help="mqtt://host:port of the zone broker (env V2X_BROKER)")
@click.option(
    "--replay",
    "replay_source",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="instead of a broker: the frames of a run directory or a capture file (JSON Lines), with their receive times",
)
@click.option(
    "--nats",
    "nats_servers",
    default=None,
    help="instead of a broker: nats://host:port,... of a NATS JetStream cluster; this ingest is one worker of it",
)
@click.option("--partitions", default=None, help="with --nats: the partitions this worker owns (0-3,6)")
@click.option(
    "--partition-count", type=click.IntRange(1, 1024), default=8, show_default=True, help="with --nats: the zone's partitions"
)
@click.option("--strays", is_flag=True, help="with --nats: also read the uplinks of no partition (one worker of the zone)")
@click.option("--worker", default=None, help="with --nats: this worker's name in OUT (default: from its partitions, p0-3)")
@click.option(
    "--out",
    "destination",
    required=True,
    help="run directory to write, or s3://BUCKET/PREFIX (with --broker or --nats; server and credentials "
    "from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)",
)
@zone_options
@click.option("--duration", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C)")
@click.option(
    "--verify-workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="parallel signature verifier processes (0: inline)",
)
@tls_options
@click.option(
    "--client-id",
    default=None,
    help="MQTT client id (default: the one this output used before, kept in OUT/ingest/client_id, else a new random one)",
)
@click.option(
    "--progress-every",
    type=click.FloatRange(min=0.1),
    default=None,
    help="seconds between progress lines (default: a live line on a terminal, every 10 s otherwise)",
)
@click.option(
    "--verbose", "-v", is_flag=True, help="also log the session's events on stderr (subscribed, broker lost and back, done)"
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="serve Prometheus metrics at http://HOST:PORT/metrics (received, stored, rejects by reason, latency per type)",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="address the metrics are served on")
def ingest(
    broker: str | None,
    replay_source: Path | None,
    nats_servers: str | None,
    partitions: str | None,
    partition_count: int,
    strays: bool,
    worker: str | None,
    destination: str,
    prefix: str,
    sources_file: Path | None,
    trust: tuple[Path, ...],
    ca: tuple[Path, ...],
    crl: Path | None,
    pki: Path | None,
    duration: float | None,
    verify_workers: int,
    tls_ca: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    client_id: str | None,
    progress_every: float | None,
    verbose: bool,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Subscribe to a live broker and write telemetry into OUT (same layout as `v2x run`),
    showing progress on stderr: counts, receive rate, stored per type, rejects, broker state.
    Frames are acknowledged once stored; run it again on the same OUT to resume (docs/design.md: What
    the ingest guarantees).  Exits 1 if a stage failed.

    With --replay SOURCE instead of --broker: the frames of a run directory or a capture file go
    through today's decoders and verifier with their original receive times into the new OUT
    (trust: --pki/--trust, else the source run's own pki/).

    With --nats instead of --broker: one worker of a NATS JetStream cluster, reading the partitions
    it owns (--partitions, --strays); workers on several hosts write one OUT, read as one run
    (docs/operators.md: A NATS JetStream cluster for a whole zone).

    With --metrics-port, Prometheus metrics are served while it runs (docs/operators.md).

    Exit codes: 0 a clean stop; 1 a stage failed, or the ingest never subscribed at its broker;
    2 the options, sources file or trust store cannot be used."""
    if sum(x is not None for x in (broker, replay_source, nats_servers)) != 1:
        raise click.UsageError("give one of --broker, --nats or --replay")
    stream = None
    if nats_servers is not None:
        try:
            stream = stream_source(nats_servers, partitions, partition_count, strays, worker)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--nats/--partitions/--worker") from None
    elif partitions or strays or worker:
        raise click.UsageError("--partitions, --strays and --worker go with --nats")
    out, bucket_url = _destination(destination, replay_source is not None)
    if verbose:
        stage_logger("ingest", "pipeline.ingest")
    if replay_source is not None and pki is None and not trust and (replay_source / "pki").is_dir():
        pki = replay_source / "pki"
    sources, verifier = _zone(sources_file, pki, trust, ca, crl)
    if replay_source is not None:
        _replay(replay_source, out, verifier, prefix, sources)
        return
    address, tls = _broker(broker, tls_ca, tls_cert, tls_key) if broker is not None else (None, None)
    if client_id is not None and not CLIENT_ID_PATTERN.fullmatch(client_id):
        raise click.BadParameter("1 to 64 characters of 0-9 A-Z a-z _ - (MQTT 3.1.1 3.1.3.1)", param_hint="--client-id")
    where = address.url if address is not None else f"{stream.where} as worker {stream.worker}" if stream else ""
    warm_up()
    settle_collector()  # process-wide: the garbage collector tuned for batches (pipeline.ingest.batch)

    async def _main() -> IngestStats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        if duration:
            loop.call_later(duration, stop.set)
        stats = IngestStats()
        server = None
        if metrics_port is not None:
            try:
                server = serve(IngestMetrics(stats), metrics_host, metrics_port)
            except OSError as exc:
                raise _GateError(f"metrics: cannot serve on {metrics_host}:{metrics_port}: {exc}") from None
            click.echo(f"metrics at http://{metrics_host}:{server.server_port}/metrics", err=True)
        shown = asyncio.create_task(_show_progress(stats, stop, progress_every))
        await run_ingest(
            address,
            RunDir(out, bucket_url),
            verifier=verifier,
            topic_prefix=prefix,
            stop=stop,
            on_ready=lambda: click.echo(f"subscribed to {where}; Ctrl-C to stop", err=True),
            verify_workers=verify_workers,
            tls=tls,
            stats=stats,
            client_id=client_id,
            sources=sources,
            stream=stream,
        )
        await shown
        if server is not None:
            server.shutdown()
        click.echo(f"received {stats.received}, stored {stats.stored}, rejected {stats.rejected}", err=True)
        return stats

    try:
        stats = asyncio.run(_main())
    except ValueError as exc:  # e.g. a client id file in OUT that is not one
        raise _GateError(str(exc)) from None
    sys.exit(EXIT_FAIL if stats.failure else EXIT_PASS)  # a failure was said on stderr when it happened


def _destination(destination: str, replaying: bool) -> tuple[Path, str | None]:
    """(run directory, bucket URL) of ``--out``: a folder; or a bucket, reachable, with an empty
    local directory for the run's other files."""
    if not is_bucket_url(destination):
        return Path(destination), None
    if replaying:
        raise click.BadParameter("a replay writes a run directory, not a bucket", param_hint="--out")
    try:
        bucket = Bucket.reachable(destination)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--out") from None
    except OSError as exc:
        raise _GateError(f"--out {destination}: {exc}") from None
    return bucket_view(bucket.url), bucket.url


async def _show_progress(stats: IngestStats, stop: asyncio.Event, every: float | None) -> None:
    """Progress of a running ingest on stderr: one line rewritten in place on a terminal, a
    line every ``every`` seconds (default 10) when stderr is a file or a pipe."""
    live = sys.stderr.isatty() and every is None
    every = every or (0.5 if live else 10.0)
    since = Progress(time.time())
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            pass
        line, since = progress_line(stats, since, time.time())
        click.echo(f"\r\x1b[2K{line}" if live else line, err=True, nl=not live)
    if live:
        click.echo("", err=True)


def _json_value(value: object) -> str:
    """A value JSON has no type for: a time as ISO 8601 with its offset, anything else as text."""
    return value.isoformat() if isinstance(value, datetime) else str(value)


@click.command()
@click.option("--broker", required=True, envvar="V2X_BROKER", help="mqtt://host:port of the zone broker (env V2X_BROKER)")
@zone_options
@tls_options
@click.option(
    "--type",
    "types",
    multiple=True,
    type=click.Choice([t.value for t in MessageType] + ["UNKNOWN"]),
    help="only frames of this message type (repeat for more)",
)
@click.option("--device", "devices", multiple=True, help="only frames of this sender; a glob such as 'OBU-00*' (repeat for more)")
@click.option("--count", type=click.IntRange(min=1), default=None, help="stop after this many lines")
@click.option("--duration", type=click.FloatRange(min=0.1), default=None, help="stop after this many seconds (default: Ctrl-C)")
@click.option("--format", "fmt", type=click.Choice([*TABLE, "json"]), default="table", show_default=True, help=TABLE_HELP)
@click.option(
    "--time-zone",
    envvar="V2X_TIME_ZONE",
    default="UTC",
    show_default=True,
    help="show receive times in this IANA time zone, e.g. Asia/Shanghai (env V2X_TIME_ZONE)",
)
@OUTPUT
def watch(
    broker: str,
    prefix: str,
    sources_file: Path | None,
    trust: tuple[Path, ...],
    ca: tuple[Path, ...],
    crl: Path | None,
    pki: Path | None,
    tls_ca: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    types: tuple[str, ...],
    devices: tuple[str, ...],
    count: int | None,
    duration: float | None,
    fmt: str,
    time_zone: str,
    output: Path | None,
) -> None:
    """Tail a broker like mosquitto_sub, every frame decoded and verified as the ingest judges
    it: one line per frame (time, type, sender, msgCnt, verdict, latency, what it carries or why
    it was rejected), or JSON Lines with --format json.  Nothing is stored, and the broker
    session is a clean one of its own.  Without --pki or --trust the verdict is not_verified.

    Exit codes: 0 stopped (--count, --duration or Ctrl-C); 1 the broker could not be reached or
    went away; 2 the options, sources file or trust store cannot be used."""
    sources, verifier = _zone(sources_file, pki, trust, ca, crl)
    address, tls = _broker(broker, tls_ca, tls_cert, tls_key)
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _GateError(f"unknown time zone {time_zone!r} (an IANA name such as Asia/Shanghai or UTC)") from None
    warm_up()
    judge = Watch(verifier, sources, prefix, WatchFilter(frozenset(types), devices))
    out = output.open("w", encoding="utf-8") if output else sys.stdout

    def emit(records: list[dict[str, Any]]) -> None:
        for record in records:
            text = json.dumps(record, default=_json_value, ensure_ascii=False) if fmt == "json" else line(record, zone)
            out.write(text + "\n")
        out.flush()

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        if duration:
            loop.call_later(duration, stop.set)
        ready = lambda filters: click.echo(f"watching {address.url} ({', '.join(filters)}); Ctrl-C to stop", err=True)
        await run_watch(address, judge, emit, stop, ready, count, tls)

    try:
        asyncio.run(_main())
    except MqttError as exc:
        click.echo(f"error: broker {address.url}: {exc}", err=True)
        sys.exit(EXIT_FAIL)
    finally:
        if output:
            out.close()
    click.echo(f"{judge.shown} shown of {judge.judged} frames", err=True)
