"""An ingest's running records (``progress.json``, ``acked.json``) written on a thread of their
own, so that neither the receiver nor the flusher waits for storage.

With the records in a bucket, a PUT during an outage is retried for up to two minutes
(:data:`v2x.objectstore.bucket.OUTAGE_S`); a receiver that waited for it would stop reading,
and every frame that reached the broker meanwhile would be stamped late and blamed on the
devices.  Only the latest version of each record matters (each replaces the last whole), so
versions posted while one is being written are folded into the next write."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from v2x.records import Records


class RecordWriter:
    """Writes the latest version posted of each record, in the background."""

    def __init__(self, records: Records, on_error: Callable[[str], None]):
        self.records, self.on_error = records, on_error
        self._pending: dict[str, Any] = {}
        self._writing = False
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="ingest-records", daemon=True)
        self._thread.start()

    def post(self, name: str, data: Any) -> None:
        """Write ``data`` as the record ``name`` soon; returns at once (once closed, it writes
        before it returns)."""
        with self._changed:
            if not self._closed:
                self._pending[name] = data
                self._changed.notify_all()
                return
        self.records.write(name, data)

    def drain(self) -> None:
        """Wait until every version posted so far was written (or failed, and was reported)."""
        with self._changed:
            self._changed.wait_for(lambda: not self._pending and not self._writing)

    def close(self) -> None:
        """Write what is pending, then stop the thread; later versions are written by :meth:`post`
        itself."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending or self._closed)
                if not self._pending:
                    return
                versions, self._pending, self._writing = self._pending, {}, True
            try:
                for name, data in versions.items():
                    try:
                        self.records.write(name, data)
                    except Exception as exc:  # reported, and the next version is tried again
                        self.on_error(f"writing the record {name}: {type(exc).__name__}: {exc}")
            finally:
                with self._changed:
                    self._writing = False
                    self._changed.notify_all()
