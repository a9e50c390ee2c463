"""``v2x nats``: a local cluster for trials, the uplink consumers of a zone's cluster, and the subject
mapping its nodes need (formatting only; the work is in :mod:`v2x.nats.cluster` and :mod:`v2x.nats.uplink`)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from v2x.mqtt.broker import BrokerError
from v2x.nats.cluster import start_cluster
from v2x.nats.uplink import MAX_PARTITIONS, PARTITIONS, StreamMismatch, create_uplink_consumers, partition_mapping

PARTITIONS_OPTION = click.option(
    "--partitions",
    type=click.IntRange(1, MAX_PARTITIONS),
    default=PARTITIONS,
    show_default=True,
    help="partitions of the uplinks by sender",
)
PREFIX_OPTION = click.option("--prefix", default="", help="the zone's topic prefix (topics PREFIX/V2X/...)")


@click.group()
def nats() -> None:
    """A NATS JetStream cluster between the devices and the ingest workers (docs/operators.md)."""


@nats.command()
@PARTITIONS_OPTION
@PREFIX_OPTION
def mapping(partitions: int, prefix: str) -> None:
    """Print the subject mapping every node's configuration needs, so that the uplinks are kept in partitions by sender."""
    source, destination = partition_mapping(prefix, partitions)
    click.echo(f'mappings = {{ "{source}": "{destination}" }}')


@nats.command()
@click.option("--nats", "servers", required=True, help="nats://host:port of the cluster's nodes, comma-separated")
@PARTITIONS_OPTION
@PREFIX_OPTION
@click.option("--replicas", type=click.IntRange(1, 5), default=3, show_default=True, help="replicas of what is created")
def consumers(servers: str, partitions: int, prefix: str, replicas: int) -> None:
    """Make the durable consumer of every partition and of the strays, before devices publish (a
    partition without its consumer loses its frames); checks the ones there."""
    from nats.errors import Error as NatsError

    urls = [u.strip() for u in servers.split(",") if u.strip()]
    try:
        info = create_uplink_consumers(urls, prefix, replicas, partitions)
    except StreamMismatch as exc:
        raise click.ClickException(str(exc)) from None
    except (NatsError, OSError, TimeoutError, ValueError) as exc:
        raise click.ClickException(f"{servers}: {type(exc).__name__}: {exc}") from None
    click.echo(
        f"{partitions} partitions and the strays have their consumers on {info.config.name} ({info.config.num_replicas} replicas)"
    )


@nats.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--nodes", type=click.IntRange(1, 5), default=3, show_default=True)
@PARTITIONS_OPTION
@PREFIX_OPTION
@click.option("--duration", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C)")
def cluster(directory: Path, nodes: int, partitions: int, prefix: str, duration: float | None) -> None:
    """Run a cluster of NODES on loopback ports (configurations, stores and logs in DIRECTORY) with
    the uplink consumers made, printing where devices and workers connect; Ctrl-C stops it."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        running = start_cluster(directory, nodes=nodes, partitions=partitions, topic_prefix=prefix)
    except (BrokerError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    with running:
        create_uplink_consumers(running.servers, prefix, nodes, partitions)
        for k, name in enumerate(running.names):
            click.echo(f"{name}  {running.servers[k]}  {running.mqtt(k).url}  {directory / name}.conf")
        click.echo(f"workers: --nats {','.join(running.servers)} --partition-count {partitions}", err=True)
        click.echo("READY", err=True)
        stop.wait(duration)
