"""`v2x report`, `v2x sql` and `v2x ingest`: thin click commands over pipeline library calls.

They are registered with the `v2x` CLI through the ``v2x.commands`` entry-point group
(pyproject.toml), so the v2x package never imports the pipeline.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from v2x.rundir import RunDir
from v2x.transport import BrokerAddress

from pipeline.batch import warm_up
from pipeline.ingest import ingest as run_ingest
from pipeline.ingest import client_tls, verifier_from_files, verifier_from_pki
from pipeline.report import build_report, render_terminal, to_json
from pipeline.views import connect


@click.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["terminal", "json"]), default="terminal", show_default=True)
@click.option("--profile", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="compliance profile YAML")
def report(run: Path, fmt: str, profile: Path | None) -> None:
    """Compliance report of RUN (a run directory)."""
    try:
        data = build_report(run, profile)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    if fmt == "json":
        click.echo(to_json(data))
    else:
        render_terminal(data, Console())


@click.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("query")
def sql(run: Path, query: str) -> None:
    """Run QUERY over RUN's views (messages, bsm, published)."""
    try:
        con = connect(run)
        cur = con.execute(query)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # duckdb.Error and friends: show the SQL error, not a traceback
        raise click.ClickException(f"query failed: {exc}") from None
    if cur.description is None:
        return
    table = Table()
    for col in cur.description:
        table.add_column(col[0])
    for row in cur.fetchall():
        table.add_row(*("NULL" if v is None else str(v) for v in row))
    Console().print(table)


@click.command()
@click.option("--broker", required=True, help="mqtt://host:port of the zone broker")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="run directory to write")
@click.option("--prefix", default="", help="zone topic prefix")
@click.option("--trust", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="trusted root certificate (COER)")
@click.option("--ca", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="CA certificate under a trusted root (COER)")
@click.option("--crl", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="signed CRL to apply")
@click.option("--pki", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="trust a PKI directory (its root, CAs and CRL) instead of --trust/--ca/--crl")
@click.option("--duration", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C)")
@click.option("--verify-workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="parallel signature verifiers: threads for ECDSA, processes for SM2 (0: inline)")
@click.option("--tls-ca", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="CA of an mqtts:// broker (PEM)")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="client certificate for mqtts:// (PEM)")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="its private key (PEM)")
def ingest(broker: str, out: Path, prefix: str, trust: tuple[Path, ...], ca: tuple[Path, ...], crl: Path | None, pki: Path | None,
           duration: float | None, verify_workers: int, tls_ca: Path | None, tls_cert: Path | None, tls_key: Path | None) -> None:
    """Subscribe to a live broker and write telemetry into OUT (same layout as `v2x run`)."""
    try:
        address = BrokerAddress.parse(broker)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--broker") from None
    try:
        verifier = verifier_from_pki(pki) if pki else verifier_from_files(list(trust), list(ca), crl)
    except ValueError as exc:
        raise click.ClickException(f"trust store: {exc}") from None
    try:
        tls = client_tls(tls_ca, tls_cert, tls_key)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if address.tls and tls is None:
        raise click.UsageError("an mqtts:// broker needs --tls-ca, --tls-cert and --tls-key")
    warm_up()

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        if duration:
            loop.call_later(duration, stop.set)
        stats = await run_ingest(address, RunDir(out), verifier=verifier, topic_prefix=prefix, stop=stop,
                                 on_ready=lambda: click.echo(f"subscribed to {address.url}; Ctrl-C to stop", err=True),
                                 verify_workers=verify_workers, tls=tls)
        click.echo(f"received {stats.received}, stored {stats.stored}, rejected {stats.rejected}", err=True)

    asyncio.run(_main())
    sys.exit(0)
