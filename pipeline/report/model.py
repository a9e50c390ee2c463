"""The compliance report as a typed model: what :func:`pipeline.report.build.build_report` returns,
what every renderer reads, and the source of ``report.schema.json``.

The JSON format is :meth:`Report.to_json`; the schema shipped beside this module is generated from
these classes (``python -m pipeline.report.model > pipeline/report/report.schema.json``) and a test
fails when the two differ.  Fields that only some entries carry (a check's ``range_m``, ``note`` ...)
are left out of the JSON when they are not set, as they always were.

``REPORT_VERSION`` goes up when a field is removed or changes meaning, or an enumeration gains a
value; a new optional field may appear within a version.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, WithJsonSchema, model_serializer
from pydantic.json_schema import SkipJsonSchema

REPORT_VERSION: Literal[6] = 6
HISTORY = (
    "3 = checks of kind field/security, security section; 4 = field-check scope 'stream' (signer and pseudonym rules judged "
    "in the ingest); 5 = rates counted from msgCnt (transmit rate: loss no longer lowers it), auth_success_rate over frames "
    "whose signer resolved, inter-packet gaps, injected loss, receivers and range-aware metrics, Day-1 application checks "
    "(kind 'application')."
)

Verdict = Literal["PASS", "FAIL", "WARN", "N/A"]
Basis = Literal["std", "derived", "harness", "policy", "unverified"]
Op = Literal[">=", "<=", ">", "<"]
CheckKind = Literal["field", "security", "application", "harness", "platform"]
Scope = Literal["message", "stream", "run"]
MsgType = Literal["BSM", "MAP", "SPAT", "RSI", "RSM", "RTCM", "RSC", "SSM", "VIR", "PAM", "PSM", "CLPMM", "UNKNOWN"]
# Verification verdicts modelled on ETSI TS 102 723-8 table 27 (v2x.security.Verdict), plus not_verified.
VerdictCode = Literal[
    "success",
    "false_signature",
    "invalid_certificate",
    "revoked_certificate",
    "inconsistent_chain",
    "signer_certificate_not_found",
    "invalid_timestamp",
    "duplicate_message",
    "unsupported_signer_identifier_type",
    "incompatible_protocol",
    "unsigned_message",
    "permission_denied",
    "malformed",
    "not_verified",
]

# Numbers keep their type (a count stays an int in the JSON); the schema says "number".
Number = Annotated[int | float, WithJsonSchema({"type": "number"})]
Fraction = Annotated[int | float, Field(ge=0, le=1), WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1})]
Count = Annotated[int, Field(ge=0)]


class _LeftOutWhenUnset:
    """Marks a field that is left out of the JSON unless it was set (a check's ``range_m``,
    ``note`` ...): the report says nothing rather than null about what an entry does not have."""

    def __repr__(self) -> str:
        return "LEFT_OUT_WHEN_UNSET"


LEFT_OUT = _LeftOutWhenUnset()

T = TypeVar("T")
Absent = Annotated[T | SkipJsonSchema[None], LEFT_OUT]  # left out when unset; never null in the JSON
AbsentOrNull = Annotated[T | None, LEFT_OUT]  # left out when unset; null when set to None


def optional(description: str = "") -> Any:
    """The default of a field marked ``LEFT_OUT``: None, and out of the JSON unless set."""
    return Field(default=None, description=description or None)


class ReportPart(BaseModel):
    """A part of the report: no unknown fields, fields also settable by their Python names, and
    the fields marked ``LEFT_OUT`` out of the JSON unless they were set."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)
    _left_out: ClassVar[dict[str, str]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._left_out = {name: f.alias or name for name, f in cls.model_fields.items() if LEFT_OUT in f.metadata}

    @model_serializer(mode="wrap")
    def _leave_out_unset(self, handler: SerializerFunctionWrapHandler):
        # no return annotation: with one, pydantic would take it as the JSON schema of every part
        data = handler(self)
        for name, key in self._left_out.items():
            if name not in self.model_fields_set:
                data.pop(key, None)
        return data


class ProfileRef(ReportPart):
    name: str
    version: int | str


class DeviceGroup(ReportPart):
    """Devices under test of one kind."""

    kind: str = Field(
        description="RSU, or the vehicle kind of the scenario's fleet (car, bus, ambulance ...); OBU for a run without a scenario"
    )
    count: Count
    ids: list[str] = Field(description="their device ids (the topic's), at most 100")


class About(ReportPart):
    """What a sign-off needs to know of the run: when, with what, on which devices."""

    tool: str = Field(description="the harness and its version, e.g. xiqing-v2x 0.1.0")
    made_at: str = Field(description="when this report was made, RFC 3339 in the zone's time")
    time_zone: str = Field(description="the time zone of the times here (the zone's: Asia/Shanghai, UTC+08:00)")
    run_started_at: str | None = Field(description="when the run began, RFC 3339 in the zone's time")
    run_ended_at: str | None = Field(description="when it ended; null if it never recorded its end")
    scenario_description: str | None
    seed: int | None = Field(description="the scenario's random seed")
    scenario_sha256: str | None = Field(description="SHA-256 of RUN/scenario.yaml, the scenario as run")
    devices: list[DeviceGroup]
    operator: Absent[str] = optional("who ran the test and signs the report (v2x report --operator)")


class Summary(ReportPart):
    """Checks per verdict."""

    PASS: Count
    FAIL: Count
    WARN: Count
    NA: Count = Field(alias="N/A")

    @classmethod
    def of(cls, verdicts: Sequence[str]) -> Summary:
        return cls.model_validate({v: verdicts.count(v) for v in ("PASS", "FAIL", "WARN", "N/A")})


class Overall(ReportPart):
    """The whole run (``ALL.<field>`` in expectations)."""

    msg_type: Literal["ALL"] = "ALL"
    published: Count | None
    received: Count | None
    stored: Count = Field(description="the devices' own frames stored (a platform's copies apart: relayed)")
    relayed: Count = Field(default=0, description="a platform's copies of the devices' messages stored (platform fidelity)")
    rejected: Count
    senders: Count
    stored_over_published: Number | None
    auth_success_rate: Fraction | None
    schedule_achieved_over_nominal: Absent[Number] = optional(
        "real-time runs: frames generated within the run over frames due (v2x.device.schedule)"
    )
    schedule_lateness_p99_ms: Absent[Number] = optional("real-time runs: p99 of generation time minus due time, worst simulator")


class MessageTypeMetrics(ReportPart):
    """Metrics of one message type (``TYPE.<field>`` in expectations)."""

    msg_type: MsgType
    published: Count | None
    stored: Count
    decoded: Count
    rejected: Count
    senders: Count
    rate_hz_min: Number | None = Field(
        description="lowest per-sender transmit rate, Hz: (received + msgCnt gaps - 1) over the generationTime span"
    )
    rate_hz_median: Number | None
    latency_p50_ms: Number | None = Field(description="received_at - generationTime, frames that verified")
    latency_p95_ms: Number | None
    latency_p99_ms: Number | None
    latency_max_ms: Number | None
    ipg_p95_ms: Number | None = Field(description="inter-packet gap at the receiver (SAE J2945/1), per stream")
    ipg_p99_ms: Number | None
    ipg_max_ms: Number | None
    missing: Count = Field(description="msgCnt gaps (GB/T 45315 Annex C)")
    injected_loss: Count | None = Field(description="frames the scenario's network model dropped; null without one")
    missing_not_injected: Count | None = Field(description="missing beyond the injected loss")
    duplicates: Count
    replays: Count = Field(
        description="frames whose signature was already received (auth duplicate_message): network duplicates and replay attacks"
    )
    injected_duplicates: Count | None = Field(
        description="copies the scenario's network model added (null: no network model); each shows among replays"
    )
    pdr: Fraction | None = Field(description="received / (received + missing)")
    auth_success_rate: Fraction | None = Field(
        description="success among the frames whose signer resolved, injected attack frames that got their verdict left out"
    )
    attacks_detected: Absent[Count] = optional(
        "injected attack frames that got the verdict they should (security.<attack> checks): not the honest devices' failures"
    )
    signer_unresolved: Count = Field(description="frames signed with a digest whose certificate the ingest never saw")
    other_edition: Count = Field(
        default=0,
        description="decoded frames in another edition of the message set than the profile's (the edition column, v2x.editions)",
    )
    not_verified: Count = Field(
        default=0,
        description="frames nobody could verify (auth not_verified: no trust anchors, or a framing without signatures); "
        "left out of auth_success_rate and signer_resolved_rate",
    )
    received_in_stall: Count = Field(
        description="frames received in a second the receiver stalled: left out of latency, and their invalid_timestamp "
        "verdicts out of auth_success_rate"
    )
    signer_resolved_rate: Fraction | None
    stored_over_published: Number | None


class SimulatorSchedule(ReportPart):
    """One simulator's schedule as recorded in ``RUN/published/<simulator>.json`` (more fields allowed)."""

    model_config = ConfigDict(extra="allow")

    pace: Literal["realtime", "max"]
    due: Count
    nominal_per_s: Number
    wall_s: Number


class Schedule(ReportPart):
    """How well the simulators kept their schedule (v2x.device.schedule.combine)."""

    pace: Literal["realtime", "max"]
    simulators: dict[str, SimulatorSchedule]
    nominal_per_s: Annotated[Number, Field(ge=0)]
    due: Count
    achieved_per_s: Absent[Number] = optional()
    achieved_over_nominal: AbsentOrNull[Number] = optional()
    lateness_p99_ms: Absent[Number] = optional()
    lateness_max_ms: Absent[Number] = optional()
    late_100ms: Absent[Count] = optional()
    wall_s: Absent[Number] = optional()
    generated_per_wall_s: AbsentOrNull[Number] = optional()
    bare_sign_per_s: AbsentOrNull[Number] = optional()
    generated_over_bare_sign: AbsentOrNull[Number] = optional()


class Position(ReportPart):
    name: str
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]


class Receivers(ReportPart):
    """The positions range-aware metrics measure sender distance from (pipeline.report.slices)."""

    source: str
    positions: list[Position]


class SliceMetrics(ReportPart):
    """Metrics of the messages of one slice (pipeline.report.slices)."""

    messages: Count
    pdr: Fraction | None
    latency_p95_ms: Number | None
    latency_p99_ms: Number | None


class RangeMetrics(SliceMetrics):
    """Metrics of the messages sent within ``range_m`` of a receiver, one per ranged profile check."""

    msg_type: str
    where: str | None
    range_m: Number | None


class PlatformFidelity(ReportPart):
    """A platform's copies of one message type, matched with the devices' own frames and compared
    field by field (pipeline.sql.fidelity; a sources file's ``relay:``)."""

    relay: str = Field(description="the platform, as the sources file names it")
    msg_type: MsgType
    relayed: Count = Field(description="copies that decoded")
    matched: Count = Field(description="copies matched with a device's frame (sender, msgCnt, received within -1..+10 s)")
    unmatched: Count = Field(description="copies of no frame the ingest received from the device")
    not_relayed: Count = Field(description="frames of the senders the platform relays that it never copied")
    differing: Count = Field(description="matched copies whose content differs from the device's in any field")
    differences: dict[str, Count] = Field(description="table.column (or a nested table) -> matched copies that differ there")
    added_latency_p50_ms: Number | None = Field(description="a copy's receipt after the device's frame")
    added_latency_p99_ms: Number | None
    added_latency_max_ms: Number | None

    def named_differences(self, most: int | None = None) -> str:
        """The fields that differ most, with how many copies: ``spat.moy 4, rsm_participants 2``."""
        return ", ".join(f"{k} {n}" for k, n in list(self.differences.items())[:most]) or "-"


class ApplicationGrade(ReportPart):
    """One Day-1 application (pipeline.report.applications)."""

    id: str
    name: str
    graded: bool
    messages: list[str]
    rate_hz: Number
    latency_ms: Number
    range_m: Number
    verdict: Verdict
    note: Absent[str] = optional()


class Applications(ReportPart):
    declared: list[str] | None = Field(description="applications the run declared; null: inferred from its messages")
    graded: list[ApplicationGrade]


class CheckSpec(ReportPart):
    """A check before it is judged: an entry of the profile's ``checks``, or one the report makes."""

    id: str
    msg_type: str = Field(description="a message type, or ALL")
    metric: str
    op: Op
    threshold: Number
    basis: Basis = Field(description="std/derived/harness can FAIL; policy/unverified only WARN")
    source: str = Field(description="standard and clause")
    kind: Absent[CheckKind] = optional("absent for the profile's metric checks; harness: the run's own integrity")
    range_m: Absent[Annotated[Number, Field(gt=0)]] = optional("judged on the messages sent within this range of a receiver")
    where: Absent[str] = optional("judged on the messages matching this SQL condition")
    application: Absent[str] = optional("application checks: the Day-1 application")
    note: Absent[str] = optional()
    scope: Absent[Scope] = optional("field checks: where they are judged")
    example: AbsentOrNull[str] = optional("field checks: the first violation's detail")


class Check(CheckSpec):
    """A judged check: its value and verdict (pipeline.report.verdicts.judge)."""

    value: Number | None
    verdict: Verdict


class FailureCause(ReportPart):
    """One measurement that FAILs checks (pipeline.report.causes): fix it and they all pass."""

    measurement: str = Field(description="message type and metric (with range and condition), or the check's id")
    value: Number | None
    checks: list[str] = Field(description="the failing checks that judged it")


class SecurityClass(ReportPart):
    """Frames of one class (honest, or an injected attack) by verification verdict."""

    class_: str = Field(alias="class", description="honest, or the injected attack (forged_signature, replay, ...)")
    expected: VerdictCode
    frames: Count
    as_expected: Count
    injected: Absent[Count] = optional()
    verdicts: dict[VerdictCode, Count]


class Crl(ReportPart):
    """The CRL the ingest applied (v2x.security.trust_store.CrlStatus) and its age when the ingest started."""

    craca: str
    serial: int
    issued_unix_s: Number
    next_unix_s: Number
    entries: Count
    age_s: Number


class Security(ReportPart):
    classes: list[SecurityClass]
    crl: Crl | None


class IngestEvent(ReportPart):
    at: str
    event: str
    detail: Absent[str] = optional()


class ReceiverStall(ReportPart):
    """A second in which every sender was late at once (source data), or the ingest's own
    ``receiver_stalled`` event (source ingest)."""

    source: Literal["data", "ingest"]
    second: str | None
    epoch_s: Absent[int] = optional(
        "the stalled second (Unix seconds, source data): its frames are not judged against their devices"
    )
    senders: Absent[Count] = optional()
    late_senders: Absent[Count] = optional()
    late_frames: Absent[Count] = optional()
    max_latency_ms: Absent[Number] = optional()
    detail: AbsentOrNull[str] = optional()


class Report(ReportPart):
    """The output of `v2x report RUN --format json` (pipeline.report.build.build_report)."""

    report_version: Literal[6]
    run: str = Field(description="the run directory")
    scenario: str | None = Field(description="scenario name from run.json; null for a run made by `v2x ingest`")
    profile: ProfileRef
    verdict: Literal["PASS", "FAIL"] = Field(description="FAIL when any check FAILs")
    summary: Summary
    overall: Overall
    message_types: list[MessageTypeMetrics]
    receivers: Receivers
    ranges: list[RangeMetrics]
    applications: Applications
    checks: list[Check]
    security: Security
    ingest_events: list[IngestEvent]
    receiver_stalls: list[ReceiverStall] = Field(
        default_factory=list,
        description="when the receiver stalled: seconds in which every sender was late at once (source data) and the "
        "ingest's receiver_stalled events (source ingest)",
    )
    schedule: Schedule | None = Field(
        default=None,
        description="how well the simulators kept their schedule (v2x.device.schedule.combine); null for a run without simulators",
    )
    platform: list[PlatformFidelity] = Field(
        default_factory=list, description="platform fidelity: a platform's copies against the devices' frames; empty without one"
    )
    about: Absent[About] = optional("the run for a sign-off: times, tool, scenario, seed, devices under test")
    failure_causes: Absent[list[FailureCause]] = optional(
        "the failing checks grouped by the measurement they judged, most checks first"
    )

    def metrics_of(self, msg_type: str) -> MessageTypeMetrics | Overall | None:
        """The metrics of one message type, or of the whole run for ``ALL``."""
        if msg_type == "ALL":
            return self.overall
        return next((m for m in self.message_types if m.msg_type == msg_type), None)

    def check(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)

    def failed(self) -> list[Check]:
        """The checks that FAIL, in report order."""
        return [c for c in self.checks if c.verdict == "FAIL"]

    def to_data(self) -> dict[str, Any]:
        """The report as plain JSON data."""
        return self.model_dump(mode="json")

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)


def _tidy(node: Any) -> Any:
    """Drop what the generator adds for Python readers only: a property's title (its name again)
    and ``default: null`` on a field that is left out rather than null."""
    if isinstance(node, list):
        return [_tidy(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _tidy(v) for k, v in node.items() if not (k == "default" and v is None and "anyOf" not in node)}
    if isinstance(out.get("properties"), dict):
        out["properties"] = {name: {k: v for k, v in prop.items() if k != "title"} for name, prop in out["properties"].items()}
    return out


def json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of :class:`Report`, as shipped in ``report.schema.json``."""
    schema = _tidy(Report.model_json_schema(mode="serialization"))
    schema["properties"]["report_version"] = {"const": REPORT_VERSION}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://xiqing-v2x.example/report.schema.json",
        "title": "xiqing-v2x compliance report",
        "description": (
            "The output of `v2x report RUN --format json` (pipeline.report.build.build_report), generated from "
            "pipeline.report.model. report_version changes when a field is removed or changes meaning, or an enumeration "
            "gains a value; new optional fields may appear without a new version. History: " + HISTORY
        ),
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(schema_text())
