"""Where a stage keeps its JSON records (an ingest's progress and summary, a worker's records):
a folder of the run directory, or a folder in the bucket of a destination on object storage
(:mod:`v2x.objectstore.bucket`).  Both are replaced whole: a reader sees the old record or
the new one, never half of one."""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from v2x.objectstore.bucket import Bucket


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that readers see the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True, default=str)
    os.replace(tmp, path)


TORN_READ_ATTEMPTS = 4  # reads of a bucket record before it is called not JSON (policy)
TORN_READ_PAUSE_S = 0.05  # ... waiting 0.05, 0.1, 0.15 s between them


class RecordError(ValueError):
    """A record that is not JSON (named in the message)."""


class Records(Protocol):
    """A folder of JSON records."""

    @property
    def where(self) -> str: ...

    def write(self, name: str, data: Any) -> None: ...

    def read(self, name: str) -> Any:
        """The record ``name`` (None if absent); RecordError if it is not JSON."""
        ...

    def child(self, folder: str) -> Records: ...

    def folders(self) -> list[str]:
        """The names of the folders inside, sorted."""
        ...


def _decode(data: bytes, where: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{where} is not JSON: {exc}") from None


@dataclass(frozen=True)
class FolderRecords:
    """Records in a local folder (written through a temporary file and a rename)."""

    path: Path

    @property
    def where(self) -> str:
        return str(self.path)

    def write(self, name: str, data: Any) -> None:
        write_json_atomic(self.path / name, data)

    def read(self, name: str) -> Any:
        path = self.path / name
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        return _decode(raw, str(path))

    def child(self, folder: str) -> FolderRecords:
        return FolderRecords(self.path / folder)

    def folders(self) -> list[str]:
        return sorted(p.name for p in self.path.iterdir() if p.is_dir()) if self.path.is_dir() else []


@dataclass(frozen=True)
class BucketRecords:
    """Records in a folder of a bucket (one PUT each: S3 replaces an object whole)."""

    bucket: Bucket
    folder: str

    @property
    def where(self) -> str:
        return f"{self.bucket.url}/{self.folder}"

    def write(self, name: str, data: Any) -> None:
        self.bucket.put(f"{self.folder}/{name}", json.dumps(data, indent=2, sort_keys=True, default=str).encode())

    def read(self, name: str) -> Any:
        """The record, read again when it does not parse: a reader of a record being replaced
        can get a torn copy (pyarrow asks the object's size, then GETs that many bytes, which
        may be the start of the newer, longer version; seen in a test).  A record is a JSON
        object, so a torn copy never parses; a record that is really not JSON fails after
        ``TORN_READ_ATTEMPTS`` reads."""
        where = f"{self.where}/{name}"
        for attempt in range(TORN_READ_ATTEMPTS):
            raw = self.bucket.get(f"{self.folder}/{name}")
            if raw is None:
                return None
            try:
                return _decode(raw, where)
            except RecordError:
                if attempt == TORN_READ_ATTEMPTS - 1:
                    raise
                time.sleep(TORN_READ_PAUSE_S * (attempt + 1))
        raise AssertionError("unreachable")

    def child(self, folder: str) -> BucketRecords:
        return BucketRecords(self.bucket, f"{self.folder}/{folder}")

    def folders(self) -> list[str]:
        return self.bucket.folders(self.folder)
