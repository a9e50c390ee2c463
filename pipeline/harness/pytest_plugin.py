"""pytest plugin shipped with the package (entry point ``pytest11``: ``xiqing_v2x``).

Test engineers write their own scenario tests in plain pytest::

    def test_corridor_latency(v2x_zone):
        run = v2x_zone.run("corridor", duration_s=10, fleet=[{"kind": "car", "count": 8}])
        run.assert_expectations()                       # the scenario's own expect: list
        assert run.metric("SPAT.latency_p99_ms") <= 100
        run.assert_expectations("BSM.pdr >= 0.99", {"application": "RLVW"})
        assert run.sql("SELECT count(DISTINCT sender_id) FROM bsm")[0][0] == 8

    @pytest.mark.v2x_scenario("bus-route", duration_s=8)
    def test_bus_priority(v2x_scenario_run):
        assert v2x_scenario_run.check("SPAT.rate")["verdict"] == "PASS"

Fixtures:

* ``v2x_broker`` (session): the broker URL; a Mosquitto process on a free loopback port started
  once per session, or ``--v2x-broker URL``.
* ``v2x_zone`` (session): a :class:`Zone`: that broker, one zone PKI per signature suite (root,
  ECA, PCA, ACA created once; each run issues its devices under it) and a runs directory
  (``--v2x-runs-dir``, default pytest's temporary directory).  ``zone.run(...)`` runs a scenario
  end to end through the broker and returns a :class:`ScenarioRun` with its report.
* ``v2x_scenario_run``: the run of the scenario named by the test's ``v2x_scenario`` marker.

Nothing heavy is imported until a fixture is used, so the plugin costs nothing in test
sessions that do not use it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

MARKER = "v2x_scenario"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("xiqing-v2x", "xiqing-v2x scenario runs")
    group.addoption(
        "--v2x-broker",
        default=None,
        metavar="URL",
        help="mqtt://host:port of a broker to run scenarios through (default: start Mosquitto on loopback)",
    )
    group.addoption("--v2x-runs-dir", default=None, metavar="DIR", help="keep run directories here (default: pytest's tmp dir)")
    group.addoption("--v2x-profile", default=None, metavar="YAML", help="compliance profile (default: the built-in one)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(name_or_path, **changes): the scenario the v2x_scenario_run fixture runs")


@dataclass
class ScenarioRun:
    """A finished scenario run: its report, its expectations judged, SQL over its telemetry."""

    scenario: Any  # v2x.scenario.model.Scenario
    run_dir: Path
    report: dict[str, Any]  # the JSON report, as in RUN/report.json; the typed model is .model
    outcomes: list[Any]  # pipeline.report.expectations.Outcome, the scenario's own expectations
    seconds: float
    profile_path: Path | None = None
    _con: Any = field(default=None, repr=False)

    @property
    def verdict(self) -> str:
        """The report's overall verdict (PASS, WARN or FAIL)."""
        return str(self.report["verdict"])

    @cached_property
    def model(self) -> Any:
        """The report as its typed model (:class:`pipeline.report.model.Report`)."""
        from pipeline.report.model import Report

        return Report.model_validate(self.report)

    @property
    def passed(self) -> bool:
        """Whether every one of the scenario's own expectations held."""
        return all(o.held for o in self.outcomes)

    def metric(self, name: str) -> Any:
        """A report metric, ``TYPE.field`` (``BSM.latency_p99_ms``, ``ALL.pdr``) or a check id's value."""
        from pipeline.report.expectations import metric_value

        value, where = metric_value(self.model, name)
        if value is None and where.startswith("unknown"):
            raise KeyError(where)
        return value

    def check(self, check_id: str) -> dict[str, Any]:
        """The report's entry for one check (``id``, ``verdict``, ``value``, ``threshold`` ...)."""
        for c in self.report["checks"]:
            if c["id"] == check_id:
                return c
        raise KeyError(f"the report has no check {check_id!r}; it has {', '.join(c['id'] for c in self.report['checks'])}")

    def sql(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of a query over the run's views (the same as ``v2x sql RUN``)."""
        if self._con is None:
            from pipeline.sql.views import connect

            self._con = connect(self.run_dir, sandboxed=True)
        return self._con.execute(query, params or []).fetchall()

    def judge(self, *expectations: str | dict[str, Any]) -> list[Any]:
        """Judge further expectations, written as in a scenario's ``expect:`` list, on this run.
        A name the profile does not know raises ValueError before anything is judged."""
        from v2x.scenario.expectations import Expectation

        from pipeline.report.expectations import evaluate, unknown_subjects
        from pipeline.report.profile import load_profile

        parsed = [Expectation.model_validate(e) for e in expectations]
        problems = unknown_subjects(parsed, load_profile(self.profile_path), {a.kind for a in self.scenario.attacks})
        if problems:
            raise ValueError("; ".join(problems))
        return evaluate(parsed, self.model, self.run_dir)

    def assert_expectations(self, *expectations: str | dict[str, Any]) -> None:
        """Assert that the given expectations hold, or with none given the scenario's own;
        the AssertionError lists each one that did not, with why."""
        outcomes = self.judge(*expectations) if expectations else self.outcomes
        failed = [o for o in outcomes if not o.held]
        if failed:
            lines = "\n".join(f"  {o.expectation}: {o.detail}" for o in failed)
            raise AssertionError(
                f"{self.scenario.name}: {len(failed)} of {len(outcomes)} expectations did not hold (run {self.run_dir}):\n{lines}"
            )

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


class Zone:
    """The pilot zone a test session runs scenarios in: a broker, a PKI per signature suite,
    a directory for the runs."""

    def __init__(self, broker_url: str | None, runs_dir: Path, profile_path: Path | None = None):
        self.broker_url = broker_url
        self.runs_dir = runs_dir
        self.profile_path = profile_path
        self._pkis: dict[str, Path] = {}

    def pki(self, suite: str) -> Path:
        """The zone's PKI for ``suite`` (root and CAs, created on first use)."""
        if suite not in self._pkis:
            from v2x.security.pki import init_pki

            directory = self.runs_dir / "zone-pki" / suite
            if directory.exists():
                shutil.rmtree(directory)
            init_pki(directory, suite=suite, valid_from_unix_s=time.time())
            self._pkis[suite] = directory
        return self._pkis[suite]

    def scenario(self, scenario: Any, **changes: Any) -> Any:
        """A scenario by built-in name, path or :class:`~v2x.scenario.model.Scenario`, with top-level
        fields replaced by ``changes`` (validated: a bad change raises ScenarioError)."""
        from v2x.scenario.model import Scenario, load_scenario, with_changes

        base = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        return with_changes(base, **changes) if changes else base

    def run(self, scenario: Any, **changes: Any) -> ScenarioRun:
        """Run a scenario (name, path or Scenario, with ``changes``) through the zone's broker
        and return it with its report; a run that fails raises :class:`v2x.run.RunError`."""
        from v2x.run import RunError
        from v2x.scenario.model import with_changes

        from pipeline.harness.suite import SuiteEntry, run_entry

        chosen = self.scenario(scenario, **changes)
        if chosen.security.pki is None:
            chosen = with_changes(chosen, security=chosen.security.model_dump() | {"pki": str(self.pki(chosen.security.suite))})
        broker_url = None if chosen.broker.tls else (chosen.broker.url or self.broker_url)
        result = run_entry(SuiteEntry(chosen.name, chosen), self.runs_dir, profile_path=self.profile_path, broker_url=broker_url)
        if result.error is not None or result.run is None:
            raise RunError(f"{chosen.name}: {result.error}")
        report = json.loads((result.run / "report.json").read_text(encoding="utf-8"))
        return ScenarioRun(chosen, result.run, report, result.outcomes, result.seconds, self.profile_path)


@pytest.fixture(scope="session")
def v2x_broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the broker scenarios run through: ``--v2x-broker``, or a Mosquitto process on a
    free loopback port for the whole session."""
    given = request.config.getoption("--v2x-broker")
    if given:
        yield given
        return
    from v2x.mqtt.broker import BrokerError, start_broker

    try:
        broker = start_broker(tmp_path_factory.mktemp("v2x-broker"))
    except BrokerError as exc:
        pytest.fail(f"xiqing-v2x: {exc}", pytrace=False)
    try:
        yield broker.address.url
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def v2x_zone(request: pytest.FixtureRequest, v2x_broker: str, tmp_path_factory: pytest.TempPathFactory) -> Zone:
    """The zone of the session: :meth:`Zone.run` runs a scenario and returns its report."""
    runs = request.config.getoption("--v2x-runs-dir")
    profile = request.config.getoption("--v2x-profile")
    runs_dir = Path(runs) if runs else tmp_path_factory.mktemp("v2x-runs")
    runs_dir.mkdir(parents=True, exist_ok=True)
    return Zone(v2x_broker, runs_dir, Path(profile) if profile else None)


@pytest.fixture
def v2x_scenario_run(request: pytest.FixtureRequest, v2x_zone: Zone) -> Iterator[ScenarioRun]:
    """The run of the scenario the test names with ``@pytest.mark.v2x_scenario(name, **changes)``."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is None or not marker.args:
        pytest.fail(
            f"v2x_scenario_run needs @pytest.mark.{MARKER}('scenario name or path', **changes) on the test", pytrace=False
        )
    run = v2x_zone.run(marker.args[0], **marker.kwargs)
    yield run
    run.close()
