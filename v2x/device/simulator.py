"""The process of a simulator (``python -m roadside`` / ``python -m vehicles``).

It reads the run's scenario and PKI, builds its devices, connects (:mod:`v2x.device.publisher`),
prints ``READY``, reads ``GO <unix time>`` from stdin (so every simulator of a run shares one
time zero) and runs the schedule (:mod:`v2x.device.schedule`).  While it runs it rewrites
``RUN/published/progress/<name>.json`` every second; at the end it writes
``RUN/published/<name>.json``: generated, published and failed per device and in total, what
the network model injected, and how well the schedule was kept.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from v2x import clock
from v2x.device.publisher import Publisher
from v2x.device.schedule import Pace, ScheduleStats, run_schedule
from v2x.device.uplink import Device
from v2x.messages import message_set
from v2x.mqtt.access import BrokerAccess, ClientTls
from v2x.mqtt.transport import BrokerAddress
from v2x.rundir import RunDir, write_json_atomic
from v2x.scenario.model import Scenario, load_scenario
from v2x.security import Signer
from v2x.stage_log import PROGRESS_EVERY_S, stage_logger

CONNECT_TIMEOUT_S = 30.0
ACK_DRAIN_S = 10.0
BARE_SIGN_S = 1.0


def connections(name: str, devices: list[Device], tls: bool) -> tuple[dict[str, ClientTls | None], list[str]]:
    """The publisher's connections and each device's connection: one shared connection per
    simulator process, or with TLS one per device, named after it, holding its client
    certificate (the broker's topic ACL knows the device by it)."""
    if tls:
        groups = {f"{up.device_kind}-{up.device_id}": up.tls for up, _ in devices}
        return groups, list(groups)
    shared = f"{name}-{os.getpid()}"
    return {shared: None}, [shared] * len(devices)


def bare_sign_rate(signer: Signer, seconds: float = BARE_SIGN_S) -> float:
    """Signatures per second of the signer's library, one frame after another on this core, with
    a fresh signer of the same credential (certificate digest, the common case): the baseline
    of the as-fast-as-possible pace."""
    probe = Signer(signer.credential)
    frame = bytes(range(100))
    t64 = clock.time64_from_unix_us(clock.now_unix_us())
    probe.sign(frame, 111, t64)
    n, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        for _ in range(50):
            probe.sign(frame, 111, t64)
        n += 50
    return n / elapsed


def _handshake() -> float:
    print("READY", flush=True)
    parts = sys.stdin.readline().split()
    return float(parts[1]) if len(parts) == 2 and parts[0] == "GO" else time.time()


def _counts(totals: dict[str, int]) -> str:
    """``generated 120, published 120, failed 0`` from :func:`_totals`."""
    kinds = ("generated", "published", "failed", "injected_loss", "injected_duplicate")
    summed = {k: sum(n for key, n in totals.items() if key.split(".")[0] == k) for k in kinds}
    return ", ".join(f"{k} {n}" for k, n in summed.items() if n or k in kinds[:3])


def _totals(devices: list[Device]) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for up, _ in devices:
        totals.update(
            {
                f"{k}.{t}": n
                for k, c in (("generated", up.generated), ("published", up.published), ("failed", up.failed))
                for t, n in c.items()
            }
        )
        if up.network is not None:
            totals.update({f"injected_loss.{t}": n for t, n in up.network.lost.items()})
            totals.update({f"injected_duplicate.{t}": n for t, n in up.network.duplicated.items()})
    return dict(totals)


def simulate(
    name: str,
    scenario: Scenario,
    run: RunDir,
    devices: list[Device],
    address: BrokerAddress,
    start_at: float | None = None,
    pace: Pace = "realtime",
    fallbacks: list[BrokerAddress] | None = None,
) -> ScheduleStats:
    """Connect ``devices``, publish their streams from ``start_at`` (None: READY/GO on stdio) for
    the scenario's duration, and write ``RUN/published/<name>.json``.  ``fallbacks``: other nodes
    of the broker, tried in turn when a connection to ``address`` fails."""
    if address.tls:
        access = BrokerAccess(run.broker_access)
        for uplink, _ in devices:
            uplink.tls = access.client(uplink.device_id)
    log = stage_logger(name)
    streams = Counter(stream.msg_type.value for _, device_streams in devices for stream in device_streams)
    log.info(
        "scenario %s: %d devices, streams %s, %g s at pace %s, broker %s (QoS %d)",
        scenario.name,
        len(devices),
        dict(sorted(streams.items())),
        scenario.duration_s,
        pace,
        address.url,
        scenario.broker.qos,
    )
    groups, connection_of = connections(name, devices, address.tls)
    publisher = Publisher(address, groups, scenario.broker.qos, fallbacks)
    message_set()  # compile the schema before READY, or the first messages go out late in a burst
    bare = bare_sign_rate(devices[0][0].signer) if pace == "max" and devices else None
    publisher.start(CONNECT_TIMEOUT_S)
    log.info("connected: %d connection(s) to %s", len(groups), address.url)
    if start_at is None:
        start_at = _handshake()
    log.info("starting at %s", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start_at)))
    progress_file = run.published / "progress" / f"{name}.json"
    progress_file.parent.mkdir(parents=True, exist_ok=True)
    logged = [time.monotonic()]

    def progress(stats: ScheduleStats) -> None:
        totals = _totals(devices)
        write_json_atomic(progress_file, {"simulator": name, "schedule": stats.summary(), "totals": totals})
        if time.monotonic() - logged[0] >= PROGRESS_EVERY_S:
            logged[0] = time.monotonic()
            log.info("progress: %s", _counts(totals))

    stats = run_schedule(devices, publisher, connection_of, start_at, scenario.duration_s, pace, progress)
    publisher.stop(ACK_DRAIN_S)
    schedule = stats.summary()
    events = list(publisher.events())
    for event in events:
        log.warning("broker connection: %s", event)
    log.info("done: %s; schedule %s", _counts(_totals(devices)), schedule)
    if bare is not None:
        schedule |= {
            "bare_sign_per_s": round(bare, 1),
            "generated_over_bare_sign": round(stats.due / max(stats.ended_at - stats.started_at, 1e-9) / bare, 4),
        }
    write_json_atomic(
        run.published / f"{name}.json",
        {
            "simulator": name,
            "devices": {up.device_id: up.summary() for up, _ in devices},
            "totals": _totals(devices),
            "schedule": schedule,
            "connection_events": events,
        },
    )
    progress(stats)
    attacks = [{"device_id": up.device_id, **entry} for up, _ in devices if up.attack for entry in up.attack.ledger]
    if attacks:
        write_json_atomic(run.attacks / f"{name}.json", attacks)
    return stats


def simulator_main(name: str, build_devices: Callable[[Scenario, RunDir], list[Device]], argv: list[str] | None = None) -> int:
    """Command line of a simulator process: ``--run RUN --broker URL[,URL...] [--start-at T] [--pace realtime|max]``."""
    parser = argparse.ArgumentParser(prog=f"python -m {name}", description=f"{name} simulator of a v2x run")
    parser.add_argument("--run", required=True, type=Path, help="run directory made by `v2x run`")
    parser.add_argument(
        "--broker",
        required=True,
        help="mqtt://host:port, or mqtts://host:port with the run's broker-access/; "
        "several, comma-separated: the nodes of a cluster, the first used first",
    )
    parser.add_argument(
        "--start-at", type=float, default=None, help="Unix time of simulation time 0 (default: READY/GO handshake on stdio)"
    )
    parser.add_argument(
        "--pace",
        choices=("realtime", "max"),
        default="realtime",
        help="realtime: every message at its due time; max: as fast as the machine allows",
    )
    args = parser.parse_args(argv)
    run = RunDir(args.run)
    scenario = load_scenario(run.scenario)
    devices = build_devices(scenario, run)
    first, *others = [BrokerAddress.parse(url) for url in args.broker.split(",")]
    simulate(name, scenario, run, devices, first, args.start_at, args.pace, others)
    return 0
