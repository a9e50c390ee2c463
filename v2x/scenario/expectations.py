"""What a scenario declares must hold after its run (``expect:`` in the scenario file).

Each expectation names one subject and what it must be::

    expect:
      - BSM.latency_p99_ms <= 100                     # shorthand: METRIC OP NUMBER
      - {metric: BSM.pdr, ">=": 0.95}                  # a report metric (TYPE.field) or a check's value
      - {check: SPAT.rate}                             # a profile check's verdict (default PASS)
      - {check: BSM.latency_p99, verdict: FAIL}
      - {application: RLVW}                            # a Day-1 application's verdict (default PASS)
      - {attack: replay}                               # every injected replay got its verdict
      - {gate: PASS}                                   # the report's overall verdict
      - name: SPAT for every MAP approach              # a SQL query over the run (v2x sql)
        sql: SELECT count(*) FROM map_movements WHERE phase_id NOT IN (SELECT phase_id FROM spat_phase_states)
        "==": 0

The pipeline evaluates them against the run's report and its SQL views
(``pipeline.report.expectations``); this module only parses and validates their shape.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Op = Literal["<=", "<", ">=", ">", "==", "!="]
OPS: tuple[str, ...] = ("<=", "<", ">=", ">", "==", "!=")
Verdict = Literal["PASS", "FAIL", "WARN", "N/A"]
SUBJECTS = ("metric", "check", "application", "attack", "gate", "sql")
_SHORTHAND = re.compile(r"^\s*(?P<metric>[A-Za-z][\w.]*)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>-?[\d.]+(?:e-?\d+)?)\s*$")


def _compare(value: float, op: str, bound: float) -> bool:
    return {
        "<=": value <= bound,
        "<": value < bound,
        ">=": value >= bound,
        ">": value > bound,
        "==": value == bound,
        "!=": value != bound,
    }[op]


class Expectation(BaseModel):
    """One declared expectation: exactly one subject, with ``op``/``value`` for a metric or a
    query, ``verdict`` for a check, an application or the gate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, min_length=1, max_length=200)
    metric: str | None = Field(default=None, pattern=r"^[A-Za-z][\w]*\.[\w.]+$")
    check: str | None = Field(default=None, min_length=1)
    application: str | None = Field(default=None, pattern=r"^[A-Z]{2,6}$")
    attack: str | None = None
    gate: Verdict | None = None
    sql: str | None = Field(default=None, min_length=1)
    op: Op | None = None
    value: float | None = None
    verdict: Verdict | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """``"BSM.latency_p99_ms <= 100"`` and ``{metric: X, "<=": 100}`` become op/value."""
        if isinstance(data, str):
            m = _SHORTHAND.match(data)
            if m is None:
                raise ValueError(f"{data!r}: a text expectation is METRIC OP NUMBER, e.g. 'BSM.latency_p99_ms <= 100'")
            return {"metric": m["metric"], "op": m["op"], "value": float(m["value"])}
        if isinstance(data, dict):
            given = [op for op in OPS if op in data]
            if len(given) > 1:
                raise ValueError(f"one comparison per expectation, got {', '.join(given)}")
            if given:
                data = {k: v for k, v in data.items() if k != given[0]} | {"op": given[0], "value": data[given[0]]}
        return data

    @model_validator(mode="after")
    def _one_subject(self) -> Expectation:
        subjects = [s for s in SUBJECTS if getattr(self, s) is not None]
        if len(subjects) != 1:
            raise ValueError(f"an expectation names exactly one of {', '.join(SUBJECTS)}; got {', '.join(subjects) or 'none'}")
        subject = subjects[0]
        compared = self.op is not None
        if subject == "metric" and not compared:
            raise ValueError(f"metric {self.metric}: give a comparison, e.g. '<=': 100")
        if subject in ("check", "application", "attack", "gate") and compared:
            raise ValueError(f"{subject} {getattr(self, subject)}: takes a verdict, not a comparison")
        if self.verdict is not None and subject not in ("check", "application"):
            raise ValueError(f"verdict applies to a check or an application, not to {subject}")
        return self

    @property
    def subject(self) -> str:
        return next(s for s in SUBJECTS if getattr(self, s) is not None)

    @property
    def expected_verdict(self) -> str:
        """For a check or an application: the verdict it must have (default PASS)."""
        return self.verdict or "PASS"

    def label(self) -> str:
        """How the expectation reads in tables and JUnit: its name, else its content."""
        if self.name:
            return self.name
        s = self.subject
        cmp = f" {self.op} {self.value:g}" if self.op else ""
        if s == "metric":
            return f"{self.metric}{cmp}"
        if s in ("check", "application"):
            return f"{s} {getattr(self, s)} is {self.expected_verdict}"
        if s == "attack":
            return f"{self.attack} attack detected"
        if s == "gate":
            return f"gate is {self.gate}"
        return f"SQL{cmp or ' is true'}: {self.sql}"

    def holds(self, value: float) -> bool:
        """Whether a metric or query value satisfies the comparison."""
        assert self.op is not None and self.value is not None
        return _compare(value, self.op, self.value)
