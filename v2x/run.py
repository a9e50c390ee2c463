"""Run a scenario end to end: broker, ingest, RSU and vehicle simulators, in separate processes.

Each stage is its own process talking only through the broker and the run directory (the data
flows one way: devices -> broker -> ingest -> Parquet -> report), so this module starts
``python -m pipeline.ingest.service``, ``python -m roadside`` and ``python -m vehicles`` by name and
imports none of them.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import platform
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from v2x import __version__
from v2x.cache import FIRST_STARTUP_S, last_startup_s, record_startup_s
from v2x.device import attacks, schedule
from v2x.device.schedule import Pace
from v2x.framing.sources import dump_sources
from v2x.messages import EMERGENCY_VEHICLE_AIDS, RSU_AIDS, VEHICLE_AIDS, VRU_AIDS, MessageType
from v2x.mqtt.access import INGEST_CLIENT, create_broker_access
from v2x.mqtt.broker import BrokerError, RunningBroker, start_broker
from v2x.mqtt.transport import BrokerAddress
from v2x.mqtt.wire import DISCONNECT, MqttError, open_connection
from v2x.nats.cluster import RunningCluster, start_cluster
from v2x.nats.uplink import create_uplink_consumers, uplink_leader
from v2x.objectstore.bucket import START_WAIT_S, Bucket, BucketError
from v2x.rundir import RunDir, write_json_atomic
from v2x.scenario.model import ClusterFault, Intersection, Scenario, dump_scenario
from v2x.security import DeviceRequest, create_pki
from v2x.security.pki import issue, suite_of

DRAIN_TIMEOUT_S = 15.0  # the ingest is given up on after this long without receiving anything
# ... and, once told to stop, after this long without storing anything (a batch of 20,000
# SM2 frames verified inline takes about 10 s on 2 cores)
STORE_TIMEOUT_S = 120.0
# When the devices and the ingest need more CPU than the machine has, the devices keep their
# schedule (they are what is under test) and the ingest falls behind and drains afterwards.
INGEST_NICENESS = 5
SIMULATORS = ("roadside", "vehicles")
SIMULATOR_GRACE_S = 120.0  # a simulator still running this long after the run's end has failed
READY_TIMEOUT_S = 120.0  # a stage not ready this long after its start has failed (a first run compiles for ~10 s)
BROKER_PROBE_TIMEOUT_S = 10.0
PROGRESS_EVERY_S = 0.25
GO_LEAD_S = 0.25  # simulation time 0 is this long after GO is sent, so every simulator starts on it


class RunError(RuntimeError):
    """A stage of the run failed; the message names it and points at its log."""


@contextmanager
def _storage_outage_ends_the_run(run: RunDir) -> Iterator[None]:
    """A bucket that stays unreachable past its outage limit ends the run (as it ends the ingest,
    which stops acknowledging): RunError naming it, and the run directory is left incomplete,
    so its report fails ``run.complete``."""
    try:
        yield
    except BucketError as exc:
        raise RunError(
            f"the run's telemetry destination stopped answering: {exc} (the ingest's log: {run.logs / 'ingest.log'})"
        ) from None


@dataclass(frozen=True)
class RunProgress:
    """Where a run is, for a progress display: ``phase`` "starting" (``elapsed_s`` of about
    ``duration_s``: the stages load or compile their kernels), "running" (``elapsed_s`` of
    ``duration_s``) or "draining"; frames the simulators published so far and the ingest
    received."""

    phase: str
    elapsed_s: float
    duration_s: float
    published: int
    received: int
    stored: int
    nominal_per_s: float = 0.0
    pace: str = "realtime"


@dataclass(frozen=True)
class RunResult:
    run: RunDir
    published: int
    received: int
    stored: int


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "xiqing-v2x": __version__}
    for dist in ("numba", "numpy", "asn1tools", "pyarrow", "duckdb", "cryptography", "aiomqtt", "pydantic"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _spawn(args: list[str], log: Path, niceness: int = 0) -> subprocess.Popen[bytes]:
    """Start ``python -P ARGS``: stdin/stdout are the READY/GO handshake, stderr goes to ``log``;
    ``niceness`` lowers its CPU priority.  ``-P``: the stage imports the installed package, not
    a source folder that happens to be the current directory (which lacks the compiled
    extension of a regular install)."""
    return subprocess.Popen(
        [sys.executable, "-P", *args],
        stdout=subprocess.PIPE,
        stderr=log.open("ab"),
        stdin=subprocess.PIPE,
        preexec_fn=(lambda: os.nice(niceness)) if niceness else None,
    )


def _await_ready(
    stages: dict[str, tuple[subprocess.Popen[bytes], Path]],
    timeout_s: float,
    why: Callable[[], str],
    tick: Callable[[float], None] = lambda _elapsed: None,
) -> None:
    """Wait until every stage (name: process, log) has printed READY, calling ``tick`` with the
    seconds waited about twice a second.  A stage that exits first, or is not ready within
    ``timeout_s``, fails the run with its name, its log and ``why()`` (what the ingest last saw
    of the broker)."""
    waiting = dict(stages)
    began = time.monotonic()
    deadline = began + timeout_s
    with selectors.DefaultSelector() as selector:
        for name, (proc, _log) in waiting.items():
            selector.register(proc.stdout, selectors.EVENT_READ, name)  # type: ignore[arg-type]
        while waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                name, (_proc, log) = next(iter(waiting.items()))
                raise RunError(f"{name} did not become ready within {timeout_s:g} s{why()}; see {log}")
            tick(time.monotonic() - began)
            for key, _ in selector.select(min(remaining, 0.5)):
                name = key.data
                proc, log = waiting.pop(name)
                selector.unregister(key.fileobj)
                if proc.stdout is None or proc.stdout.readline().strip() != b"READY":
                    proc.kill()
                    raise RunError(f"{name} did not become ready (exit code {proc.wait()}){why()}; see {log}")


def _broker_seen_by_ingest(run: RunDir) -> str:
    events = _progress(run).get("events") or []
    return f" (the ingest's last broker event: {events[-1]['event']}: {events[-1]['detail']})" if events else ""


def _probe_broker(url: str) -> None:
    """Connect to an external broker once (MQTT CONNECT/CONNACK) so that a run against a broker
    that is not there fails at once with the reason, not after the stages' retries."""
    address = BrokerAddress.parse(url)
    try:
        sock, _ = open_connection(
            address.host,
            address.port,
            f"v2x-run-probe-{os.getpid()}",
            keepalive_s=10,
            clean_session=True,
            tls=None,
            timeout_s=BROKER_PROBE_TIMEOUT_S,
        )
    except MqttError as exc:
        raise RunError(f"broker {url}: {exc}") from None
    try:
        sock.sendall(bytes([DISCONNECT << 4, 0]))
    finally:
        sock.close()


def _published_total(run: RunDir) -> int:
    return sum(sum(r.total("published").values()) for r in run.publish_records())


def _progress(run: RunDir) -> dict[str, Any]:
    return run.ingest_progress() or {"received": 0, "stored": 0}


def _published_so_far(run: RunDir) -> tuple[int, float]:
    """Frames the simulators published so far, and their nominal rate (frames/s)."""
    total, nominal = 0, 0.0
    try:
        records = run.publish_records(in_progress=True)
    except (OSError, ValueError):
        return total, nominal  # a record being replaced right now: next time
    for record in records:
        total += sum(record.total("published").values())
        nominal += float((record.schedule or {}).get("nominal_per_s", 0.0))
    return total, nominal


def new_run_dir(scenario: Scenario, runs_dir: Path) -> RunDir:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root = runs_dir / f"{scenario.name}-{stamp}"
    k = 1
    while root.exists():
        k += 1
        root = runs_dir / f"{scenario.name}-{stamp}-{k}"
    return RunDir(root).create()


def prepare_pki(run: RunDir, scenario: Scenario, devices: list[DeviceRequest]) -> None:
    """The run's PKI: a new one, or a copy of ``security.pki`` completed with the devices it lacks."""
    source = scenario.security.pki
    if source is None:
        create_pki(run.pki, devices, suite=scenario.security.suite, valid_from_unix_s=time.time())
        return
    try:
        suite = suite_of(Path(source)).name
    except FileNotFoundError as exc:
        raise RunError(f"security.pki: {exc}") from None
    if suite != scenario.security.suite:
        raise RunError(f"security.pki {source} is a {suite} PKI but the scenario's suite is {scenario.security.suite}")
    shutil.copytree(source, run.pki)
    for device in devices:
        if not (run.pki / "devices" / device.device_id).is_dir():
            issue(run.pki, device)


def check_new_destination(url: str) -> Bucket:
    """The bucket destination of a new run: reachable with the environment's settings
    (:mod:`v2x.objectstore.bucket`) and holding no run yet; RunError saying why not."""
    try:
        bucket = Bucket.reachable(url)
        held = dataclasses.replace(bucket, outage_s=START_WAIT_S).folders()
    except (ValueError, OSError) as exc:
        raise RunError(f"telemetry destination {url}: {exc}") from None
    if held:
        raise RunError(f"telemetry destination {url} already holds {', '.join(held)}/: give each run a prefix of its own")
    return bucket


def run_scenario(
    scenario: Scenario,
    runs_dir: Path = Path("runs"),
    *,
    broker_url: str | None = None,
    run_dir: Path | None = None,
    status: Callable[[str], None] = lambda _msg: None,
    pace: Pace = "realtime",
    progress: Callable[[RunProgress], None] | None = None,
    telemetry: str | None = None,
) -> RunResult:
    """Run ``scenario`` and return its run directory with published/received/stored counts.

    ``telemetry``: a destination on object storage (``s3://bucket/prefix``, empty) that the
    ingest writes instead of the run directory (:func:`check_new_destination`).

    ``pace``: "realtime" sends every message at its due time; "max" as fast as the machine
    allows (a throughput measurement, see v2x.device.schedule).  ``progress`` is called about four
    times a second while the simulators run and the ingest drains."""
    bucket = check_new_destination(telemetry) if telemetry else None
    run = RunDir(run_dir).create() if run_dir else new_run_dir(scenario, runs_dir)
    run.scenario.write_text(dump_scenario(scenario), encoding="utf-8")
    if not (sources := scenario.uplink_sources()).envelope_only():
        run.sources.write_text(dump_sources(sources), encoding="utf-8")
    manifest: dict[str, object] = {
        "scenario": scenario.name,
        "versions": _versions(),
        "started_at": time.time(),
        "pace": pace,
        "network": [imp.model_dump(mode="json", exclude_none=True) for imp in scenario.network],
        "applications": scenario.applications,
        **({"telemetry": bucket.url} if bucket else {}),
    }
    write_json_atomic(run.manifest, manifest)

    status(f"issuing certificates ({len(scenario.intersections)} RSUs, {scenario.vehicle_count} OBUs)")
    devices = _device_requests(scenario)
    prepare_pki(run, scenario, devices)
    if scenario.attacks:
        attacks.prepare(run.pki, run.root, {a.kind for a in scenario.attacks})

    stages = _Stages(run, manifest)
    with stages, _storage_outage_ends_the_run(run):
        broker: dict[str, Any]
        if scenario.broker.kind == "nats-cluster":
            if broker_url is not None:
                raise RunError("a scenario with a nats-cluster broker runs on the cluster it starts, not on --broker")
            broker = _cluster(run, scenario, stages, status)
            ingests = _worker_commands(run, scenario, stages)
        else:
            url, ingest_tls = _broker(run, scenario, devices, broker_url, stages, status)
            broker = {
                "url": url,
                "started_by_run": stages.broker is not None,
                "kind": stages.broker.kind if stages.broker else "external",
            }
            ingests = {"ingest": (_ingest_command(run, scenario, ["--broker", url, *ingest_tls]), run.logs / "ingest.log")}
        manifest["broker"] = broker
        write_json_atomic(run.manifest, manifest)
        stages.ingests = ingests
        sims = _start_stages(run, scenario, _simulator_brokers(broker), pace, stages)
        last = last_startup_s()
        if last is None:
            low, high = FIRST_STARTUP_S
            status(
                f"starting ingest and simulators: the first run on this machine compiles the numba kernels "
                f"({low} to {high} s on 2 cores; later runs load them from the cache)"
            )
        else:
            status(f"starting ingest and simulators (about {last:.0f} s, as the last run)")
        estimate = last or float(FIRST_STARTUP_S[1])
        began = time.monotonic()
        _await_ready(
            {name: (stages.running[name], log) for name, (_, log) in ingests.items()}
            | {f"{name} simulator": (proc, run.logs / f"{name}.log") for name, proc in sims.items()},
            READY_TIMEOUT_S,
            lambda: _broker_seen_by_ingest(run),
            lambda elapsed: progress(RunProgress("starting", elapsed, estimate, 0, 0, 0)) if progress else None,
        )
        record_startup_s(time.monotonic() - began)
        start_at = _go(sims)
        manifest["go_at"] = start_at  # the devices' common start: what a scenario's times (offline at_s ...) count from
        status(f"running {scenario.name} for {scenario.duration_s:g} s" + (" as fast as possible" if pace == "max" else ""))
        report = _Reporter(run, scenario, pace, start_at, progress)
        faults = ClusterFaults(scenario.broker.faults, start_at, stages, status, broker.get("device_nodes"))
        faults.start()
        _wait_for_simulators(run, scenario, pace, sims, report)
        faults.join()
        if faults.applied:
            broker["faults"] = faults.applied
        if faults.error:
            raise RunError(f"broker.faults: {faults.error}")
        published = _published_total(run)
        status(f"draining: {published} frames published")
        _drain(run, stages, published, report)
        summary = run.ingest_summary()
    manifest["ended_at"] = time.time()
    manifest["counts"] = {"published": published, "received": summary["received"], "stored": summary["stored"]}
    manifest["schedule"] = schedule.of_run(run)
    write_json_atomic(run.manifest, manifest)
    return RunResult(run, published, summary["received"], summary["stored"])


def _device_requests(scenario: Scenario) -> list[DeviceRequest]:
    """The certificates the run's devices need: an application certificate per RSU, pseudonyms
    per vehicle, an identification certificate per emergency vehicle; each granting the AIDs of
    what the device sends (Day-II: RSC where the intersection offers priority, manages lanes or has a car park, SSM
    where it shares perception, PAM and RTCM where it has a car park, VIR for a bus that asks and a valet car, PSM for
    a road worker's device)."""
    coordinating = set(scenario.rsc_senders())

    def rsu_aids(k: int, inter: Intersection) -> list[int]:
        day_ii = [MessageType.RSC.aid] if k in coordinating else []
        day_ii += [MessageType.SSM.aid] if inter.sensors.share != "rsm" else []
        day_ii += [MessageType.PAM.aid, MessageType.RTCM.aid] if inter.car_park is not None else []
        return [*RSU_AIDS, *day_ii]

    devices = [DeviceRequest(i.rsu_id, rsu_aids(k, i), kind="rsu") for k, i in enumerate(scenario.intersections)]
    asking = set(scenario.vir_senders())
    devices += [
        DeviceRequest(obu, list(EMERGENCY_VEHICLE_AIDS), kind="emergency_vehicle")
        if kind == "ambulance"
        else DeviceRequest(
            obu,
            [*VEHICLE_AIDS, *([MessageType.VIR.aid] if obu in asking else [])],
            kind="vehicle",
            pseudonyms=scenario.security.pseudonyms.certificates,
        )
        for obu, kind in scenario.obu_kinds().items()
    ]
    devices += [DeviceRequest(worker, list(VRU_AIDS), kind="vehicle", pseudonyms=1) for worker in scenario.worker_ids()]
    return devices


class _Stages:
    """What a run starts (broker, ingest, simulators) and its teardown: on leaving, every process
    still running is killed and the broker stopped; a run left by an exception (a failed stage,
    Ctrl-C) records it in ``run.json`` (``interrupted``), so its report cannot pass."""

    def __init__(self, run: RunDir, manifest: dict[str, object]):
        self.run, self.manifest = run, manifest
        self.processes: list[subprocess.Popen[bytes]] = []
        self.broker: RunningBroker | None = None
        self.cluster: RunningCluster | None = None
        self.ingests: dict[str, tuple[list[str], Path]] = {}  # name: command line, log
        self.running: dict[str, subprocess.Popen[bytes]] = {}  # name: the ingest process now

    def start_ingest(self, name: str) -> subprocess.Popen[bytes]:
        command, log = self.ingests[name]
        self.running[name] = proc = _spawn(command, log, INGEST_NICENESS)
        self.processes.append(proc)
        return proc

    def __enter__(self) -> _Stages:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        try:
            if exc is not None:
                self.manifest["interrupted"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                write_json_atomic(self.run.manifest, self.manifest)
        finally:
            for proc in self.processes:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            if self.broker:
                self.broker.stop()
            if self.cluster:
                self.cluster.stop()


def _broker(
    run: RunDir,
    scenario: Scenario,
    devices: list[DeviceRequest],
    broker_url: str | None,
    stages: _Stages,
    status: Callable[[str], None],
) -> tuple[str, list[str]]:
    """The broker's URL (the one given, or one the run starts, with TLS and a topic ACL if the
    scenario asks) and the ingest's TLS arguments."""
    url = broker_url or scenario.broker.url
    if url is not None and BrokerAddress.parse(url).tls:
        raise RunError(
            f"{url}: v2x run connects its devices to an external broker over plain MQTT only; "
            "use broker.tls for a TLS broker started by the run"
        )
    if url is not None:
        _probe_broker(url)
        return url, []
    access = None
    ingest_tls: list[str] = []
    if scenario.broker.tls:
        access = create_broker_access(
            run.broker_access,
            {d.device_id: "RSU" if d.kind == "rsu" else "OBU" for d in devices},
            topic_prefix=scenario.zone.topic_prefix,
        )
        reader = access.client(INGEST_CLIENT)
        ingest_tls = ["--tls-ca", str(reader.ca_file), "--tls-cert", str(reader.cert_file), "--tls-key", str(reader.key_file)]
    stages.broker = start_broker(run.root / "broker", access=access)
    status(
        f"started {stages.broker.kind} broker on {stages.broker.address.url}"
        + (" (TLS, client certificates, topic ACL)" if access else "")
    )
    return stages.broker.address.url, ingest_tls


def _ingest_command(run: RunDir, scenario: Scenario, source: list[str]) -> list[str]:
    """The command line of an ingest process reading ``source`` (``--broker URL`` or ``--nats ...``)."""
    return [
        "-m",
        "pipeline.ingest",
        "--run",
        str(run.root),
        *source,
        "--prefix",
        scenario.zone.topic_prefix,
        "--verify-workers",
        str(scenario.security.verify_workers),
        *(["--sources", str(run.sources)] if run.sources.exists() else []),
    ]


def _cluster(run: RunDir, scenario: Scenario, stages: _Stages, status: Callable[[str], None]) -> dict[str, Any]:
    """Start the scenario's NATS JetStream cluster and its partitioned uplink stream; the broker's record for run.json."""
    settings = scenario.broker
    try:
        stages.cluster = cluster = start_cluster(
            run.root / "broker", nodes=settings.nodes, partitions=settings.partitions, topic_prefix=scenario.zone.topic_prefix
        )
        create_uplink_consumers(cluster.servers, scenario.zone.topic_prefix, settings.nodes, settings.partitions)
    except (BrokerError, OSError, ValueError) as exc:
        raise RunError(f"NATS cluster: {exc}; see {run.root / 'broker'}") from None
    mqtt = [cluster.mqtt(k).url for k in range(settings.nodes)]
    leader = uplink_leader(cluster.servers)
    first = cluster.names.index(leader) if leader in cluster.names else 0
    status(
        f"started a NATS JetStream cluster of {settings.nodes} node(s) (MQTT {', '.join(mqtt)}), "
        f"uplinks in {settings.partitions} partitions, {settings.workers} ingest worker(s)"
    )
    return {
        "url": mqtt[0],
        "started_by_run": True,
        "kind": "nats-cluster",
        "mqtt": mqtt,
        "device_nodes": [(first + k) % settings.nodes for k in range(min(len(SIMULATORS), settings.nodes))],
        "servers": cluster.servers,
        "partitions": settings.partitions,
        "workers": settings.workers,
    }


def _worker_commands(run: RunDir, scenario: Scenario, stages: _Stages) -> dict[str, tuple[list[str], Path]]:
    """The ingest workers of a cluster run: worker k owns its share of the partitions, the first also the strays."""
    assert stages.cluster is not None
    settings = scenario.broker
    out = {}
    for k, (first, last) in enumerate(settings.worker_partitions()):
        source = ["--nats", ",".join(stages.cluster.servers), "--partitions", f"{first}-{last}"]
        source += ["--partition-count", str(settings.partitions), "--worker", f"w{k}", *(["--strays"] if k == 0 else [])]
        out[f"ingest worker {k}"] = (_ingest_command(run, scenario, source), run.logs / f"ingest-w{k}.log")
    return out


def _simulator_brokers(broker: dict[str, Any]) -> dict[str, str]:
    """The broker URL(s) each simulator publishes to: on a cluster, simulator k starts on node
    ``device_nodes[k]`` (the node leading the uplink stream first, so that a follower carries no
    device: ``which: follower`` faults) and fails over to the others in turn."""
    urls = list(broker.get("mqtt") or [broker["url"]])
    nodes = list(broker.get("device_nodes") or [0])
    out = {}
    for k, name in enumerate(SIMULATORS):
        start = nodes[k % len(nodes)]
        out[name] = ",".join(urls[start:] + urls[:start])
    return out


def _start_stages(
    run: RunDir, scenario: Scenario, brokers: dict[str, str], pace: Pace, stages: _Stages
) -> dict[str, subprocess.Popen[bytes]]:
    """The ingest process(es) (``stages.ingests``) and the simulators, started together; none
    publishes before GO (:func:`_go`).  Returns the simulators."""
    for name in stages.ingests:
        stages.start_ingest(name)
    sims = {
        name: _spawn(["-m", name, "--run", str(run.root), "--broker", brokers[name], "--pace", pace], run.logs / f"{name}.log")
        for name in SIMULATORS
    }
    stages.processes.extend(sims.values())
    return sims


def _go(sims: dict[str, subprocess.Popen[bytes]]) -> float:
    """Tell the simulators when to start (after the ingest's READY: nothing is sent before
    anyone listens); the start time."""
    start_at = time.time() + GO_LEAD_S
    for proc in sims.values():
        assert proc.stdin is not None
        proc.stdin.write(f"GO {start_at!r}\n".encode())
        proc.stdin.close()
    return start_at


@dataclass
class _Reporter:
    """Calls the run's ``progress`` callback with what the simulators and the ingest say now."""

    run: RunDir
    scenario: Scenario
    pace: Pace
    start_at: float
    progress: Callable[[RunProgress], None] | None

    def __call__(self, phase: str) -> None:
        if self.progress is None:
            return
        ingest_now = _progress(self.run)
        published_now, nominal = _published_so_far(self.run)
        self.progress(
            RunProgress(
                phase,
                max(0.0, time.time() - self.start_at),
                self.scenario.duration_s,
                published_now,
                ingest_now["received"],
                ingest_now["stored"],
                nominal,
                self.pace,
            )
        )


def _wait_for_simulators(
    run: RunDir, scenario: Scenario, pace: Pace, sims: dict[str, subprocess.Popen[bytes]], report: _Reporter
) -> None:
    """Until the simulators end: in real time within the run's duration and a grace; at max
    pace as long as the machine needs.  RunError if one fails or overruns."""
    give_up = time.monotonic() + GO_LEAD_S + scenario.duration_s + SIMULATOR_GRACE_S if pace == "realtime" else float("inf")
    while (running := [proc for proc in sims.values() if proc.poll() is None]) and time.monotonic() < give_up:
        try:
            running[0].wait(timeout=PROGRESS_EVERY_S)
        except subprocess.TimeoutExpired:
            pass
        report("running")
    for name, proc in sims.items():
        if proc.poll() is None:
            raise RunError(
                f"{name} simulator still running {SIMULATOR_GRACE_S:g} s after the end of the run; see {run.logs / (name + '.log')}"
            )
        if proc.returncode != 0:
            raise RunError(f"{name} simulator exited with {proc.returncode}; see {run.logs / (name + '.log')}")


def _drain(run: RunDir, stages: _Stages, published: int, report: _Reporter) -> None:
    """Wait while the ingest (every worker of it) receives what was published, then stop it and
    wait while it keeps storing what it holds (at max pace that backlog can take minutes).
    RunError if it stalls or fails."""
    ingests = stages.running
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    received = _progress(run)["received"]
    while received < published and time.monotonic() < deadline and all(p.poll() is None for p in ingests.values()):
        time.sleep(0.1)
        now_received = _progress(run)["received"]
        if now_received > received:
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
        received = now_received
        report("draining")
    for proc in ingests.values():
        if proc.poll() is None:
            proc.terminate()
    stored, quiet_since = _progress(run)["stored"], time.monotonic()
    while any(p.poll() is None for p in ingests.values()):
        try:
            next(p for p in ingests.values() if p.poll() is None).wait(timeout=PROGRESS_EVERY_S)
        except (subprocess.TimeoutExpired, StopIteration):
            pass
        now_stored = _progress(run)["stored"]
        if now_stored > stored:
            stored, quiet_since = now_stored, time.monotonic()
        elif time.monotonic() - quiet_since > STORE_TIMEOUT_S:
            for proc in ingests.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            raise RunError(
                f"the ingest stored nothing for {STORE_TIMEOUT_S:g} s while draining ({stored} of {published} "
                f"frames stored); see {run.logs}"
            )
        report("draining")
    report("done")
    for name, proc in ingests.items():
        if proc.returncode != 0:
            raise RunError(f"{name} exited with {proc.returncode}; see {stages.ingests[name][1]}")


class ClusterFaults(threading.Thread):
    """The scenario's ``broker.faults``, each at its time after the start: kill -9 a node of the
    cluster, or an ingest worker (restarted after ``restart_after_s`` if given).  ``applied``
    says what was done and when; ``error`` what could not be."""

    def __init__(
        self,
        faults: list[ClusterFault],
        start_at: float,
        stages: _Stages,
        status: Callable[[str], None],
        device_nodes: list[int] | None = None,
    ):
        super().__init__(name="cluster-faults", daemon=True)
        self.faults, self.start_at, self.stages, self.status = faults, start_at, stages, status
        self.device_nodes = device_nodes or []
        self.applied: list[dict[str, Any]] = []
        self.error: str | None = None

    def _at(self, offset_s: float) -> None:
        time.sleep(max(0.0, self.start_at + offset_s - time.time()))

    def run(self) -> None:
        events = sorted(
            [(f.at_s, "kill", f) for f in self.faults]
            + [(f.at_s + f.restart_after_s, "restart", f) for f in self.faults if f.restart_after_s is not None],
            key=lambda e: e[0],
        )
        try:
            for at_s, action, fault in events:
                self._at(at_s)
                what = f"{action} {fault.kill} {fault.index}"
                if fault.kill == "node":
                    cluster = self.stages.cluster
                    assert cluster is not None
                    victim, leader = self._node(cluster, fault)
                    cluster.kill(victim)
                    what = f"kill node {victim} ({cluster.names[victim]}, {fault.which}; the uplink stream's leader was {leader})"
                else:
                    name = list(self.stages.ingests)[fault.index]
                    if action == "kill":
                        proc = self.stages.running[name]
                        proc.send_signal(signal.SIGKILL)
                        proc.wait()
                    else:
                        self.stages.start_ingest(name)
                self.applied.append({"at_s": round(time.time() - self.start_at, 3), "what": what})
                self.status(f"fault: {what} at {time.time() - self.start_at:.1f} s")
        except (OSError, subprocess.SubprocessError, AssertionError, RunError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def _node(self, cluster: RunningCluster, fault: ClusterFault) -> tuple[int, str]:
        """The node a fault kills, and the node leading the uplink stream just before."""
        alive = [k for k in range(len(cluster.names)) if k not in cluster.killed]
        leader = uplink_leader([cluster.servers[k] for k in alive]) or "unknown"
        if fault.which == "index":
            return fault.index, leader
        leading = cluster.names.index(leader) if leader in cluster.names else None
        if fault.which == "leader":
            if leading is None:
                raise RunError("no node leads the uplink stream to be killed")
            return leading, leader
        quiet = [k for k in alive if k != leading and k not in self.device_nodes]
        if not quiet:
            raise RunError(f"no node is a follower without devices (the leader is {leader}, devices on {self.device_nodes})")
        return quiet[0], leader
