"""``python -m pipeline.ingest --run RUN --broker mqtt://host:port`` (or ``--nats URLS --partitions
0-3``, a stream worker): the ingest as a process.  It
prints ``READY`` once subscribed and stops cleanly (final batch flushed) on SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from v2x.framing.sources import ENVELOPE_ONLY, SourcesError, load_sources
from v2x.mqtt.transport import BrokerAddress
from v2x.nats.uplink import PARTITIONS
from v2x.rundir import RunDir, exit_stage
from v2x.stage_log import stage_logger

from pipeline.ingest.batch import settle_collector, warm_up
from pipeline.ingest.receiver import client_tls
from pipeline.ingest.session import ingest
from pipeline.ingest.stream_receiver import stream_source
from pipeline.ingest.summary import IngestStats
from pipeline.ingest.trust import verifier_from_files, verifier_from_pki


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.ingest", description="Ingest V2X uplinks into a run directory")
    parser.add_argument("--run", required=True, type=Path, help="run directory to write")
    parser.add_argument("--broker", default=None, help="mqtt://host:port")
    parser.add_argument("--nats", default=None, help="instead of --broker: nats://host:port,... of a JetStream cluster")
    parser.add_argument("--partitions", default=None, help="with --nats: the stream partitions this worker owns (0-3,6)")
    parser.add_argument("--partition-count", type=int, default=PARTITIONS, help="with --nats: the stream's partitions")
    parser.add_argument("--strays", action="store_true", help="with --nats: also read the uplinks no partition holds")
    parser.add_argument("--worker", default=None, help="with --nats: this worker's name (default: from its partitions)")
    parser.add_argument("--telemetry", default=None, help="s3://bucket/prefix to write instead of the run directory")
    parser.add_argument("--prefix", default="", help="zone topic prefix")
    parser.add_argument("--trust", action="append", type=Path, default=[], help="trusted root certificate (COER); repeatable")
    parser.add_argument(
        "--ca", action="append", type=Path, default=[], help="CA certificate under a trusted root (COER); repeatable"
    )
    parser.add_argument("--crl", type=Path, default=None, help="signed CRL (COER SecuredCrl) to apply")
    parser.add_argument("--sources", type=Path, default=None, help="which framing each uplink topic uses (YAML)")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--verify-workers", type=int, default=0, help="parallel signature verifiers (0: inline)")
    parser.add_argument("--client-id", default=None, help="MQTT client id (default: kept per output in ingest/client_id)")
    parser.add_argument("--tls-ca", type=Path, help="CA of an mqtts broker")
    parser.add_argument("--tls-cert", type=Path, help="the ingest's client certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="its private key (PEM)")
    args = parser.parse_args(argv)
    if (args.broker is None) == (args.nats is None):
        parser.error("give either --broker or --nats")
    try:
        stream = stream_source(args.nats, args.partitions, args.partition_count, args.strays, args.worker) if args.nats else None
    except ValueError as exc:
        parser.error(str(exc))
    log = stage_logger("ingest", "pipeline.ingest")  # RUN/logs/ingest.log: the session's events
    log.info("run %s, broker %s, sources %s", args.run, args.broker or args.nats, args.sources or "envelope only")
    run = RunDir(args.run, args.telemetry)
    try:
        verifier = (
            verifier_from_files(args.trust, args.ca, args.crl)
            if args.trust
            else (verifier_from_pki(run.pki) if run.pki.exists() else None)
        )
    except ValueError as exc:
        print(f"ingest: trust store: {exc}", file=sys.stderr)
        return 2
    try:
        sources = load_sources(args.sources) if args.sources else ENVELOPE_ONLY
    except SourcesError as exc:
        print(f"ingest: sources: {exc}", file=sys.stderr)
        return 2
    address = BrokerAddress.parse(args.broker) if args.broker else None
    warm_up()
    settle_collector()  # process-wide: the garbage collector tuned for batches (pipeline.ingest.batch)

    async def _main() -> IngestStats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if args.duration:
            loop.call_later(args.duration, stop.set)
        return await ingest(
            address,
            run,
            verifier=verifier,
            topic_prefix=args.prefix,
            stop=stop,
            on_ready=lambda: print("READY", flush=True),
            verify_workers=args.verify_workers,
            tls=client_tls(args.tls_ca, args.tls_cert, args.tls_key),
            client_id=args.client_id,
            sources=sources,
            stream=stream,
        )

    stats = asyncio.run(_main())
    return 1 if stats.failure else 0


if __name__ == "__main__":
    exit_stage(main())
