"""Signature verification in parallel workers.

The verify service (:mod:`v2x.security.verifier`) does every check that needs state (certificate
store, CRL, replay window) in the caller, in frame order, and leaves each frame that passes them
one stateless job: does this signature verify with this public key.  :class:`SignatureWorkers`
runs those jobs in parallel, in worker processes fed chunks of ``CHUNK`` jobs so that the
inter-process transfer stays small against the verifies.  Within a chunk each suite's jobs
go to the C verifier in one call (:mod:`v2x.security.ec_verify`).

Processes, not threads, for both suites.  The C verifier releases the GIL, but a thread must
take it back for each chunk's Python part (keys, hashes) from a batch stage that is busy with
Python work, and in the ingest 2 threads and 2 processes came out even (within the machine's
noise, ``benches/README.md``); processes also kept the earlier libraries' verifies parallel.
``mode="threads"`` remains for callers that do nothing else meanwhile.

``workers=0`` verifies inline in the caller.  Each worker keeps the public keys it has loaded,
keyed by suite and SEC 1 point, as the caller's store keeps certificates by HashedId8.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from v2x.security.backend import BACKENDS
from v2x.security.curve_point import from_sec1

# (suite name, SEC 1 public key, data = IEEE 1609.2 5.3.1 signing input, r, s)
SignatureJob = tuple[str, bytes, bytes, bytes, bytes]

CHUNK = 2048  # jobs per task sent to a worker: ~50 ms of verifies against ~2 ms of IPC.  Smaller chunks
# left the worker idle: the executor's thread in the ingest process waits up to the interpreter's 5 ms
# switch interval for the GIL before it sends the next chunk (256 jobs gave 0.5 of the raw rate).
_KEYS: dict[tuple[str, bytes], Any] = {}  # per process (shared by its threads; dict ops are atomic)


def _public_key(suite: str, point: bytes) -> Any:
    key = _KEYS.get((suite, point))
    if key is None:
        key = BACKENDS[suite].load_public_key(from_sec1(point))
        if len(_KEYS) > 100_000:
            _KEYS.clear()
        _KEYS[(suite, point)] = key
    return key


def verify_jobs(jobs: Sequence[SignatureJob]) -> list[bool]:
    """Verify each job's signature in this thread, each suite's in one call; a key that does
    not load fails its job."""
    out = [False] * len(jobs)
    by_suite: dict[str, tuple[list[int], list[tuple[Any, bytes, bytes, bytes]]]] = {}
    for i, (suite, point, data, r, s) in enumerate(jobs):
        try:
            key = _public_key(suite, point)
        except ValueError:
            continue
        at, items = by_suite.setdefault(suite, ([], []))
        at.append(i)
        items.append((key, data, r, s))
    for suite, (at, items) in by_suite.items():
        for i, ok in zip(at, BACKENDS[suite].verify_many(items)):
            out[i] = ok
    return out


def _warm(suites: Sequence[str]) -> int:
    """Import and initialise the backends in a fresh worker process."""
    for suite in suites:
        BACKENDS[suite].hash(b"")
    return multiprocessing.current_process().pid or 0


class SignatureWorkers:
    """A pool of ``workers`` signature verifiers: processes, or threads with ``mode="threads"``."""

    def __init__(self, workers: int = 0, mode: str = "processes"):
        if workers < 0:
            raise ValueError("workers must be >= 0")
        if mode not in ("threads", "processes"):
            raise ValueError(f"mode must be threads or processes, not {mode!r}")
        self.workers = workers
        self.mode = mode
        self._pool: Executor | None = None

    @property
    def uses_processes(self) -> bool:
        """Whether the workers are processes (else threads)."""
        return self.mode == "processes"

    def _executor(self) -> Executor:
        if self._pool is None:
            if self.uses_processes:
                # spawn, not fork: the ingest has threads (asyncio.to_thread) when this starts
                self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
            else:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="verify")
        return self._pool

    def start(self, suites: Sequence[str] = tuple(BACKENDS)) -> None:
        """Start the workers now (a process takes ~1 s to start) with the given suites'
        backends loaded, so the first batch is not late."""
        if self.workers == 0:
            return
        pool = self._executor()
        for future in [pool.submit(_warm, tuple(suites)) for _ in range(self.workers)]:
            future.result()

    def batch(self) -> SignatureBatch:
        """A batch to :meth:`~SignatureBatch.add` jobs to: each chunk goes to the workers as soon
        as it is full, so they verify while the caller checks the next frames."""
        return SignatureBatch(self)

    def verify(self, jobs: Sequence[SignatureJob]) -> list[bool]:
        """Whether each job's signature verifies, in job order."""
        batch = self.batch()
        for job in jobs:
            batch.add(job)
        return batch.results()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def __enter__(self) -> SignatureWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SignatureBatch:
    """Jobs in order, sent to the workers chunk by chunk (:meth:`SignatureWorkers.batch`)."""

    def __init__(self, workers: SignatureWorkers):
        self._workers = workers
        self._open: list[SignatureJob] = []
        self._submitted: list[Future[list[bool]]] = []
        self._inline: list[SignatureJob] = []

    def add(self, job: SignatureJob) -> None:
        if self._workers.workers == 0:
            self._inline.append(job)
            return
        self._open.append(job)
        if len(self._open) >= CHUNK:
            self.submit()

    def submit(self) -> None:
        """Send the jobs not yet sent to the workers (also when no more jobs are coming)."""
        if self._open:
            self._submitted.append(self._workers._executor().submit(verify_jobs, self._open))
            self._open = []

    def results(self) -> list[bool]:
        """Whether each job's signature verifies, in the order added (waits for the workers)."""
        if self._workers.workers == 0:
            return verify_jobs(self._inline)
        self.submit()
        return [ok for future in self._submitted for ok in future.result()]
