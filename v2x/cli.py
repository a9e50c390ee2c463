"""The ``v2x`` command line: a thin layer over library calls.

``v2x scenarios`` and ``v2x run`` live here; ``report``, ``sql`` and ``ingest`` are contributed by
the pipeline through the ``v2x.commands`` entry-point group, so this package imports none of it.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import cast

import click
from rich.console import Console
from rich.table import Table

from v2x.live import LiveState, serve_live
from v2x.messages import EMERGENCY_VEHICLE_AIDS, RSU_AIDS, VEHICLE_AIDS
from v2x.mqtt.broker import BrokerError
from v2x.nats.cli import nats as nats_commands
from v2x.objectstore.cli import s3 as s3_commands
from v2x.run import RunError, RunProgress, new_run_dir, run_scenario
from v2x.run_progress import RunProgressBars
from v2x.scenario.model import ScenarioError, builtin_scenarios, load_scenario, with_changes
from v2x.security import BACKENDS, DEFAULT_SUITE, DeviceRequest
from v2x.security import pki as pki_dir
from v2x.security.pki import DeviceKind


class InputError(click.ClickException):
    """An input that cannot be used (a scenario file, an argument): exit 2, as everywhere in ``v2x``."""

    exit_code = 2


class _Cli(click.Group):
    def _plugins(self) -> dict[str, object]:
        return {ep.name: ep for ep in entry_points(group="v2x.commands")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._plugins()))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        cmd = super().get_command(ctx, name)
        if cmd is None and name in self._plugins():
            cmd = self._plugins()[name].load()  # type: ignore[attr-defined]
        return cmd


@click.group(cls=_Cli)
@click.version_option(package_name="xiqing-v2x")
def main() -> None:
    """C-V2X test harness for the Tianjin (Xiqing) pilot zone."""


@main.group(invoke_without_command=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def scenarios(ctx: click.Context, fmt: str) -> None:
    """List the built-in scenarios (``show NAME`` prints one, to copy and edit)."""
    if ctx.invoked_subcommand is not None:
        return
    rows = []
    for name, path in sorted(builtin_scenarios().items()):
        s = load_scenario(path)
        rows.append(
            {
                "name": name,
                "duration_s": s.duration_s,
                "rsus": len(s.intersections),
                "vehicles": s.vehicle_count,
                "description": s.description,
            }
        )
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("name", "duration s", "RSUs", "vehicles", "description")
    for r in rows:
        table.add_row(str(r["name"]), f"{r['duration_s']:g}", str(r["rsus"]), str(r["vehicles"]), str(r["description"]))
    Console().print(table)


@scenarios.command("show")
@click.argument("name")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="write to this file instead of stdout")
def scenarios_show(name: str, output: Path | None) -> None:
    """Print the built-in scenario NAME as its YAML file (with its comments), to copy and edit:
    ``v2x scenarios show corridor -o my-corridor.yaml``."""
    path = builtin_scenarios().get(name)
    if path is None:
        raise InputError(f"no built-in scenario {name!r} (built-in: {', '.join(sorted(builtin_scenarios()))})")
    text = path.read_text(encoding="utf-8")
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@main.command()
@click.argument("scenario")
@click.option(
    "--broker",
    envvar="V2X_BROKER",
    help="mqtt://host:port of an external broker (default: start one for the run; env V2X_BROKER)",
)
@click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"), show_default=True)
@click.option("--report/--no-report", "show_report", default=True, help="print the compliance report at the end")
@click.option(
    "--pace",
    type=click.Choice(["realtime", "max"]),
    default="realtime",
    show_default=True,
    help="realtime: every message at its due time; max: as fast as the machine allows (throughput, see benches/README.md)",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=1, max=86_400),
    default=None,
    help="seconds to run instead of the scenario's duration_s",
)
@click.option("--seed", type=click.IntRange(min=0), default=None, help="random seed instead of the scenario's seed")
@click.option("--live", is_flag=True, help="serve a live page (the map and the counters) on a loopback port while it runs")
@click.option("--live-port", type=click.IntRange(0, 65535), default=0, show_default=True, help="its port (0: a free one)")
@click.option(
    "--telemetry",
    default=None,
    metavar="s3://BUCKET/PREFIX",
    help="write the telemetry to this empty folder of an S3 bucket instead of the run directory "
    "(server and credentials from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)",
)
@click.pass_context
def run(
    ctx: click.Context,
    scenario: str,
    broker: str | None,
    runs_dir: Path,
    show_report: bool,
    pace: str,
    duration: float | None,
    seed: int | None,
    live: bool,
    live_port: int,
    telemetry: str | None,
) -> None:
    """Run SCENARIO (a built-in name or a YAML file), print its compliance report, write it as
    RUN/report.html and judge the scenario's expectations (its expect: list, and the gate PASS
    unless the list says what the gate must be), as `v2x suite` does.

    Exit codes: 0 every expectation held; 1 one did not, or the run could not be completed;
    2 the scenario or a name in its expect: list is invalid (nothing runs then)."""
    console = Console(stderr=True)
    judge = main.get_command(ctx, "expect")
    if judge is None:
        raise click.ClickException("the expect and report commands are not installed (pip install the project)")
    try:
        overrides = {k: v for k, v in (("duration_s", duration), ("seed", seed)) if v is not None}
        parsed = with_changes(load_scenario(scenario), **overrides)
    except ScenarioError as exc:
        raise InputError(str(exc)) from None
    ctx.invoke(judge, run=None, scenario_name=scenario, profile=None, fmt="terminal")  # names in expect: known, before the run
    directory = new_run_dir(parsed, runs_dir)
    state = LiveState(directory, parsed) if live else None
    server = None
    if state is not None:
        try:
            server = serve_live(state, "127.0.0.1", live_port)
        except OSError as exc:
            raise InputError(f"--live-port {live_port}: {exc}") from None
        console.print(f"live page: http://127.0.0.1:{server.server_address[1]}/")
    try:
        with RunProgressBars(console) as bars:

            def progress(p: RunProgress) -> None:
                bars.update(p)
                if state is not None:
                    state.update(p)

            result = run_scenario(
                parsed,
                runs_dir,
                run_dir=directory.root,
                broker_url=broker,
                status=bars.status,
                pace=pace,  # type: ignore[arg-type]
                progress=progress,
                telemetry=telemetry,
            )
    except (BrokerError, RunError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if server is not None:
            server.shutdown()
    console.print(
        f"run directory: {result.run.root}  (published {result.published}, received {result.received}, stored {result.stored})"
    )
    if show_report:
        report = main.get_command(ctx, "report")
        if report is None:
            raise click.ClickException("the report command is not installed (pip install the project)")
        ctx.invoke(report, run=result.run.root, fmt="terminal", profile=None)
        page = result.run.root / "report.html"
        ctx.invoke(report, run=result.run.root, fmt="html", output=page, profile=None)
        console.print(f"HTML report with charts: {page}")
    ctx.invoke(judge, run=result.run.root, scenario_name=str(result.run.root / "scenario.yaml"), profile=None, fmt="terminal")


main.add_command(nats_commands)
main.add_command(s3_commands)


@main.group()
def pki() -> None:
    """Manage a PKI directory: root CA, enrolment/pseudonym/application CAs, devices, CRL."""


@pki.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--suite", type=click.Choice(sorted(BACKENDS)), default=DEFAULT_SUITE, show_default=True)
def pki_init(directory: Path, suite: str) -> None:
    """Create the root CA and the ECA, PCA and ACA in DIRECTORY."""
    try:
        pki_dir.init_pki(directory, suite=suite)
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from None
    _print_certificates(directory)


@pki.command("issue")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("device_id")
@click.option("--kind", type=click.Choice(["vehicle", "rsu", "emergency_vehicle"]), default="vehicle", show_default=True)
@click.option(
    "--aid",
    "aids",
    type=int,
    multiple=True,
    help="AID to grant (default: BSM 111/112 for a vehicle, 113/114 for an emergency vehicle, MAP/SPAT/RSI 1-3/RSM 3618-3623 for an RSU)",
)
@click.option(
    "--pseudonyms", type=click.IntRange(1, 100), default=3, show_default=True, help="pseudonym certificates of a vehicle"
)
@click.option("--validity-hours", type=click.IntRange(1), default=168, show_default=True)
def pki_issue(directory: Path, device_id: str, kind: str, aids: tuple[int, ...], pseudonyms: int, validity_hours: int) -> None:
    """Issue DEVICE_ID's enrolment certificate and its pseudonym (vehicle), identification
    (emergency vehicle) or application (RSU) certificates."""
    default = {"vehicle": VEHICLE_AIDS, "emergency_vehicle": EMERGENCY_VEHICLE_AIDS, "rsu": RSU_AIDS}[kind]
    try:
        creds = pki_dir.issue(
            directory,
            DeviceRequest(device_id, list(aids) or list(default), kind=cast(DeviceKind, kind), pseudonyms=pseudonyms),
            validity_hours=validity_hours,
        )
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    for c in creds:
        click.echo(f"{device_id}/{c.name}  HashedId8 {c.hashed_id8.hex()}")


@pki.command("revoke")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("target")
@click.option("--reason", default="unspecified", show_default=True)
def pki_revoke(directory: Path, target: str, reason: str) -> None:
    """Revoke TARGET (a device id, or a certificate's hex HashedId8); `v2x pki crl` publishes it."""
    try:
        revoked = pki_dir.revoke(directory, target, reason=reason)
    except (KeyError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from None
    click.echo(f"revoked {len(revoked)} certificate(s): {', '.join(revoked)}")


@pki.command("crl")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def pki_crl(directory: Path) -> None:
    """Sign a CRL of everything revoked (YD/T 3957, AID 3628) into DIRECTORY/crl.oer."""
    try:
        path = pki_dir.write_crl(directory)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    shown = pki_dir.describe(directory)
    click.echo(f"wrote {path}: {len(shown['revoked'])} revoked certificate(s)")


@pki.command("show")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--json", "as_json", is_flag=True, hidden=True, help="the same as --format json")
def pki_show(directory: Path, fmt: str, as_json: bool) -> None:
    """List the certificates of DIRECTORY with issuer, validity and AIDs, and the revocations."""
    if as_json or fmt == "json":
        click.echo(json.dumps(pki_dir.describe(directory), indent=2))
        return
    _print_certificates(directory)


def _print_certificates(directory: Path) -> None:
    try:
        shown = pki_dir.describe(directory)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    revoked = {r["hashed_id8"] for r in shown["revoked"]}
    table = Table("file", "HashedId8", "issuer", "valid until", "AIDs", title=f"PKI {directory} ({shown['suite']})")
    for c in shown["certificates"]:
        aids = f"issues {c['issue_aids']}" if c["ca"] else ", ".join(map(str, c["app_aids"])) or "-"
        mark = " [red]revoked[/]" if c["hashed_id8"] in revoked else ""
        table.add_row(c["file"], c["hashed_id8"] + mark, c["issuer"], c["valid_until"], aids)
    Console().print(table)


if __name__ == "__main__":
    sys.exit(main())
