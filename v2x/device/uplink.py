"""A device's uplink: sign a MessageFrame (or put it in the device's framing), decide what reaches the broker and when, count it.

Simulated RSUs and OBUs both send through :class:`Uplink`, so what a simulator reports as
generated, published and failed is counted in one place, the same way for every device.  An
uplink does not talk to the broker itself: :meth:`Uplink.prepare` turns a frame into the
transmissions (:class:`Transmission`) the device's link lets through (none if the link loses it, two if it
duplicates it, a delayed one for a replay attack), and :mod:`v2x.device.schedule` publishes them at
their time through :mod:`v2x.device.publisher`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np

from v2x import clock
from v2x.device.attacks import REPLAY_DELAY_S, AttackPlan
from v2x.device.platform import PlatformRelay
from v2x.framing import Framing, cloud_json, openv2x, vendor_wrapper
from v2x.messages import MessageType
from v2x.mqtt import topics
from v2x.mqtt.access import ClientTls
from v2x.scenario.network import DeviceLink
from v2x.security import Signer


@dataclass(frozen=True)
class Transmission:
    """One copy of a message on its way to the broker, ``delay_s`` after it was made:
    ``payload`` is the signed frame, or the message in the device's framing.  ``duplicate``: a
    copy the network model added, not a frame the device generated."""

    msg_type: MessageType
    payload: bytes
    delay_s: float = 0.0
    duplicate: bool = False
    relayed_on: str | None = None  # a platform's copy, on this topic (v2x.device.platform)


@dataclass
class Uplink:
    """What one device sends, and what became of it."""

    device_kind: str
    device_id: str
    signer: Signer
    prefix: str = ""
    generated: Counter[str] = field(default_factory=Counter)
    published: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)

    attack: AttackPlan | None = None
    tls: ClientTls | None = None  # the device's broker client certificate (mqtts brokers)
    network: DeviceLink | None = None  # injected latency and loss on the way to the broker (v2x.scenario.network)
    framing: Framing = Framing.ENVELOPE  # how the device puts its messages in payloads (v2x.framing)
    relay: PlatformRelay | None = None  # a platform that republishes what the device sends (v2x.device.platform)
    relayed: Counter[str] = field(default_factory=Counter)
    _sent: int = 0
    _topics: dict[MessageType, str] = field(default_factory=dict)

    def topic(self, msg_type: MessageType) -> str:
        if msg_type not in self._topics:
            if self.framing is Framing.VENDOR_WRAPPER:
                self._topics[msg_type] = topics.vendor_wrapper(msg_type, self.prefix)
            elif self.framing is Framing.CLOUD_JSON:
                self._topics[msg_type] = topics.cloud_uplink(self.device_id, msg_type, self.prefix)
            else:
                self._topics[msg_type] = topics.uplink(self.device_kind, self.device_id, msg_type, self.prefix)
        return self._topics[msg_type]

    def device_time_us(self, t_s: float, now_us: int | None = None) -> int:
        """The device's clock (Unix µs) ``t_s`` seconds into the run: true time ``now_us``
        (default: now), plus the clock error the scenario's network model gives the device."""
        now_us = clock.now_unix_us() if now_us is None else now_us
        return now_us + (self.network.clock_error_us(t_s) if self.network is not None else 0)

    def prepare(
        self,
        msg_type: MessageType,
        frame: bytes,
        *,
        aid: int | None = None,
        event: bool = False,
        generated_at_us: int | None = None,
        t_s: float = 0.0,
    ) -> list[Transmission]:
        """Sign ``frame`` with generationTime ``generated_at_us`` (default: now on the device
        clock), or put it in the device's framing (:func:`framed`), and return what goes to
        the broker.  If the device carries attacks
        (v2x.device.attacks), a due one replaces the frame or replays it 300 ms later.  A device with
        a network link delays each copy by its drawn delay, or loses the frame; attack frames
        bypass the link so that every injected attack reaches the ingest.  ``t_s``: seconds
        into the run."""
        generated_at_us = self.device_time_us(t_s) if generated_at_us is None else generated_at_us
        generation_time64 = clock.time64_from_unix_us(generated_at_us)
        aid = aid if aid is not None else msg_type.aid
        due = self.attack.due(self._sent, msg_type.day_ii) if self.attack else []
        self._sent += 1
        forged = [kind for kind in due if kind != "replay"]
        if self.attack and forged:
            payload = self.attack.forge(forged[0], self.signer, frame, aid, generation_time64)
            self.attack.record(forged[0], msg_type.value, payload)
        elif self.framing is not Framing.ENVELOPE:
            payload = framed(self.framing, self.device_id, frame, generated_at_us)
        else:
            payload = self.signer.sign(frame, aid, generation_time64, event=event)
        self.generated[msg_type.value] += 1
        copies = self.network.transmit(msg_type.value, t_s) if self.network is not None and not due else [0.0]
        out = [Transmission(msg_type, payload, delay_s, duplicate=n > 0) for n, delay_s in enumerate(copies)]
        if self.attack and "replay" in due and not forged:
            self.attack.record("replay", msg_type.value, payload)
            self.generated[msg_type.value] += 1  # the replayed copy is a frame the attacker sends
            out.append(Transmission(msg_type, payload, REPLAY_DELAY_S))
        if self.relay is not None and copies:  # the platform copies what reached the broker, later
            topic = self.relay.topic(self.device_kind, self.device_id, msg_type)
            out.append(Transmission(msg_type, self.relay.copy(frame), copies[0] + self.relay.latency_s, relayed_on=topic))
        return out

    def outcome(self, msg_type: MessageType, relayed: bool = False) -> Callable[[bool], None]:
        """The callback :mod:`v2x.device.publisher` reports a frame's delivery to (a platform's
        copy counts apart: it is not a frame the device published)."""
        name = msg_type.value

        def delivered(ok: bool) -> None:
            if relayed:
                self.relayed[name] += ok
                return
            (self.published if ok else self.failed)[name] += 1

        return delivered

    def summary(self) -> dict[str, object]:
        return {
            "kind": self.device_kind,
            "generated": dict(self.generated),
            "published": dict(self.published),
            "failed": dict(self.failed),
            **({"relayed": dict(self.relayed)} if self.relay is not None else {}),
            **({"network": self.network.summary()} if self.network is not None else {}),
        }


def framed(framing: Framing, device_id: str, frame: bytes, generated_at_us: int) -> bytes:
    """A MessageFrame as a device of a framing without signatures sends it (:mod:`v2x.framing`)."""
    if framing is Framing.BARE_UPER:
        return frame
    if framing is Framing.VENDOR_WRAPPER:
        return vendor_wrapper.wrap(device_id, generated_at_us // 1000, [frame])
    if framing is Framing.OPENV2X_JSON:
        return openv2x.document(frame)
    if framing is Framing.CLOUD_JSON:
        return cloud_json.document(frame, device_id, generated_at_us)
    raise ValueError(f"a device does not send the {framing.value} framing")


class Payload(NamedTuple):
    """A UPER frame with how to sign it: the header AID (None: the message type's) and whether
    an event flag is set (full certificate, GB/T 45315 7.4.3.5).  A named tuple: one is made
    for every frame a simulator sends."""

    frame: bytes
    aid: int | None = None
    event: bool = False


class StreamBatch(Protocol):
    """Something that builds the messages of many devices' streams at once (e.g. the fleet's
    BSM encoder): before the messages of a slot are built, :mod:`v2x.device.schedule` calls
    ``prepare`` with every due message of streams sharing this batch: their ``batch_key``,
    message number k and device clock."""

    def prepare(self, keys: np.ndarray, ks: np.ndarray, now_us: np.ndarray) -> None: ...


@dataclass(frozen=True)
class Stream:
    """A periodic message of a device: ``build(k, now_us)`` returns the k-th message, a UPER
    frame or a :class:`Payload`; ``now_us`` is the device clock (Unix µs) to stamp it with.
    ``batch`` (with this stream's ``batch_key``) builds the due messages of many streams in
    one call before their ``build`` is called."""

    msg_type: MessageType
    period_s: float
    offset_s: float
    build: Callable[[int, int], bytes | Payload]
    batch: StreamBatch | None = None
    batch_key: int = 0


Device = tuple[Uplink, list[Stream]]
