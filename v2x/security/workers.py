"""Signature verification in parallel workers.

The verify service (:mod:`v2x.security.verify`) does every check that needs state (certificate
store, CRL, replay window) in the caller, in frame order, and leaves each frame that passes them
one stateless job: does this signature verify with this public key.  :class:`SignatureWorkers`
runs those jobs in parallel:

* in threads for suites whose library releases the GIL while it computes (pyca/cryptography,
  i.e. ECDSA P-256, ``releases_gil = True``);
* in processes otherwise (gmalglib holds the GIL during an SM2 verify), fed in chunks so the
  per-job cost of inter-process transfer stays small against a verify.

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

CHUNK = 64  # jobs per task sent to a worker: 4 ms of ECDSA or 30 ms of SM2 verifies against ~50 µs of IPC
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
    """Verify each job's signature in this thread; a key that does not load fails its job."""
    out = []
    for suite, point, data, r, s in jobs:
        try:
            key = _public_key(suite, point)
        except ValueError:
            out.append(False)
            continue
        out.append(BACKENDS[suite].verify(key, data, r, s))
    return out


def _warm(suites: Sequence[str]) -> int:
    """Import and initialise the backends in a fresh worker process."""
    for suite in suites:
        BACKENDS[suite].hash(b"")
    return multiprocessing.current_process().pid or 0


class SignatureWorkers:
    """A pool of ``workers`` signature verifiers: threads for suites that release the GIL,
    processes for the others (``mode="auto"``); ``mode`` "threads" or "processes" forces one."""

    def __init__(self, workers: int = 0, mode: str = "auto"):
        if workers < 0:
            raise ValueError("workers must be >= 0")
        if mode not in ("auto", "threads", "processes"):
            raise ValueError(f"mode must be auto, threads or processes, not {mode!r}")
        self.workers = workers
        self.mode = mode
        self._threads: ThreadPoolExecutor | None = None
        self._processes: ProcessPoolExecutor | None = None
        self._by_suite = {suite: self._needs_processes(suite) for suite in BACKENDS}

    def _needs_processes(self, suite: str) -> bool:
        if self.mode != "auto":
            return self.mode == "processes"
        return not getattr(BACKENDS[suite], "releases_gil", False)

    def uses_processes(self, suite: str) -> bool:
        """Whether jobs of ``suite`` go to processes (else threads)."""
        return self._by_suite[suite]

    def _executor(self, processes: bool) -> Executor:
        if processes:
            if self._processes is None:
                # spawn, not fork: the ingest has threads (asyncio.to_thread) when this starts
                self._processes = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
            return self._processes
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="verify")
        return self._threads

    def start(self, suites: Sequence[str] = tuple(BACKENDS)) -> None:
        """Start the workers the given suites need now (a process takes ~1 s to start), so the
        first batch is not late."""
        if self.workers == 0:
            return
        for processes in {self.uses_processes(s) for s in suites}:
            pool = self._executor(processes)
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
        for pool in (self._threads, self._processes):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self._threads = self._processes = None

    def __enter__(self) -> SignatureWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SignatureBatch:
    """Jobs in order, sent to the workers chunk by chunk (:meth:`SignatureWorkers.batch`)."""

    def __init__(self, workers: SignatureWorkers):
        self._workers = workers
        self._open: dict[bool, list[tuple[int, SignatureJob]]] = {}  # by "needs processes"
        self._submitted: list[tuple[list[int], Future[list[bool]]]] = []
        self._count = 0
        self._inline: list[SignatureJob] = []

    def add(self, job: SignatureJob) -> None:
        if self._workers.workers == 0:
            self._inline.append(job)
            return
        processes = self._workers._by_suite[job[0]]
        chunk = self._open.setdefault(processes, [])
        chunk.append((self._count, job))
        self._count += 1
        if len(chunk) >= CHUNK:
            self._submit(processes)

    def _submit(self, processes: bool) -> None:
        chunk = self._open.pop(processes, [])
        if chunk:
            pool = self._workers._executor(processes)
            self._submitted.append(([k for k, _ in chunk], pool.submit(verify_jobs, [job for _, job in chunk])))

    def submit(self) -> None:
        """Send the jobs of the chunks not yet full to the workers (no more jobs are coming)."""
        for processes in list(self._open):
            self._submit(processes)

    def results(self) -> list[bool]:
        """Whether each job's signature verifies, in the order added (waits for the workers)."""
        if self._workers.workers == 0:
            return verify_jobs(self._inline)
        self.submit()
        out = [False] * self._count
        for indices, future in self._submitted:
            for k, ok in zip(indices, future.result()):
                out[k] = ok
        return out
