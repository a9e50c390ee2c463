"""A device's uplink: sign a MessageFrame, publish it on the device's topic, count it.

Simulated RSUs and OBUs both publish through :class:`Uplink`, so what a simulator reports as
published is counted in one place, the same way for every device.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt

from v2x import clock, topics, transport
from v2x.attacks import REPLAY_DELAY_S, AttackPlan
from v2x.broker_access import BrokerAccess, ClientTls
from v2x.messages import MessageType, message_set
from v2x.network import DeviceLink
from v2x.rundir import RunDir, write_json_atomic
from v2x.scenario import Scenario, load_scenario
from v2x.security import Signer
from v2x.transport import BrokerAddress


@dataclass
class Uplink:
    """Publishes signed frames of one device."""

    device_kind: str
    device_id: str
    signer: Signer
    prefix: str = ""
    qos: int = 1
    client: aiomqtt.Client | None = None
    generated: Counter[str] = field(default_factory=Counter)
    published: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    attack: AttackPlan | None = None
    tls: ClientTls | None = None  # the device's broker client certificate (mqtts brokers)
    network: DeviceLink | None = None  # injected latency and loss on the way to the broker (v2x.network)
    _sent: int = 0
    _pending: set[asyncio.Task[None]] = field(default_factory=set)

    def device_time_us(self, t_s: float) -> int:
        """The device's clock (Unix µs) ``t_s`` seconds into the run: true time, plus the clock
        error the scenario's network model gives the device."""
        return clock.now_unix_us() + (self.network.clock_error_us(t_s) if self.network is not None else 0)

    async def send(self, msg_type: MessageType, frame: bytes, *, aid: int | None = None, event: bool = False,
                   generated_at_us: int | None = None, t_s: float = 0.0) -> None:
        """Sign ``frame`` with generationTime ``generated_at_us`` (default: now on the device
        clock) and publish it; failures are counted.  If the device carries attacks
        (v2x.attacks), a due one replaces or replays the frame.  A device with a network link
        holds each copy of the frame for its drawn delay, or drops it; attack frames bypass the
        link so that every injected attack reaches the ingest.  ``t_s``: seconds into the run."""
        generated_at_us = self.device_time_us(t_s) if generated_at_us is None else generated_at_us
        generation_time64 = clock.time64_from_unix_us(generated_at_us)
        aid = aid if aid is not None else msg_type.aid
        due = self.attack.due(self._sent) if self.attack else []
        self._sent += 1
        forged = [kind for kind in due if kind != "replay"]
        if self.attack and forged:
            spdu = self.attack.forge(forged[0], self.signer, frame, aid, generation_time64)
            self.attack.record(forged[0], msg_type.value, spdu)
        else:
            spdu = self.signer.sign(frame, aid, generation_time64, event=event)
        copies = self.network.transmit(msg_type.value, t_s) if self.network is not None and not due else [0.0]
        if not copies:
            self.generated[msg_type.value] += 1  # lost on the link: generated, never published
            return
        for delay_s in copies[1:]:
            self._later(delay_s, msg_type, spdu, duplicate=True)
        if copies[0] > 0:
            self._later(copies[0], msg_type, spdu)
        else:
            await self._publish(msg_type, spdu)
        if self.attack and "replay" in due and not forged:
            self.attack.record("replay", msg_type.value, spdu)
            self._later(REPLAY_DELAY_S, msg_type, spdu)

    def _later(self, delay_s: float, msg_type: MessageType, spdu: bytes, duplicate: bool = False) -> None:
        task = asyncio.get_running_loop().create_task(self._publish_after(delay_s, msg_type, spdu, duplicate))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _publish_after(self, delay_s: float, msg_type: MessageType, spdu: bytes, duplicate: bool = False) -> None:
        await asyncio.sleep(delay_s)
        try:
            await self._publish(msg_type, spdu, duplicate)
        except aiomqtt.MqttError:
            pass  # counted as failed

    async def drain(self) -> None:
        """Wait for delayed frames and replays still scheduled."""
        while self._pending:
            await asyncio.gather(*self._pending)

    async def _publish(self, msg_type: MessageType, spdu: bytes, duplicate: bool = False) -> None:
        """Publish one copy; a network duplicate is not a newly generated frame."""
        if not duplicate:
            self.generated[msg_type.value] += 1
        if self.client is None:
            self.failed[msg_type.value] += 1
            return
        try:
            await self.client.publish(topics.uplink(self.device_kind, self.device_id, msg_type, self.prefix), spdu, qos=self.qos)
        except aiomqtt.MqttError as exc:
            self.failed[msg_type.value] += 1
            if len(self.errors) < 20:
                self.errors.append(f"{time.strftime('%H:%M:%S')} {exc}")
            raise
        self.published[msg_type.value] += 1

    def summary(self) -> dict[str, object]:
        return {
            "kind": self.device_kind,
            "generated": dict(self.generated),
            "published": dict(self.published),
            "failed": dict(self.failed),
            "errors": self.errors,
            **({"network": self.network.summary()} if self.network is not None else {}),
        }


async def sleep_until(unix_s: float) -> None:
    """Sleep until a wall-clock instant (no-op if it has passed)."""
    delay = unix_s - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


@dataclass(frozen=True)
class Payload:
    """A UPER frame with how to sign it: the header AID (None: the message type's) and whether
    an event flag is set (full certificate, GB/T 45315 7.4.3.5)."""

    frame: bytes
    aid: int | None = None
    event: bool = False


@dataclass(frozen=True)
class Stream:
    """A periodic message of a device: ``build(k, now_us)`` returns the k-th message, a UPER
    frame or a :class:`Payload`; ``now_us`` is the device clock (Unix µs) to stamp it with."""

    msg_type: MessageType
    period_s: float
    offset_s: float
    build: Callable[[int, int], bytes | Payload]


async def run_device(
    address: BrokerAddress,
    uplink: Uplink,
    streams: list[Stream],
    start: asyncio.Future[float],
    duration_s: float,
    connected: asyncio.Event | None = None,
) -> None:
    """Connect, then publish ``streams`` on a wall-clock schedule once ``start`` is known.

    Message k of a stream is due at ``start + offset + k * period``.  If the broker goes away
    the device keeps generating (its msgCnt keeps counting, as on the air), counts every frame
    it could not publish, and reconnects.
    """
    lost = asyncio.Event()

    async def stream_task(stream: Stream, start_at: float) -> None:
        end = start_at + duration_s
        k = 0
        while (due := start_at + stream.offset_s + k * stream.period_s) < end:
            await sleep_until(due)
            t_s = due - start_at
            now_us = uplink.device_time_us(t_s)
            built = stream.build(k, now_us)
            payload = built if isinstance(built, Payload) else Payload(built)
            try:
                await uplink.send(stream.msg_type, payload.frame, aid=payload.aid, event=payload.event, generated_at_us=now_us, t_s=t_s)
            except aiomqtt.MqttError:
                lost.set()
            k += 1

    async def produce() -> None:
        start_at = await start
        await asyncio.gather(*(stream_task(s, start_at) for s in streams))
        await uplink.drain()

    producers = asyncio.ensure_future(produce())
    try:
        while not producers.done():
            try:
                async with transport.client(address, f"{uplink.device_kind}-{uplink.device_id}", tls=uplink.tls) as session:
                    uplink.client = session
                    if connected is not None:
                        connected.set()
                    lost.clear()
                    waiter = asyncio.ensure_future(lost.wait())
                    await asyncio.wait([producers, waiter], return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
            except aiomqtt.MqttError as exc:
                if len(uplink.errors) < 20:
                    uplink.errors.append(f"{time.strftime('%H:%M:%S')} connect: {exc}")
            uplink.client = None
            if not producers.done():
                await asyncio.sleep(0.5)
    finally:
        uplink.client = None
        await producers


Device = tuple[Uplink, list[Stream]]


async def run_devices(
    address: BrokerAddress, devices: list[Device], duration_s: float, start_at: float | None = None, connect_timeout_s: float = 30.0
) -> None:
    """Run every device's streams concurrently.

    With ``start_at`` None the start handshake is used: once every device is connected (or
    ``connect_timeout_s`` passed) print ``READY`` and read ``GO <unix time>`` from stdin, so all
    simulators of a run share one time zero.
    """
    loop = asyncio.get_running_loop()
    start: asyncio.Future[float] = loop.create_future()
    connected = [asyncio.Event() for _ in devices]
    running = asyncio.gather(*(run_device(address, up, st, start, duration_s, ev) for (up, st), ev in zip(devices, connected)))
    if start_at is not None:
        start.set_result(start_at)
    else:
        try:
            await asyncio.wait_for(asyncio.gather(*(ev.wait() for ev in connected)), connect_timeout_s)
        except TimeoutError:
            pass
        print("READY", flush=True)
        line = await loop.run_in_executor(None, sys.stdin.readline)
        parts = line.split()
        start.set_result(float(parts[1]) if len(parts) == 2 and parts[0] == "GO" else time.time())
    await running


def simulator_main(name: str, build_devices: Callable[[Scenario, RunDir], list[Device]], argv: list[str] | None = None) -> int:
    """Entry point of a simulator process (``python -m roadside`` / ``python -m vehicles``).

    Reads the run's scenario and PKI, publishes from ``--start-at`` for the scenario duration and
    writes ``RUN/published/<name>.json`` with generated, published and failed counts per device.
    """
    parser = argparse.ArgumentParser(prog=f"python -m {name}", description=f"{name} simulator of a v2x run")
    parser.add_argument("--run", required=True, type=Path, help="run directory made by `v2x run`")
    parser.add_argument("--broker", required=True, help="mqtt://host:port, or mqtts://host:port with the run's broker-access/")
    parser.add_argument("--start-at", type=float, default=None, help="Unix time of simulation time 0 (default: READY/GO handshake on stdio)")
    args = parser.parse_args(argv)
    run = RunDir(args.run)
    scenario = load_scenario(run.scenario)
    address = BrokerAddress.parse(args.broker)
    devices = build_devices(scenario, run)
    if address.tls:
        access = BrokerAccess(run.broker_access)
        for uplink, _ in devices:
            uplink.tls = access.client(uplink.device_id)
    message_set()  # compile the schema before READY, or the first messages go out late in a burst
    asyncio.run(run_devices(address, devices, scenario.duration_s, args.start_at))
    report = {up.device_id: up.summary() for up, _ in devices}
    totals: Counter[str] = Counter()
    for up, _ in devices:
        totals.update({f"{k}.{t}": n for k, c in (("generated", up.generated), ("published", up.published), ("failed", up.failed)) for t, n in c.items()})
        if up.network is not None:
            totals.update({f"injected_loss.{t}": n for t, n in up.network.lost.items()})
            totals.update({f"injected_duplicate.{t}": n for t, n in up.network.duplicated.items()})
    write_json_atomic(run.published / f"{name}.json", {"simulator": name, "devices": report, "totals": dict(totals)})
    attacks = [{"device_id": up.device_id, **entry} for up, _ in devices if up.attack for entry in up.attack.ledger]
    if attacks:
        write_json_atomic(run.attacks / f"{name}.json", attacks)
    return 0
