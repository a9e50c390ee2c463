"""The compliance profile: the checks a report judges and the Day-1 applications it grades
(compliance.md 8; the shipped one is ``profiles/xiqing.yaml``).

A profile is a user's file, so it is validated as it loads: an unknown key, a missing threshold or
an operator that is not one of ``>= <= > <`` is a :class:`ProfileError` naming the entry, not a
``KeyError`` half-way through a report."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError

from v2x import editions
from v2x.editions import Edition
from v2x.validation import problems
from v2x.yaml_file import YamlError, load_yaml

from pipeline.report.model import Basis, CheckSpec, Number, ReportPart


class ProfileError(ValueError):
    """A profile file that does not parse or does not describe a profile."""


class ApplicationMessage(ReportPart):
    """A message an application uses: its type, an optional SQL condition on the ``messages``
    view, and whether it only needs to be present (``supporting``)."""

    type: str
    where: str | None = None
    supporting: bool = False


class ApplicationSpec(ReportPart):
    """A Day-1 application (T/CSAE 53 table): the messages it uses and the rate, latency and range it needs."""

    id: str
    name: str
    messages: list[ApplicationMessage]
    rate_hz: Annotated[Number, Field(gt=0)]
    latency_ms: Annotated[Number, Field(gt=0)]
    range_m: Annotated[Number, Field(gt=0)]
    basis: Basis
    source: str
    infer: bool = True


class PdrInRange(ReportPart):
    """The PDR an application's BSMs must reach within its range."""

    threshold: Annotated[Number, Field(ge=0, le=1)]
    basis: Basis
    source: str


class Profile(ReportPart):
    profile: str
    version: int | str
    checks: list[CheckSpec]
    applications: list[ApplicationSpec] = Field(default_factory=list)
    pdr_in_range: PdrInRange | None = None
    edition: Edition = Field(
        default=editions.CURRENT,
        description="the edition of the message set devices must send (v2x.editions); frames of another count in other_edition",
    )

    def check_ids(self) -> set[str]:
        return {c.id for c in self.checks}

    def application_ids(self) -> set[str]:
        return {a.id for a in self.applications}


def load_profile(path: Path | None = None) -> Profile:
    """The compliance profile: a user's YAML file, or the shipped ``xiqing`` profile."""
    text = (
        path.read_text(encoding="utf-8")
        if path
        else (resources.files("pipeline.report") / "profiles" / "xiqing.yaml").read_text(encoding="utf-8")
    )
    where = str(path) if path else "the shipped profile"
    try:
        data = load_yaml(text, where)
    except YamlError as exc:
        raise ProfileError(f"not YAML: {exc}") from None
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{where}: {problems(exc)[0]} ({exc.error_count()} problem(s))") from None
    if profile.applications and profile.pdr_in_range is None:
        raise ProfileError(f"{where}: a profile with applications needs pdr_in_range")
    for k, check in enumerate(profile.checks):
        if check.basis == "harness" or check.kind is not None:
            raise ProfileError(f"{where}: checks.{k}: basis harness and kind are the report's own, not a profile's ({check.id})")
    duplicates = sorted({c.id for c in profile.checks if [d.id for d in profile.checks].count(c.id) > 1})
    if duplicates:
        raise ProfileError(f"{where}: check ids used twice: {', '.join(duplicates)}")
    return profile
