"""Scenario suites: run several scenarios one after another and judge each one's expectations.

:func:`load_suite` reads and validates every scenario and its expectations (against the
compliance profile) before anything runs; :func:`run_suite` runs them through the broker
(:func:`v2x.run.run_scenario`), builds each report and evaluates the expectations
(:mod:`pipeline.report.expectations`).  A scenario that declares no expectations is expected to pass
the compliance gate.  A run that fails is recorded with its error and the suite goes on.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from v2x.mqtt.broker import BrokerError
from v2x.run import RunError, run_scenario
from v2x.rundir import write_json_atomic
from v2x.scenario.expectations import Expectation
from v2x.scenario.model import Scenario, ScenarioError, builtin_scenarios, load_scenario

from pipeline.report.build import build_report, to_json
from pipeline.report.expectations import Outcome, evaluate, unknown_subjects
from pipeline.report.profile import Profile, load_profile

GATE_PASSES = Expectation(gate="PASS")


def scenario_expectations(scenario: Scenario) -> list[Expectation]:
    """What a run of ``scenario`` must show: its ``expect:`` list, and the gate PASS unless the
    list says what the gate must be (a scenario that expects its checks to FAIL says
    ``{gate: FAIL}``), so that no run passes with a report that FAILs unless it was meant to."""
    expect = list(scenario.expect)
    return expect if any(e.gate is not None for e in expect) else [*expect, GATE_PASSES]


def expectation_problems(scenario: Scenario, source: str, profile: Profile) -> list[str]:
    """Each name in ``scenario``'s expectations that the profile, the field checks or its
    attacks do not know, as ``source: expect: ...``: checked before anything runs."""
    bad = unknown_subjects(list(scenario.expect), profile, {a.kind for a in scenario.attacks})
    return [f"{source}: expect: {p}" for p in bad]


@dataclass(frozen=True)
class SuiteEntry:
    """A scenario of a suite, with where it came from."""

    source: str
    scenario: Scenario

    @property
    def expectations(self) -> list[Expectation]:
        return scenario_expectations(self.scenario)


@dataclass
class ScenarioResult:
    """How one scenario of a suite went: its run, the report verdict and each expectation."""

    name: str
    source: str
    run: Path | None = None
    verdict: str | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.outcomes) and all(o.held for o in self.outcomes)


@dataclass
class SuiteResult:
    results: list[ScenarioResult]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


def scenario_sources(targets: list[str]) -> list[str]:
    """Scenario files or built-in names for ``v2x suite`` arguments: a directory gives its
    ``*.yaml`` files in name order; no argument gives every built-in scenario."""
    if not targets:
        return sorted(builtin_scenarios())
    out: list[str] = []
    for target in targets:
        path = Path(target)
        if path.is_dir():
            files = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))
            if not files:
                raise ScenarioError(f"{path}: no *.yaml scenario files in this directory")
            out += [str(f) for f in files]
        else:
            out.append(target)
    return out


def load_suite(targets: list[str], profile_path: Path | None = None) -> list[SuiteEntry]:
    """Every scenario of the suite, validated with its expectations; raises ScenarioError
    listing every problem of every scenario."""
    profile = load_profile(profile_path)
    entries, problems = [], []
    for source in scenario_sources(targets):
        try:
            scenario = load_scenario(source)
        except ScenarioError as exc:
            problems.append(str(exc))
            continue
        problems += expectation_problems(scenario, source, profile)
        entries.append(SuiteEntry(source, scenario))
    names = [e.scenario.name for e in entries]
    problems += [
        f"scenario name {n!r} is used by more than one scenario of the suite" for n in sorted(set(names)) if names.count(n) > 1
    ]
    if problems:
        raise ScenarioError("\n".join(problems))
    return entries


def run_entry(
    entry: SuiteEntry,
    runs_dir: Path,
    *,
    profile_path: Path | None = None,
    broker_url: str | None = None,
    status: Callable[[str], None] = lambda _m: None,
) -> ScenarioResult:
    """Run one scenario, write its ``report.json`` and ``expectations.json`` into the run
    directory and judge its expectations."""
    result = ScenarioResult(entry.scenario.name, entry.source)
    started = time.monotonic()
    try:
        run = run_scenario(entry.scenario, runs_dir, broker_url=broker_url, status=status)
        result.run = run.run.root
        report = build_report(run.run.root, profile_path)
        result.verdict = report.verdict
        (run.run.root / "report.json").write_text(to_json(report), encoding="utf-8")
        result.outcomes = evaluate(entry.expectations, report, run.run.root)
        write_json_atomic(run.run.root / "expectations.json", [o.as_dict() for o in result.outcomes])
    except (RunError, BrokerError, ValueError, FileNotFoundError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.monotonic() - started
    return result


def run_suite(
    entries: list[SuiteEntry],
    runs_dir: Path,
    *,
    profile_path: Path | None = None,
    broker_url: str | None = None,
    status: Callable[[str], None] = lambda _m: None,
    done: Callable[[ScenarioResult], None] = lambda _r: None,
) -> SuiteResult:
    """Run the scenarios one after another (each has the machine to itself, which latency
    needs) and judge each; ``done`` is called after each scenario."""
    results = []
    for k, entry in enumerate(entries, start=1):
        status(f"[{k}/{len(entries)}] {entry.scenario.name}")
        result = run_entry(entry, runs_dir, profile_path=profile_path, broker_url=broker_url, status=status)
        results.append(result)
        done(result)
    return SuiteResult(results)


def suite_junit(suite: SuiteResult) -> str:
    """JUnit XML: one testsuite per scenario, one testcase per expectation; a run that failed
    is one testcase with an ``<error>``."""
    root = ET.Element("testsuites", {"name": "xiqing-v2x scenario suite"})
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for r in suite.results:
        counts = {
            "tests": len(r.outcomes) if r.error is None else 1,
            "failures": sum(not o.held for o in r.outcomes) if r.error is None else 0,
            "errors": 1 if r.error else 0,
        }
        ts = ET.SubElement(
            root,
            "testsuite",
            {"name": r.name, "time": f"{r.seconds:.1f}", "skipped": "0", **{k: str(v) for k, v in counts.items()}},
        )
        props = ET.SubElement(ts, "properties")
        for key, value in (("source", r.source), ("run", str(r.run or "")), ("report_verdict", r.verdict or "")):
            ET.SubElement(props, "property", {"name": key, "value": value})
        if r.error is not None:
            case = ET.SubElement(ts, "testcase", {"classname": r.name, "name": "run", "time": f"{r.seconds:.1f}"})
            ET.SubElement(case, "error", {"message": r.error, "type": "run"})
        for o in r.outcomes if r.error is None else []:
            case = ET.SubElement(ts, "testcase", {"classname": r.name, "name": o.expectation, "time": "0"})
            if not o.held:
                ET.SubElement(case, "failure", {"message": o.detail, "type": o.subject})
            else:
                ET.SubElement(case, "system-out").text = o.detail
        for k, v in counts.items():
            totals[k] += v
    root.attrib.update({k: str(v) for k, v in totals.items()})
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
