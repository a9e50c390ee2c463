"""Soak: the demo scenario for 30 minutes (``V2X_SOAK_S``), with the memory and CPU of the ingest
and the simulators sampled from /proc every 10 s; marker ``soak``, not in the default suite or CI:

    V2X_SOAK_S=1800 pytest -m soak -s tests/test_soak.py

A peer found its memory leak only after 10 hours at 10 Hz; the growth per hour printed here is
the least-squares slope of each process's resident memory over the run's second half (the first
half includes warm-up), and goes into benches/README.md.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from v2x.run import run_scenario
from v2x.scenario.model import load_scenario, with_changes

from pipeline.report.build import build_report

SAMPLE_EVERY_S = 10.0
MAX_GROWTH_MIB_PER_H = 64.0  # policy: a leak of this size would reach gigabytes over a day's test campaign
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def stage_processes(run_root: Path) -> dict[str, int]:
    """PIDs of the run's ingest and simulators, found by their command line."""
    found = {}
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(run_root).encode() in args and b"-m" in args:
            found[args[args.index(b"-m") + 1].decode()] = int(pid)
    return found


def sample(pid: int) -> tuple[float, float] | None:
    """(resident MiB, CPU seconds) of ``pid``; None once it is gone."""
    try:
        rss_kib = next(
            int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmRSS:")
        )
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return rss_kib / 1024, (int(fields[11]) + int(fields[12])) / CLOCK_TICK
    except (OSError, StopIteration, ValueError, IndexError):
        return None


@pytest.mark.soak
def test_soak_memory_and_cpu_stay_flat(tmp_path):
    duration = float(os.environ.get("V2X_SOAK_S", "1800"))
    scenario = with_changes(load_scenario("demo"), duration_s=duration, name="soak")
    result: dict[str, object] = {}
    worker = threading.Thread(target=lambda: result.update(run=run_scenario(scenario, tmp_path, run_dir=tmp_path / "soak")))
    worker.start()
    series: dict[str, list[tuple[float, float, float]]] = {}
    start = time.monotonic()
    while worker.is_alive():
        for name, pid in stage_processes(tmp_path / "soak").items():
            got = sample(pid)
            if got is not None:
                series.setdefault(name, []).append((time.monotonic() - start, *got))
        worker.join(SAMPLE_EVERY_S)
    run = result["run"]
    assert run.published == run.received == run.stored  # type: ignore[attr-defined]
    harness = [c for c in build_report(tmp_path / "soak").to_data()["checks"] if c.get("kind") == "harness"]
    assert [c["verdict"] for c in harness] == ["PASS"] * len(harness), harness  # nothing lost, no stall, a clean end
    figures = {}
    for name, points in series.items():
        t, rss, cpu = (np.array(x) for x in zip(*points))
        late = t >= t[-1] / 2
        slope_mib_per_h = float(np.polyfit(t[late] / 3600, rss[late], 1)[0]) if late.sum() >= 3 else float("nan")
        figures[name] = {
            "samples": len(points),
            "rss_first_mib": round(float(rss[0]), 1),
            "rss_last_mib": round(float(rss[-1]), 1),
            "rss_max_mib": round(float(rss.max()), 1),
            "rss_growth_mib_per_h": round(slope_mib_per_h, 2),
            "cpu_s": round(float(cpu[-1]), 1),
            "cpu_share": round(float(cpu[-1] / max(t[-1], 1e-9)), 3),
        }
    print(json.dumps({"duration_s": duration, "stored": run.stored, "processes": figures}, indent=2))  # type: ignore[attr-defined]
    assert {"pipeline.ingest", "roadside", "vehicles"} <= set(figures)
    for name, f in figures.items():
        assert f["rss_growth_mib_per_h"] < MAX_GROWTH_MIB_PER_H, (name, f)
