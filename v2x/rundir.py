"""The run directory: the one place the stages of a run exchange files.

RUN/scenario.yaml            the validated scenario, defaults filled in
RUN/run.json                 versions, broker, start/end, exit status of each stage
RUN/pki/                     root CA and device certificates (v2x.security.pki)
RUN/broker-access/           TLS CA, client certificates and topic ACL of the run's broker
                             (v2x.mqtt.access; only with ``broker.tls``)
RUN/published/<sim>.json     what each simulator generated and published, per device
RUN/attacks/<sim>.json       every injected attack frame: device, kind, expected verdict, SHA-256
RUN/ingest/progress.json     received/stored counts, rewritten after every batch
RUN/ingest/summary.json      final ingest counts and broker events
RUN/telemetry/msg_type=X/    Parquet, one row per received frame, one file per flushed batch
RUN/tables/<table>/          Parquet, message content (BSM fields, SPAT phase states, ...),
                             joined to telemetry by rx_seq
RUN/logs/                    stderr of each process
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that readers see the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True, default=str)
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def exit_stage(code: int) -> NoReturn:
    """End a stage's process (the ingest, a simulator) with ``code`` once its results are in the
    run directory, skipping the interpreter's finalization: tearing down numba's LLVM and
    collecting a large heap take 0.4-0.5 s that the run would wait for, and nothing is left to
    finalize (files are closed, connections and worker pools shut down by then)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def scenario(self) -> Path:
        return self.root / "scenario.yaml"

    @property
    def manifest(self) -> Path:
        return self.root / "run.json"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def broker_access(self) -> Path:
        return self.root / "broker-access"

    @property
    def published(self) -> Path:
        return self.root / "published"

    @property
    def attacks(self) -> Path:
        return self.root / "attacks"

    @property
    def ingest(self) -> Path:
        return self.root / "ingest"

    @property
    def telemetry(self) -> Path:
        return self.root / "telemetry"

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def create(self) -> RunDir:
        for p in (self.root, self.published, self.attacks, self.ingest, self.telemetry, self.logs):
            p.mkdir(parents=True, exist_ok=True)
        return self
