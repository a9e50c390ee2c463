"""Scenario files: what a run simulates, validated before anything starts.

A scenario is YAML.  :func:`load_scenario` returns a :class:`Scenario` or raises
:class:`ScenarioError` whose message names each bad field and its problem.
Built-in scenarios ship in ``v2x/scenario/library/`` and are listed by :func:`builtin_scenarios`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from v2x import editions
from v2x.editions import Edition
from v2x.framing import INGESTED, Framing, one_of, vendor_wrapper
from v2x.framing.sources import Source, Sources
from v2x.mqtt import topics
from v2x.scenario.expectations import Expectation
from v2x.scenario.network import Impairment
from v2x.validation import problems
from v2x.yaml_file import YamlError, load_yaml

VehicleKind = Literal["car", "bus", "sanitation_truck", "logistics_van", "ambulance"]


DEVICE_FRAMINGS = INGESTED  # the simulated RSUs send every framing the ingest reads
OUTSIDE_THE_ACL = (Framing.VENDOR_WRAPPER, Framing.CLOUD_JSON)  # framings on topics other than V2X/RSU/{rsuId}/...
VALET_KINDS = frozenset({"car", "logistics_van"})  # policy: what a valet car park's slots (ordinary, 2.5 m x 5 m) take
PRIORITY_REQUESTERS = frozenset({"bus"})  # the vehicle kinds that ask for signal priority (VIR, T/CSAE 157-2020)
MAX_VEHICLES = 20_000  # policy: a whole zone's fleet many times over; larger runs belong on the distributed ingest


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message says where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # no infinite offset_s, no NaN coordinates


class Zone(_Strict):
    """The pilot zone and the optional prefix put in front of every MQTT topic."""

    name: str = "xiqing"
    topic_prefix: str = Field(default="", pattern=r"^([A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*)?$")


class BusPriority(_Strict):
    """Transit signal priority by green extension: when the corridor green is about to end and
    a bus is approaching the stop line within ``detect_m``, the green is held ``extend_s``
    longer (at most once per cycle) and the SPAT's IntersectionStatusObject carries
    signalPriorityIsActive (YD/T 3709, bit 4) while it lasts.  The bus is seen from its BSMs."""

    detect_m: float = Field(default=150.0, gt=0, le=500)
    extend_s: float = Field(default=8.0, gt=0, le=60)


class SignalPlan(_Strict):
    """Fixed-time two-phase plan: phase 1 serves the corridor, phase 2 the cross street."""

    main_green_s: float = Field(default=20.0, gt=0, le=300)
    cross_green_s: float = Field(default=15.0, gt=0, le=300)
    yellow_s: float = Field(default=3.0, ge=0, le=10)
    all_red_s: float = Field(default=2.0, ge=0, le=10)
    offset_s: float = Field(default=0.0, ge=0)
    bus_priority: BusPriority | None = None

    @property
    def cycle_s(self) -> float:
        return self.main_green_s + self.cross_green_s + 2 * (self.yellow_s + self.all_red_s)


class RoadsideSensors(_Strict):
    """What the RSU's roadside sensors see and report in RSM (YD/T 3709 RSM, T/CSAE 159).

    Connected vehicles in range are reported from their BSMs (source v2x, with their id);
    pedestrians on the crosswalks and cyclists are seen by video and lidar, unconnected vehicles
    on the cross street by microwave radar.  At most 15 are reported (ParticipantList holds 16,
    one of them the RSU itself).
    """

    range_m: float = Field(default=150.0, gt=0, le=1000)
    pedestrians: int = Field(default=2, ge=0, le=8)
    cyclists: int = Field(default=1, ge=0, le=8)
    unconnected_vehicles: int = Field(default=1, ge=0, le=8)
    position_noise_m: float = Field(default=0.3, ge=0, le=10, description="1-sigma error of sensor-detected positions")
    latency_ms: int = Field(
        default=50, ge=0, le=1000, description="detection to RSM: participants are reported as seen this long ago (their secMark)"
    )
    share: Literal["rsm", "ssm", "both"] = Field(
        default="rsm",
        description="what the RSU reports them in: RSM (Day-I), SSM (Day-II sensor sharing, with the region watched and a finer "
        "object type; T/CSAE 157-2020), or both, each at 10 Hz",
    )


class LaneManagement(_Strict):
    """The RSU reserves (``laneReservation``) or restricts (``laneRestriction``) the kerb lane of
    the corridor's inbound links for a slow vehicle kind, and recommends ``speed_kmh`` there, in the
    laneCoordinates of its RSC at 2 Hz (T/CSAE 157-2020 RSC; DLM needs at least 2 Hz).  Lanes are
    numbered from the median, as the MAP's laneIDs are, so the kerb lane is ``lanes_per_direction``."""

    mode: Literal["laneReservation", "laneRestriction"] = "laneReservation"
    for_kind: VehicleKind = "sanitation_truck"
    speed_kmh: float = Field(default=10.0, gt=0, le=130)


class MapAdditions(_Strict):
    """The Day-II additions to the RSU's MAP (T/CSAE 157-2020 Map): beside the Day-I ``inLinks``, the
    node's ``inLinks-ex`` describes each inbound link by sections, a new section where the lane count
    changes, with every lane's lines.  ``bus_lane_m`` > 0: on the corridor approaches a bus lane is
    added on the kerb side for the last ``bus_lane_m`` before the stop line (a second section with one
    lane more; LaneAttributes-Vehicle restrictedToBusUse, yellow dashed line, GB 5768.3).
    ``waiting_area_m`` > 0: the median lane of each corridor approach has a left-turn waiting area
    that long beyond its stop line (SignalWaitingLane, entered on the corridor phase)."""

    bus_lane_m: float = Field(default=0.0, ge=0, le=500)
    waiting_area_m: float = Field(default=0.0, ge=0, le=50)


class CarPark(_Strict):
    """An automated valet car park beside the intersection, served by its RSU (T/CSAE 157-2020 PAM,
    VIR and RSC; the GSPA application), laid out from these numbers (:mod:`vehicles.valet_parking`):
    an entrance ``distance_m`` north of the intersection, a main drive north with ``aisles`` aisles
    east off it, ``slots_per_side`` slots on each side of an aisle, a return drive south to the exit.
    ``occupied`` of the slots hold cars parked before the run (not connected).  The RSU broadcasts
    PAM at 2 Hz, answers each parking request in RSC with a guidance path at 20 Hz, and relays RTCM
    corrections at 1 Hz (DDS: GSPA needs positions to 0.5 m)."""

    lot_id: int = Field(default=1, ge=0, le=65535)
    name: str = Field(default="car park", min_length=1, max_length=32, pattern=r"^[\x20-\x7e]+$")
    distance_m: float = Field(default=40.0, ge=10, le=500)
    aisles: int = Field(default=2, ge=1, le=8)
    slots_per_side: int = Field(default=6, ge=1, le=20)
    occupied: float = Field(default=0.5, ge=0, le=1)
    speed_kmh: float = Field(default=9.0, gt=0, le=25, description="the cars' speed in the car park (GSPA: 0-25 km/h)")

    @property
    def slots(self) -> int:
        return 2 * self.aisles * self.slots_per_side


WorkerActivity = Literal["workingOnRoad", "settingUpClosures", "respondingToEvents", "directingTraffic"]  # RoadWorkerActivityType


class RoadWorkers(_Strict):
    """People working in the kerb lane ``distance_m`` before the intersection on the corridor, each
    with a device broadcasting PSM at 10 Hz with RoadWorkerExtensions (T/CSAE 157-2020 PSM; VRUSP).
    They pace ``span_m`` to and fro, and the RSU's sensors see them too."""

    count: int = Field(default=2, ge=1, le=16)
    distance_m: float = Field(default=60.0, ge=10, le=1000)
    span_m: float = Field(default=6.0, ge=0, le=50)
    worker_type: Literal[
        "trafficPolice", "constructionPersonnel", "policeOfficers", "trafficControlPersons", "emergencyOrganizationPersonnel"
    ] = "constructionPersonnel"
    activities: list[WorkerActivity] = Field(default_factory=lambda: list[WorkerActivity](["workingOnRoad"]), min_length=1)


class TrafficInfo(_Strict):
    """A traffic event (RTEData) or sign (RTSData) the RSU broadcasts in RSI.

    ``code`` is the eventType of GB/T 29100-2012 for an event, the signType of GB 5768.2 for a
    sign.  The item sits ``distance_m`` upstream of the intersection on the corridor approach;
    its reference path runs from there to the stop line.
    """

    kind: Literal["event", "sign"]
    code: int = Field(ge=0, le=65535)
    distance_m: float = Field(default=80.0, ge=0, le=2000)
    radius_m: float = Field(default=30.0, ge=0, le=6553)
    description: str | None = Field(default=None, min_length=1, max_length=512, pattern=r"^[\x20-\x7e]+$")
    source: Literal["unknown", "police", "government", "meteorological", "internet", "detection"] = "detection"
    priority: int = Field(default=3, ge=0, le=7, description="RSIPriority, 0 lowest .. 7 highest")
    hazard: bool = Field(default=False, description="a hazard event (HLW): RSI goes out at 10 Hz instead of 1 Hz")


class Intersection(_Strict):
    """A signalised intersection with its roadside unit."""

    id: int = Field(ge=1, le=65535, description="NodeID (YD/T 3709); 0..255 are reserved for tests")
    region: int = Field(default=1, ge=0, le=65535)
    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[\x20-\x7e]+$",
        description="DescriptiveName is an IA5String (YD/T 3709): printable ASCII, e.g. pinyin",
    )
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    rsu_id: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,32}$")
    lanes_per_direction: int = Field(default=2, ge=1, le=4)
    signal: SignalPlan = SignalPlan()
    sensors: RoadsideSensors = RoadsideSensors()
    traffic_info: list[TrafficInfo] = Field(default_factory=list, max_length=8)
    lane_management: LaneManagement | None = None
    road_workers: RoadWorkers | None = None
    car_park: CarPark | None = None
    map_day_ii: MapAdditions | None = None
    uplink: Framing = Field(
        default=Framing.ENVELOPE,
        description="how the RSU sends its messages to the cloud (v2x.framing): the signed YD/T 3957 envelope, "
        "bare-uper, vendor-wrapper, openv2x-json or cloud-json (RSUs that end PC5 security themselves)",
    )

    edition: Edition = Field(
        default=editions.CURRENT,
        description="the edition of the message set the RSU sends (v2x.editions): csae53-2020, or the "
        "csae53-2019-07 pre-release that RSUs built in 2020 still send",
    )

    @field_validator("edition")
    @classmethod
    def _written(cls, value: Edition) -> Edition:
        if value not in editions.WRITTEN:
            raise ValueError(f"a simulated RSU sends {' or '.join(e.value for e in editions.WRITTEN)}, not {value.value}")
        return value

    @field_validator("uplink")
    @classmethod
    def _sent_by_devices(cls, value: Framing) -> Framing:
        return one_of(value, DEVICE_FRAMINGS, "is not a framing a simulated RSU sends")

    @model_validator(mode="after")
    def _day_ii_needs_a_binary_uplink(self) -> Intersection:
        """RSC and SSM are Day-II messages: the JSON and vendor framings the simulated RSUs send carry Day-I only."""
        uses = [
            name
            for name, used in (
                ("signal.bus_priority", self.signal.bus_priority is not None),
                ("lane_management", self.lane_management is not None),
                ("sensors.share", self.sensors.share != "rsm"),
                ("car_park", self.car_park is not None),
                ("map_day_ii", self.map_day_ii is not None),
            )
            if used
        ]
        if uses and self.uplink not in (Framing.ENVELOPE, Framing.BARE_UPER):
            raise ValueError(
                f"{', '.join(uses)}: the RSU sends Day-II messages (RSC, SSM, PAM, RTCM), which its {self.uplink.value} uplink "
                "does not carry; use the envelope or bare-uper uplink"
            )
        return self

    @model_validator(mode="after")
    def _map_additions_need_the_current_edition(self) -> Intersection:
        if self.map_day_ii is not None and self.edition is not editions.CURRENT:
            raise ValueError(f"map_day_ii: the {self.edition.value} edition's MAP has no Day-II additions (inLinks-ex)")
        return self

    @model_validator(mode="after")
    def _wrapper_id_fits(self) -> Intersection:
        if self.uplink is Framing.VENDOR_WRAPPER and len(self.rsu_id) > vendor_wrapper.ID_OCTETS:
            raise ValueError(
                f"rsu_id {self.rsu_id!r}: the vendor wrapper holds an RSU id of at most {vendor_wrapper.ID_OCTETS} characters"
            )
        return self


class Platform(_Strict):
    """A cloud platform that republishes every RSU message as an OpenV2X JSON document on its own
    topics (``{prefix}/V2X/RSU/{id}/{type}/UP``), ``latency_ms`` later, with the translation
    ``defects`` listed (v2x.device.platform); the ingest keeps its copies apart and the report
    compares them with the RSUs' own (platform fidelity)."""

    name: str = Field(default="cloud", pattern=r"^[A-Za-z0-9_\-]{1,32}$")
    prefix: str = Field(default="cloud", pattern=r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$")
    latency_ms: float = Field(default=30.0, ge=0, le=5000)
    defects: list[Literal["float32_position"]] = Field(
        default_factory=list,
        description="float32_position: positions kept as 32-bit floating-point degrees (steps of about 0.4 m)",
    )


class FleetGroup(_Strict):
    """``hazard_lights``: the group drives with hazard lights on (VehicleEventFlags
    eventHazardLights in every BSM), as sanitation trucks at work do.  ``speed_kmh``: the
    group's desired speed instead of its kind's (a sweeper at work, a car park).  ``lane``:
    ``kerb`` keeps the group in the outermost lane, ``median`` in the innermost.  An
    ``ambulance`` is an emergency vehicle on a call: siren and lightbar on, so its BSMs carry
    VehicleEmergencyExtensions and AID 113 (114 with an event flag), signed with an
    identification certificate (GB/T 45315 7.4.4)."""

    kind: VehicleKind
    count: int = Field(ge=1, le=5000)
    hazard_lights: bool = False
    speed_kmh: float | None = Field(default=None, gt=0, le=130)
    lane: Literal["any", "kerb", "median"] = "any"
    valet: Literal["none", "arrive", "depart"] = Field(
        default="none",
        description="automated valet parking in the scenario's car park (Intersection.car_park): 'arrive' cars queue at "
        "its entrance, ask to enter and park (VIR), are guided to a slot (RSC, PAM) and park there; 'depart' cars start "
        "parked and ask to leave",
    )


class BusStop(_Strict):
    """A bus stop on both sides of the corridor, ``distance_m`` along it from the first
    intersection (negative: before it); buses stop there for ``dwell_s``."""

    name: str = Field(min_length=1, max_length=63)
    distance_m: float
    dwell_s: float = Field(default=10.0, gt=0, le=300)


class ClusterFault(_Strict):
    """A fault the zone will see, injected into a run on a NATS cluster ``at_s`` seconds after its
    start.  ``kill: node`` sends SIGKILL to a node (its replicas go; the other nodes keep the
    stream): ``which: index`` node ``index``; ``which: leader`` the node leading the uplink stream
    then (its devices lose their connection, and the cluster stops acknowledging until a new leader
    is elected); ``which: follower`` a node that neither leads it nor carries a simulator's
    connection (nothing the devices notice).  ``kill: worker`` sends SIGKILL to ingest worker
    ``index`` and, with ``restart_after_s``, starts it again on the same destination that long after."""

    at_s: float = Field(ge=0)
    kill: Literal["node", "worker"]
    which: Literal["index", "leader", "follower"] = "index"
    index: int = Field(default=0, ge=0)
    restart_after_s: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _restart_workers_only(self) -> ClusterFault:
        if self.kill == "node" and self.restart_after_s is not None:
            raise ValueError("restart_after_s restarts a worker; a killed node stays down for the rest of the run")
        if self.kill == "worker" and self.which != "index":
            raise ValueError("which: leader or follower chooses a node; a worker is chosen by index")
        return self


class BrokerSettings(_Strict):
    """``kind: mosquitto`` (the default): ``url`` None: ``v2x run`` starts a Mosquitto broker for
    the run; ``tls``: that broker listens with TLS only, each device and the ingest connect with
    their own client certificate, and a topic ACL lets a device publish only on its own uplink
    topics (v2x.mqtt.access).

    ``kind: nats-cluster``: the run starts a NATS JetStream cluster of ``nodes`` (v2x.nats.cluster),
    devices publish MQTT to its nodes (simulator k to node k mod ``nodes``), the uplink stream
    holds ``partitions`` partitions by sender (v2x.nats.uplink) and ``workers`` ingest workers
    share them (the first also reads the strays); ``faults`` kill nodes and workers during the run."""

    kind: Literal["mosquitto", "nats-cluster"] = "mosquitto"
    url: str | None = Field(default=None, pattern=r"^mqtts?://[^:/]+(:\d+)?/?$")
    qos: Literal[0, 1] = 1
    tls: bool = False
    nodes: int = Field(default=3, ge=1, le=5)
    workers: int = Field(default=1, ge=1, le=8)
    partitions: int = Field(default=8, ge=1, le=64)
    faults: list[ClusterFault] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _tls_needs_own_broker(self) -> BrokerSettings:
        if self.tls and self.url is not None:
            raise ValueError("broker.tls sets up the broker v2x run starts; it cannot be combined with broker.url")
        return self

    @model_validator(mode="after")
    def _cluster_settings(self) -> BrokerSettings:
        if self.kind == "mosquitto":
            if self.faults:
                raise ValueError("broker.faults kill nodes and workers of a nats-cluster broker")
            return self
        if self.url is not None or self.tls:
            raise ValueError("a nats-cluster broker is started by the run, on loopback without TLS: no url, no tls")
        if self.qos != 1:
            raise ValueError("a nats-cluster broker keeps frames its devices published at QoS 1 (qos: 1)")
        if self.workers > self.partitions:
            raise ValueError(f"{self.workers} workers for {self.partitions} partitions: a worker owns at least one")
        for fault in self.faults:
            if fault.kill == "node" and fault.index >= self.nodes:
                raise ValueError(f"broker.faults: node {fault.index} of {self.nodes} (numbered from 0)")
            if fault.kill == "node" and self.nodes < 3:
                raise ValueError("broker.faults: killing a node needs nodes: 3 or more (the stream keeps 3 replicas)")
            if fault.kill == "worker" and fault.index >= self.workers:
                raise ValueError(f"broker.faults: worker {fault.index} of {self.workers} (numbered from 0)")
        if sum(f.kill == "node" for f in self.faults) > (self.nodes - 1) // 2:
            raise ValueError(
                f"broker.faults: a cluster of {self.nodes} keeps its stream with at most {(self.nodes - 1) // 2} node(s) lost"
            )
        return self

    def worker_partitions(self) -> list[tuple[int, int]]:
        """(first, last) partition of each worker: the partitions split as evenly as they go."""
        edges = [round(k * self.partitions / self.workers) for k in range(self.workers + 1)]
        return [(edges[k], edges[k + 1] - 1) for k in range(self.workers)]


class Pseudonyms(_Strict):
    """Pseudonym certificates per vehicle and the change rule of GB/T 45315 7.4.5: a pseudonym
    is used at most ``max_s`` (300 s), but kept while the vehicle is within
    ``min_distance_m`` (2100 m) of where it took it, or while an event flag is set.  Lower values
    than the standard's are for tests that want changes within a short run."""

    certificates: int = Field(default=4, ge=1, le=100)
    max_s: float = Field(default=300.0, gt=0)
    min_distance_m: float = Field(default=2100.0, ge=0)


class Security(_Strict):
    """``suite``: SM2/SM3 (GB/T 45315 national profile) or ECDSA P-256/SHA-256.  ``pki``: an
    existing PKI directory (``v2x pki init``) to use instead of a new one; the run works on a
    copy, issuing certificates only for devices it does not hold yet, and applies its CRL.
    ``verify_workers``: signature verifiers the ingest runs in parallel (0: inline)."""

    suite: Literal["sm2-sm3", "ecdsa-p256-sha256"] = "sm2-sm3"
    pki: str | None = None
    verify_workers: int = Field(default=0, ge=0, le=64)
    pseudonyms: Pseudonyms = Pseudonyms()


FaultKind = Literal[
    "bsm_speed_unavailable",
    "bsm_elevation",
    "bsm_missing_angle",
    "bsm_missing_pos_accuracy",
    "spat_likely_after_max",
    "rsm_without_self",
    "rsm_duplicate_ptc_id",
    "rsm_stale_participant",
    "rsi_priority_low_bits",
    "map_duplicate_lane_id",
    "map_unknown_connecting_lane",
    "vir_req_id_per_message",
    "rsc_no_answer",
    "rsc_unrequested",
    "ssm_omits_participant",
    "rtcm_bad_crc",
    "pam_occupancy_lost",
    "pam_guide_to_occupied",
]


AttackKind = Literal[
    "forged_signature",
    "replay",
    "expired_certificate",
    "revoked_certificate",
    "foreign_ca",
    "wrong_aid",
    "day_ii_not_permitted",
    "clock_skew",
    "unsigned",
]


class Attack(_Strict):
    """A security attack carried by the first ``devices`` vehicles or RSUs (v2x.device.attacks):
    every ``every``-th message of each, from message ``first``, is replaced (or, for
    ``replay``, re-sent 300 ms later).  When two attacks fall on one message the first listed wins."""

    kind: AttackKind
    target: Literal["vehicle", "rsu"] = "vehicle"
    devices: int = Field(default=1, ge=1)
    every: int = Field(default=10, ge=1)
    first: int = Field(default=0, ge=0)


class Fault(_Strict):
    """A deliberate defect injected into some messages (see :mod:`v2x.device.faults`)."""

    kind: FaultKind
    devices: int = Field(default=1, ge=1, description="the first N devices sending that message type carry it")
    every: int = Field(default=10, ge=1, description="every n-th message of those devices, starting with the first")


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")
    description: str = ""
    seed: int = Field(default=1, ge=0)
    duration_s: float = Field(gt=0, le=86400)
    approach_length_m: float = Field(default=250.0, ge=50, le=2000)
    zone: Zone = Zone()
    intersections: list[Intersection] = Field(min_length=1, max_length=64)
    fleet: list[FleetGroup] = Field(default_factory=list, max_length=64)
    vehicle_classes: Literal["csae53", "gbt45315"] = Field(
        default="csae53", description="BasicVehicleClass numbering: T/CSAE 53 (J2735 codes) or GB/T 45315 Annex D"
    )
    bus_stops: list[BusStop] = Field(default_factory=list, max_length=32)
    broker: BrokerSettings = BrokerSettings()
    security: Security = Security()
    faults: list[Fault] = Field(default_factory=list)
    attacks: list[Attack] = Field(default_factory=list)
    network: list[Impairment] = Field(default_factory=list, description="latency and loss to the broker (v2x.scenario.network)")
    platform: Platform | None = Field(default=None, description="a cloud platform republishing the RSUs' messages")
    applications: list[str] | None = Field(
        default=None, description="Day-1 applications (T/CSAE 53) the report grades; None: those the run's messages show"
    )
    expect: list[Expectation] = Field(
        default_factory=list,
        description="what must hold after the run (v2x.scenario.expectations); none: the compliance gate must pass",
    )

    @field_validator("fleet")
    @classmethod
    def _fleet_size(cls, value: list[FleetGroup]) -> list[FleetGroup]:
        total = sum(g.count for g in value)
        if total > MAX_VEHICLES:
            raise ValueError(
                f"{total} vehicles in the fleet; at most {MAX_VEHICLES} (policy: every vehicle gets its own "
                "certificates and a simulator slot, so a typo of a few zeros would start writing gigabytes)"
            )
        return value

    @field_validator("intersections")
    @classmethod
    def _unique_ids(cls, value: list[Intersection]) -> list[Intersection]:
        for attr in ("id", "rsu_id"):
            seen = [getattr(i, attr) for i in value]
            dupes = sorted({str(x) for x in seen if seen.count(x) > 1})
            if dupes:
                raise ValueError(f"intersection {attr} must be unique, repeated: {', '.join(dupes)}")
        return value

    @model_validator(mode="after")
    def _attacks_expected_are_injected(self) -> Scenario:
        injected = {a.kind for a in self.attacks}
        for e in self.expect:
            if e.attack is not None and e.attack not in injected:
                raise ValueError(
                    f"expect: attack {e.attack!r} is not among the scenario's attacks ({', '.join(sorted(injected)) or 'none'})"
                )
        return self

    @model_validator(mode="after")
    def _attacks_on_signing_rsus(self) -> Scenario:
        """An attack forges or replays signed frames, so it needs RSUs that sign."""
        for a in self.attacks:
            unsigned = [i.rsu_id for i in self.intersections[: a.devices] if a.target == "rsu" and not i.uplink.signed]
            if unsigned:
                raise ValueError(
                    f"attack {a.kind!r} on the first {a.devices} RSUs: {', '.join(unsigned)} send a framing without "
                    "signatures (uplink), an attack on their signatures means nothing"
                )
        for a in self.attacks:
            if a.kind != "day_ii_not_permitted":
                continue
            if a.target == "rsu":
                senders = set(self.rsc_senders()) | {k for k, i in enumerate(self.intersections) if i.sensors.share != "rsm"}
                silent = [i.rsu_id for k, i in enumerate(self.intersections[: a.devices]) if k not in senders]
            else:
                asking = set(self.vir_senders())
                silent = [obu for obu in self.obu_ids()[: a.devices] if obu not in asking]
            if silent:
                raise ValueError(
                    f"attack 'day_ii_not_permitted' on the first {a.devices} {a.target}s: {', '.join(silent)} send no Day-II "
                    "message (an RSU needs bus_priority, lane_management, sensors.share or a car_park; a vehicle must be a bus where priority "
                    "is offered, or a valet car)"
                )
        if self.broker.tls and self.platform is not None:
            raise ValueError("broker.tls with a platform: the topic ACL gives each RSU its own topics, not the platform's")
        outside = sorted({i.uplink.value for i in self.intersections if i.uplink in OUTSIDE_THE_ACL})
        if self.broker.tls and outside:
            raise ValueError(
                f"broker.tls with a {' and a '.join(outside)} uplink: the topic ACL gives each RSU its own "
                "V2X/RSU/{rsuId}/... topics, and these framings travel on other topics"
            )
        return self

    @model_validator(mode="after")
    def _cluster_broker(self) -> Scenario:
        """Faults on a NATS cluster happen within the run; its workers read the envelope uplinks."""
        if self.broker.kind != "nats-cluster":
            return self
        for fault in self.broker.faults:
            if fault.at_s + (fault.restart_after_s or 0.0) >= self.duration_s:
                raise ValueError(
                    f"broker.faults: {fault.kill} fault at {fault.at_s:g} s does not end within the run ({self.duration_s:g} s)"
                )
        if self.platform is not None or not self.uplink_sources().envelope_only():
            raise ValueError(
                "a nats-cluster broker: its ingest workers read the envelope uplinks only; a platform or a framed "
                "uplink needs the mosquitto broker"
            )
        return self

    @model_validator(mode="after")
    def _valet_needs_a_car_park(self) -> Scenario:
        """Valet cars park in the scenario's car park (the only intersection with ``car_park``); departing cars start in
        its occupied slots.  More cars may arrive than there are free slots: those the car park has no slot for are denied."""
        valet = sum(g.count for g in self.fleet if g.valet != "none")
        depart = sum(g.count for g in self.fleet if g.valet == "depart")
        if not valet:
            return self
        parks = [i for i in self.intersections if i.car_park is not None]
        if not parks:
            raise ValueError("fleet: valet cars need an intersection with a car_park")
        if len(parks) > 1:
            raise ValueError(
                f"intersections {', '.join(str(i.id) for i in parks)} each have a car_park; a scenario has at most one"
            )
        park = parks[0].car_park
        assert park is not None
        taken = round(park.occupied * park.slots)
        if depart > taken:
            raise ValueError(
                f"fleet: {depart} valet cars depart, but only {taken} of the car park's {park.slots} slots are occupied"
            )
        if any(g.kind not in VALET_KINDS for g in self.fleet if g.valet != "none"):
            raise ValueError(f"fleet: valet parking is for {', '.join(sorted(VALET_KINDS))}")
        return self

    @model_validator(mode="after")
    def _spacing(self) -> Scenario:
        from v2x.messages import distance_m

        for a, b in zip(self.intersections, self.intersections[1:]):
            d = distance_m(a.lat, a.lon, b.lat, b.lon)
            if not 60 <= d <= 5000:
                raise ValueError(f"intersections {a.id} and {b.id} are {d:.0f} m apart; must be 60..5000 m")
        first, last = self.intersections[0], self.intersections[-1]
        span = distance_m(first.lat, first.lon, last.lat, last.lon)
        for stop in self.bus_stops:
            if not -self.approach_length_m < stop.distance_m < span + self.approach_length_m:
                raise ValueError(
                    f"bus stop {stop.name!r} at {stop.distance_m:g} m is off the corridor "
                    f"({-self.approach_length_m:g} .. {span + self.approach_length_m:g} m)"
                )
        return self

    @property
    def vehicle_count(self) -> int:
        return sum(g.count for g in self.fleet)

    def platform_topic_prefix(self) -> str:
        """What the platform puts before ``V2X/...``: its prefix, then the zone's."""
        assert self.platform is not None
        return f"{self.platform.prefix}/{self.zone.topic_prefix}".strip("/")

    def uplink_sources(self) -> Sources:
        """The framing of each RSU uplink that is not the envelope, and the platform's topics, as
        the ingest reads them (:mod:`v2x.framing.sources`)."""
        entries: list[Source] = []
        for i in self.intersections:
            if i.uplink is Framing.VENDOR_WRAPPER:
                entries += [Source(topics=topics.vendor_wrapper(t, self.zone.topic_prefix), framing=i.uplink) for t in RSU_ORDER]
            elif i.uplink is Framing.CLOUD_JSON:
                entries.append(Source(topics=topics.cloud_device_filter(i.rsu_id, self.zone.topic_prefix), framing=i.uplink))
            elif i.uplink is not Framing.ENVELOPE:
                entries.append(Source(topics=topics.device_filter("RSU", i.rsu_id, self.zone.topic_prefix), framing=i.uplink))
        if self.platform is not None:
            relayed = topics.device_filter("RSU", "+", self.platform_topic_prefix())
            entries.append(Source(topics=relayed, framing=Framing.OPENV2X_JSON, relay=self.platform.name))
        return Sources(sources=list({(e.topics, e.framing): e for e in entries}.values()))

    def obu_ids(self) -> list[str]:
        """Device ids of the fleet's OBUs, in fleet order (topic segment and PKI name)."""
        return [obu_id(i) for i in range(self.vehicle_count)]

    def priority_offered(self) -> list[int]:
        """Indices of the intersections that offer buses signal priority (their RSUs answer VIR with RSC)."""
        return [k for k, i in enumerate(self.intersections) if i.signal.bus_priority is not None]

    def vir_senders(self) -> list[str]:
        """Device ids of the vehicles that send VIR: those of the :data:`PRIORITY_REQUESTERS` kinds,
        where some intersection offers signal priority, and the valet cars."""
        asking = self.priority_offered()
        valet = {obu for obu, group in zip(self.obu_ids(), self.obu_groups()) if group.valet != "none"}
        return [obu for obu, kind in self.obu_kinds().items() if (asking and kind in PRIORITY_REQUESTERS) or obu in valet]

    def car_park_index(self) -> int | None:
        """Index of the intersection with the car park, if any."""
        return next((k for k, i in enumerate(self.intersections) if i.car_park is not None), None)

    def worker_ids(self) -> list[str]:
        """Device ids of the road workers' PSM devices (:class:`RoadWorkers`), intersection by intersection."""
        return [worker_id(i.id, k) for i in self.intersections if i.road_workers for k in range(i.road_workers.count)]

    def rsc_senders(self) -> list[int]:
        """Indices of the intersections whose RSU sends RSC: it offers priority, manages lanes or guides valet parking."""
        return [
            k
            for k, i in enumerate(self.intersections)
            if i.signal.bus_priority is not None or i.lane_management is not None or i.car_park is not None
        ]

    def obu_groups(self) -> list[FleetGroup]:
        """Each OBU's fleet group, in fleet order."""
        return [group for group in self.fleet for _ in range(group.count)]

    def obu_kinds(self) -> dict[str, str]:
        """Each OBU's vehicle kind (car, bus, ambulance ...), by device id."""
        return dict(zip(self.obu_ids(), (group.kind for group in self.obu_groups())))


def worker_id(intersection_id: int, k: int) -> str:
    """Device id of the k-th road worker at intersection ``intersection_id``."""
    return f"WKR-{intersection_id}-{k + 1}"


def obu_id(index: int) -> str:
    """Device id of the index-th vehicle of a scenario."""
    return f"OBU-{index + 1:04d}"


def _format_errors(exc: ValidationError) -> str:
    return "\n".join(f"  {line}" for line in problems(exc))


RSU_ORDER = sorted(topics.RSU_MESSAGES, key=lambda t: t.value)

MAX_SCENARIO_BYTES = 1024 * 1024  # policy: a scenario file is a page or two of YAML


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Validate YAML text; raises :class:`ScenarioError` naming every bad field."""
    if len(text) > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{source}: {len(text)} characters; a scenario file has at most {MAX_SCENARIO_BYTES}")
    try:
        data = load_yaml(text, source)
    except YamlError as exc:
        raise ScenarioError(f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a YAML mapping, got {type(data).__name__}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: invalid scenario\n{_format_errors(exc)}") from None
    except RecursionError:
        raise ScenarioError(f"{source}: invalid scenario: nested too deeply") from None


def builtin_scenarios() -> dict[str, Path]:
    """Name -> path of the scenarios shipped with the package."""
    folder = resources.files("v2x.scenario") / "library"
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml")}


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a built-in scenario by name, or a scenario file by path."""
    builtins = builtin_scenarios()
    path = builtins.get(str(name_or_path)) or Path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(
            f"no scenario file {path} and no built-in scenario of that name (built-in: {', '.join(sorted(builtins))})"
        ) from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); save the scenario as UTF-8") from None
    return parse_scenario(text, str(path))


def with_changes(scenario: Scenario, **changes: Any) -> Scenario:
    """``scenario`` with top-level fields replaced (e.g. ``duration_s=5``, ``fleet=[...]``),
    validated as a file would be; raises :class:`ScenarioError` naming each bad field."""
    try:
        return Scenario.model_validate(scenario.model_dump() | changes)
    except ValidationError as exc:
        raise ScenarioError(
            f"{scenario.name} with changes to {', '.join(changes)}: invalid scenario\n{_format_errors(exc)}"
        ) from None


def dump_scenario(scenario: Scenario) -> str:
    """YAML of a validated scenario (all defaults filled in), as recorded in a run directory."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
