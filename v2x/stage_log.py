"""The log of a stage of a run (``RUN/logs/<stage>.log``): what the process did, with times.

Each stage of ``v2x run`` (the simulators, the ingest) is a process whose stderr is its log
file.  :func:`stage_logger` gives it a logger writing one line per event to stderr, in UTC with
milliseconds, so that the log says what happened even when the run went well: the start with
its settings, the connection to the broker, progress every :data:`PROGRESS_EVERY_S` seconds,
broker disconnects and reconnects, and the end with its counts.
"""

from __future__ import annotations

import logging
import sys
import time

PROGRESS_EVERY_S = 10.0  # policy: a progress line per 10 s keeps a 30-minute soak's log short


class _UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def stage_logger(stage: str, name: str | None = None) -> logging.Logger:
    """The logger ``name`` (default ``v2x.stage.<stage>``) writing ``<UTC time> <stage> <LEVEL>
    <message>`` lines to stderr, at INFO and above."""
    logger = logging.getLogger(name or f"v2x.stage.{stage}")
    if not any(getattr(h, "stage", None) == stage for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_UtcFormatter(f"%(asctime)s {stage} %(levelname)s %(message)s"))
        handler.stage = stage  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
