"""``v2x s3``: a local S3 server for trials (formatting only; the work is in :mod:`v2x.objectstore.server`)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from v2x.objectstore.server import S3ServerError, start_s3_server


@click.group()
def s3() -> None:
    """Telemetry on S3-compatible object storage (docs/operators.md)."""


@s3.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--bucket", default="telemetry", show_default=True, help="the bucket to make")
@click.option("--duration", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C)")
def serve(directory: Path, bucket: str, duration: float | None) -> None:
    """Run SeaweedFS (S3) on loopback ports with its data in DIRECTORY and BUCKET made, printing the
    environment clients need (fresh credentials each start); Ctrl-C stops it."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server = start_s3_server(directory, bucket)
    except (S3ServerError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    with server:
        for name, value in server.environment().items():
            click.echo(f"export {name}={value}")
        click.echo(f"S3 at {server.endpoint}, bucket {bucket}: give workers --out s3://{bucket}/PREFIX", err=True)
        click.echo("READY", err=True)
        stop.wait(duration)
