"""Network impairment between a device and the broker, declared in a scenario: latency, jitter,
loss, duplicated and reordered frames, a device clock that is off, outages.

A scenario's ``network`` list holds :class:`Impairment` entries; each applies to a class of
devices (all, vehicles, RSUs, or one vehicle kind) and optionally to some message types.  A frame
takes the first entry that matches its device and type.  The frame is signed at its scheduled
time (generationTime), then held for the drawn delay or dropped, so the receiver sees the
latency and the msgCnt gaps a radio link would give it.

Latency (``fixed``, ``normal`` with ``jitter_ms`` as its standard deviation, or ``long_tail``:
``ms`` plus a log-normal part with median ``jitter_ms`` and shape 1, whose p99 is about ten
times its median).  Loss is ``independent`` (each frame lost with probability ``rate``) or
``gilbert_elliott``: a two-state Markov chain per device, good to bad with probability ``p``,
bad to good with ``r``, losing ``loss_bad`` of the frames in the bad state and ``loss_good``
in the good one (stationary loss ``(p*loss_bad + r*loss_good) / (p + r)``).

What was injected is counted per device and message type and recorded with the published
counts, so the report can tell injected loss from loss nobody asked for.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

DeviceClass = Literal["all", "vehicles", "rsus", "road_workers", "car", "bus", "sanitation_truck", "logistics_van", "ambulance"]
MessageName = Literal["BSM", "MAP", "SPAT", "RSI", "RSM", "RTCM", "RSC", "SSM", "VIR", "PAM", "PSM", "CLPMM"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Latency(_Strict):
    distribution: Literal["fixed", "normal", "long_tail"] = "fixed"
    ms: float = Field(default=0.0, ge=0, le=10_000, description="fixed delay, mean (normal) or floor (long_tail)")
    jitter_ms: float = Field(
        default=0.0, ge=0, le=10_000, description="standard deviation (normal) or median of the tail (long_tail)"
    )

    @model_validator(mode="after")
    def _jitter_needs_a_distribution(self) -> Latency:
        if self.distribution == "fixed" and self.jitter_ms:
            raise ValueError("jitter_ms needs distribution normal or long_tail")
        if self.distribution == "long_tail" and not self.jitter_ms:
            raise ValueError("a long_tail latency needs jitter_ms, the median of its tail")
        return self


class Loss(_Strict):
    model: Literal["independent", "gilbert_elliott"] = "independent"
    rate: float | None = Field(default=None, ge=0, le=1, description="independent: probability a frame is lost")
    p: float | None = Field(default=None, gt=0, le=1, description="gilbert_elliott: good -> bad per frame")
    r: float | None = Field(default=None, gt=0, le=1, description="gilbert_elliott: bad -> good per frame")
    loss_bad: float = Field(default=1.0, ge=0, le=1)
    loss_good: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _parameters_of_the_model(self) -> Loss:
        if self.model == "independent" and (self.rate is None or self.p is not None or self.r is not None):
            raise ValueError("independent loss takes rate (and not p, r)")
        if self.model == "gilbert_elliott" and (self.p is None or self.r is None or self.rate is not None):
            raise ValueError("gilbert_elliott loss takes p and r (and not rate)")
        return self

    @property
    def expected_rate(self) -> float:
        """Long-run share of frames lost."""
        if self.model == "independent":
            return float(self.rate or 0.0)
        p, r = float(self.p or 0.0), float(self.r or 0.0)
        return (p * self.loss_bad + r * self.loss_good) / (p + r)


class DeviceClock(_Strict):
    """A device clock that is off: ``offset_ms`` at the start of the run, running fast by
    ``drift_ppm`` (negative: slow).  The device stamps generationTime, secMark and MinuteOfTheYear
    with it; GB/T 45315 6.3 wants UTC within 1 ms, the verifier's window is 1 s (7.4.3.4)."""

    offset_ms: float = Field(default=0.0, ge=-600_000, le=600_000)
    drift_ppm: float = Field(default=0.0, ge=-100_000, le=100_000)


class Outage(_Strict):
    """The device is offline from ``at_s`` for ``for_s`` seconds of the run: what it generates
    then never reaches the broker (counted as injected loss, ``offline``)."""

    at_s: float = Field(ge=0)
    for_s: float = Field(gt=0)


class Impairment(_Strict):
    """Latency, loss, duplicates, reordering, clock error and outages on the way from a class
    of devices to the broker.  ``duplicate``: share of frames that arrive twice (the copy
    ``duplicate_after_ms`` later); ``reorder``: share held back ``reorder_ms`` more, so that
    later frames overtake them.  ``clock`` and ``offline`` are about the device, whatever the
    message type: the first entry covering the device that sets them counts."""

    devices: DeviceClass = "all"
    msg_types: list[MessageName] | None = Field(default=None, min_length=1, description="None: every message type")
    latency: Latency | None = None
    loss: Loss | None = None
    duplicate: float = Field(default=0.0, ge=0, le=1)
    duplicate_after_ms: float = Field(default=20.0, ge=0, le=10_000)
    reorder: float = Field(default=0.0, ge=0, le=1)
    reorder_ms: float = Field(default=250.0, gt=0, le=10_000)
    clock: DeviceClock | None = None
    offline: list[Outage] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _device_settings_for_all_types(self) -> Impairment:
        if self.msg_types is not None and (self.clock is not None or self.offline):
            raise ValueError("clock and offline are about a device, not some of its message types: leave msg_types out")
        return self

    def covers(self, device_class: str) -> bool:
        """Whether the entry is about devices of ``device_class`` (``rsus``, ``road_workers`` or a vehicle kind)."""
        return self.devices in ("all", device_class) or (
            self.devices == "vehicles" and device_class not in ("rsus", "road_workers")
        )

    def applies_to(self, device_class: str, msg_type: str) -> bool:
        """Whether a frame of ``msg_type`` from a device of ``device_class`` takes this entry."""
        return self.covers(device_class) and (self.msg_types is None or msg_type in self.msg_types)


@dataclass
class DeviceLink:
    """One device's link to the broker: draws each frame's fate and counts what was injected."""

    device_class: str
    impairments: list[Impairment]
    rng: np.random.Generator
    _bad: dict[int, bool] = field(default_factory=dict)
    lost: Counter[str] = field(default_factory=Counter)
    offline: Counter[str] = field(default_factory=Counter)
    delayed: Counter[str] = field(default_factory=Counter)
    duplicated: Counter[str] = field(default_factory=Counter)
    reordered: Counter[str] = field(default_factory=Counter)
    delay_ms_total: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    delay_ms_max: dict[str, float] = field(default_factory=dict)

    @property
    def clock(self) -> DeviceClock | None:
        return next((imp.clock for imp in self.impairments if imp.clock is not None), None)

    def clock_error_us(self, t_s: float) -> int:
        """How far the device clock is ahead of true time ``t_s`` seconds into the run (µs)."""
        c = self.clock
        return 0 if c is None else round(c.offset_ms * 1000 + c.drift_ppm * t_s)

    def is_offline(self, t_s: float) -> bool:
        outages = next((imp.offline for imp in self.impairments if imp.offline), [])
        return any(o.at_s <= t_s < o.at_s + o.for_s for o in outages)

    def transmit(self, msg_type: str, t_s: float = 0.0) -> list[float]:
        """Seconds after which each copy of a frame of ``msg_type``, sent ``t_s`` into the run,
        reaches the broker: none if it is lost, two if it is duplicated."""
        if self.is_offline(t_s):
            self.lost[msg_type] += 1
            self.offline[msg_type] += 1
            return []
        for k, imp in enumerate(self.impairments):
            if imp.applies_to(self.device_class, msg_type):
                return self._draw(k, imp, msg_type)
        return [0.0]

    def _draw(self, k: int, imp: Impairment, msg_type: str) -> list[float]:
        if imp.loss is not None and self._lost(k, imp.loss):
            self.lost[msg_type] += 1
            return []
        delay_ms = draw_latency_ms(imp.latency, self.rng) if imp.latency else 0.0
        if imp.reorder and self.rng.random() < imp.reorder:
            self.reordered[msg_type] += 1
            delay_ms += imp.reorder_ms
        if delay_ms > 0:
            self.delayed[msg_type] += 1
            self.delay_ms_total[msg_type] += delay_ms
            self.delay_ms_max[msg_type] = max(self.delay_ms_max.get(msg_type, 0.0), delay_ms)
        copies = [delay_ms / 1000.0]
        if imp.duplicate and self.rng.random() < imp.duplicate:
            self.duplicated[msg_type] += 1
            copies.append((delay_ms + imp.duplicate_after_ms) / 1000.0)
        return copies

    def _lost(self, k: int, loss: Loss) -> bool:
        if loss.model == "independent":
            return bool(self.rng.random() < (loss.rate or 0.0))
        bad = self._bad.get(k, False)
        bad = (self.rng.random() >= (loss.r or 0.0)) if bad else (self.rng.random() < (loss.p or 0.0))
        self._bad[k] = bad
        return bool(self.rng.random() < (loss.loss_bad if bad else loss.loss_good))

    def summary(self) -> dict[str, dict[str, float]]:
        """What was injected, per message type (recorded in ``RUN/published/<simulator>.json``)."""
        return {
            "lost": dict(self.lost),
            "offline": dict(self.offline),
            "duplicated": dict(self.duplicated),
            "reordered": dict(self.reordered),
            **({"clock": self.clock.model_dump()} if self.clock else {}),
            "delayed": dict(self.delayed),
            "delay_ms_mean": {t: round(self.delay_ms_total[t] / n, 3) for t, n in self.delayed.items()},
            "delay_ms_max": {t: round(v, 3) for t, v in self.delay_ms_max.items()},
        }


def draw_latency_ms(latency: Latency, rng: np.random.Generator) -> float:
    """One delay in ms drawn from ``latency`` (never negative)."""
    if latency.distribution == "fixed":
        return latency.ms
    if latency.distribution == "normal":
        return max(0.0, float(rng.normal(latency.ms, latency.jitter_ms)))
    return latency.ms + float(rng.lognormal(np.log(latency.jitter_ms), 1.0))


def device_link(impairments: list[Impairment], device_class: str, seed: int, device: str) -> DeviceLink | None:
    """The link of one device (None if no entry applies to it), seeded by the scenario seed and
    the device id so a run's injected pattern is reproducible."""
    mine = [imp for imp in impairments if imp.covers(device_class)]
    if not mine:
        return None
    digest = int.from_bytes(device.encode("utf-8")[:16].ljust(16, b"\0"), "big")
    return DeviceLink(device_class, mine, np.random.default_rng([seed, digest]))
