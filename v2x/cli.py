"""The ``v2x`` command line: a thin layer over library calls.

``v2x scenarios`` and ``v2x run`` live here; ``report``, ``sql`` and ``ingest`` are contributed by
the pipeline through the ``v2x.commands`` entry-point group, so this package imports none of it.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from v2x.broker import BrokerError
from v2x.run import RunError, run_scenario
from v2x.scenario import ScenarioError, builtin_scenarios, load_scenario


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


@main.command()
def scenarios() -> None:
    """List the built-in scenarios."""
    table = Table("name", "duration s", "RSUs", "vehicles", "description")
    for name, path in sorted(builtin_scenarios().items()):
        s = load_scenario(path)
        table.add_row(name, f"{s.duration_s:g}", str(len(s.intersections)), str(s.vehicle_count), s.description)
    Console().print(table)


@main.command()
@click.argument("scenario")
@click.option("--broker", help="mqtt://host:port of an external broker (default: start one for the run)")
@click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"), show_default=True)
@click.option("--report/--no-report", "show_report", default=True, help="print the compliance report at the end")
@click.pass_context
def run(ctx: click.Context, scenario: str, broker: str | None, runs_dir: Path, show_report: bool) -> None:
    """Run SCENARIO (a built-in name or a YAML file) and print its compliance report."""
    console = Console(stderr=True)
    try:
        parsed = load_scenario(scenario)
        result = run_scenario(parsed, runs_dir, broker_url=broker, status=lambda m: console.print(f"[dim]{m}[/]"))
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from None
    except (BrokerError, RunError) as exc:
        raise click.ClickException(str(exc)) from None
    console.print(f"run directory: {result.run.root}  (published {result.published}, received {result.received}, stored {result.stored})")
    if show_report:
        report = main.get_command(ctx, "report")
        if report is None:
            raise click.ClickException("the report command is not installed (pip install the project)")
        ctx.invoke(report, run=result.run.root, fmt="terminal", profile=None)


if __name__ == "__main__":
    sys.exit(main())
