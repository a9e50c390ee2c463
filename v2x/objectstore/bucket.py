"""A destination in an S3-compatible bucket, ``s3://bucket/prefix``, read and written through
pyarrow's S3 filesystem.

Where the server is and who we are come from the environment, as for every AWS SDK:
``AWS_ENDPOINT_URL`` (``http://127.0.0.1:8333``; absent: AWS itself), ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY`` and ``AWS_REGION``.  Credentials never go into a URL, a scenario file or
a command line, where process lists and logs would show them.

Every request is retried until :data:`OUTAGE_S` has passed (``V2X_STORAGE_OUTAGE_S`` sets
another), so that a server restarted mid-run costs a pause, not the run: nothing is acknowledged
to the cluster before its part has committed in the bucket, so the frames wait in the stream
meanwhile.  Past it, the ingest fails and stops acknowledging.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

import pyarrow.fs as pafs

SCHEME = "s3://"
OUTAGE_S = 120.0  # policy: how long a destination may be unreachable before the ingest gives up
OUTAGE_VARIABLE = "V2X_STORAGE_OUTAGE_S"  # the operator's own limit instead (1 s to 1 day)
OUTAGE_RANGE_S = (1.0, 86_400.0)
START_WAIT_S = 10.0  # policy: how long a run or an ingest waits for its bucket to answer before it starts
RETRY_S = 0.5
CONNECT_TIMEOUT_S = 2.0
REQUEST_TIMEOUT_S = 10.0
# S3 bucket naming rules (AWS "Bucket naming rules"): 3-63 of a-z 0-9 . -, starting and ending alphanumeric
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
PREFIX_PART = re.compile(r"[A-Za-z0-9._=-]{1,200}")

# The AWS SDK's error codes for answers a retry does not change (wrong credentials, no such
# bucket, not allowed): these fail at once, everything else is retried as an outage.
REFUSALS = ("ACCESS_DENIED", "INVALID_ACCESS_KEY_ID", "SIGNATURE_DOES_NOT_MATCH", "NO_SUCH_BUCKET", "INVALID_PARAMETER")

T = TypeVar("T")


LOG = logging.getLogger(__name__)


def _log_outage(event: str, detail: str) -> None:
    """Without a listener, an outage is a warning (on stderr if nothing else handles it): a
    command waiting for its bucket says so at once, not after :data:`OUTAGE_S`."""
    if event == "storage_unreachable":
        LOG.warning("%s; retrying", detail)
    else:
        LOG.warning("%s", detail)


class BucketError(OSError):
    """The bucket cannot be reached or refuses a request, past :data:`OUTAGE_S` (the message says which)."""


def is_bucket_url(text: str | os.PathLike[str]) -> bool:
    """Whether a destination given on a command line is a bucket (``s3://...``) rather than a folder."""
    return str(text).startswith(SCHEME)


def outage_from_environment() -> float:
    """How long a request is retried through an outage: ``V2X_STORAGE_OUTAGE_S`` if set, else
    :data:`OUTAGE_S`; ValueError saying what is wrong with the variable."""
    text = os.environ.get(OUTAGE_VARIABLE, "").strip()
    if not text:
        return OUTAGE_S
    low, high = OUTAGE_RANGE_S
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"{OUTAGE_VARIABLE}={text!r}: expected seconds, {low:g} to {high:g}") from None
    if not low <= seconds <= high:  # also refuses nan
        raise ValueError(f"{OUTAGE_VARIABLE}={text!r}: expected seconds, {low:g} to {high:g}")
    return seconds


def endpoint_from_environment() -> tuple[str, str] | None:
    """(scheme, host:port) of ``AWS_ENDPOINT_URL``, or None for AWS itself; ValueError if malformed."""
    url = os.environ.get("AWS_ENDPOINT_URL", "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"AWS_ENDPOINT_URL={url!r}: expected http(s)://host[:port]")
    return parts.scheme, parts.netloc


@dataclass(frozen=True)
class Bucket:
    """``s3://bucket/prefix``: every path below is relative to the prefix."""

    name: str
    prefix: str
    # how long a request is retried while the server is unreachable
    outage_s: float = field(default_factory=outage_from_environment)
    # told ("storage_unreachable" | "storage_back", detail) when a request starts failing and when it goes through again
    on_outage: Callable[[str, str], None] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, url: str) -> Bucket:
        """ValueError saying what is wrong with ``url``; a prefix is required (a run, or a zone, is a
        folder in the bucket, never the whole bucket)."""
        if not is_bucket_url(url):
            raise ValueError(f"{url!r} is not s3://bucket/prefix")
        name, _, prefix = url[len(SCHEME) :].partition("/")
        if not BUCKET_NAME.fullmatch(name) or ".." in name:
            raise ValueError(f"{url!r}: bucket name {name!r} is not a valid S3 bucket name")
        parts = [p for p in prefix.split("/") if p]
        if not parts:
            raise ValueError(f"{url!r}: give a prefix (s3://{name}/zone), not the whole bucket")
        for part in parts:
            if not PREFIX_PART.fullmatch(part) or part in (".", ".."):
                raise ValueError(f"{url!r}: prefix part {part!r} (letters, digits and . _ = - only)")
        return cls(name, "/".join(parts))

    @property
    def url(self) -> str:
        return f"{SCHEME}{self.name}/{self.prefix}"

    def __str__(self) -> str:
        return self.url

    @functools.cached_property
    def filesystem(self) -> pafs.S3FileSystem:
        """pyarrow's S3 filesystem for the server of ``AWS_ENDPOINT_URL`` (module docstring)."""
        endpoint = endpoint_from_environment()
        options: dict[str, object] = {
            "region": os.environ.get("AWS_REGION", "us-east-1"),
            "connect_timeout": CONNECT_TIMEOUT_S,
            "request_timeout": REQUEST_TIMEOUT_S,
            # one PutObject per object at close instead of a multipart upload (3 requests): 2.5x
            # faster per part file on SeaweedFS here
            "allow_delayed_open": True,
            # no retries inside the SDK: :meth:`retrying` sees every failure, so an outage is
            # recorded (the SDK's own retries hid a 3 s restart in a single call)
            "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=1),
        }
        if endpoint is not None:
            options.update(scheme=endpoint[0], endpoint_override=endpoint[1])
        return pafs.S3FileSystem(**options)

    def path(self, relative: str = "") -> str:
        """The filesystem path (``bucket/prefix/relative``) of ``relative``; ValueError if it leaves the prefix."""
        parts = [p for p in relative.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise ValueError(f"{relative!r} leaves {self.url}")
        return "/".join([self.name, self.prefix, *parts])

    def retrying(self, what: str, call: Callable[[], T], outage_s: float | None = None) -> T:
        """``call()``, retried while the server is unreachable or failing, up to ``outage_s``
        (default: the bucket's); FileNotFoundError passes through at once; BucketError after
        that, or at once for an answer that no retry changes (:data:`REFUSALS`)."""
        began = time.monotonic()
        deadline = began + (self.outage_s if outage_s is None else outage_s)
        failing = False
        while True:
            try:
                result = call()
            except FileNotFoundError:
                raise
            except OSError as exc:
                if time.monotonic() >= deadline or any(code in str(exc) for code in REFUSALS):
                    raise BucketError(f"{self.url}: {what}: {exc}") from None
                if not failing:
                    (self.on_outage or _log_outage)("storage_unreachable", f"{self.url}: {what}: {exc}")
                failing = True
                time.sleep(RETRY_S)
                continue
            if failing:
                (self.on_outage or _log_outage)(
                    "storage_back", f"{self.url}: {what} went through after {time.monotonic() - began:.1f} s"
                )
            return result

    def check(self) -> None:
        """BucketError unless the bucket exists and our credentials may list it."""
        info = self.retrying("looking up the bucket", lambda: self.filesystem.get_file_info(self.name))
        if info.type != pafs.FileType.Directory:
            raise BucketError(f"{self.url}: no bucket {self.name!r} at {os.environ.get('AWS_ENDPOINT_URL') or 'AWS'}")

    @classmethod
    def reachable(cls, url: str, wait_s: float = START_WAIT_S) -> Bucket:
        """The bucket of ``url`` once it answers (waiting up to ``wait_s``, not :data:`OUTAGE_S`:
        a stage that has not started yet says at once that it cannot); ValueError for a bad URL,
        BucketError if the bucket is missing, refuses us or does not answer."""
        bucket = cls.parse(url)
        dataclasses.replace(bucket, outage_s=wait_s).check()
        return bucket

    def put(self, relative: str, data: bytes) -> None:
        """Store ``data`` as ``relative``: an S3 PUT is atomic, readers see the old object or the new one."""

        def put() -> None:
            with self.filesystem.open_output_stream(self.path(relative)) as out:
                out.write(data)

        self.retrying(f"writing {relative}", put)

    def get(self, relative: str) -> bytes | None:
        """The object ``relative``, or None if there is none."""

        def get() -> bytes:
            with self.filesystem.open_input_stream(self.path(relative)) as src:
                return bytes(src.read())

        try:
            return self.retrying(f"reading {relative}", get)
        except FileNotFoundError:
            return None

    def files(self, folder: str = "") -> list[str]:
        """The objects under ``folder``, as paths relative to the prefix, sorted."""
        base = self.path()
        selector = pafs.FileSelector(self.path(folder), recursive=True, allow_not_found=True)
        infos = self.retrying(f"listing {folder or '/'}", lambda: self.filesystem.get_file_info(selector))
        return sorted(i.path[len(base) + 1 :] for i in infos if i.type == pafs.FileType.File)

    def folders(self, folder: str = "") -> list[str]:
        """The names of the folders directly under ``folder`` (one listing, not of everything below), sorted."""
        selector = pafs.FileSelector(self.path(folder), recursive=False, allow_not_found=True)
        infos = self.retrying(f"listing {folder or '/'}", lambda: self.filesystem.get_file_info(selector))
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)

    def delete(self, relative: str) -> None:
        """Remove ``relative`` (no error if it is gone)."""
        try:
            self.retrying(f"deleting {relative}", lambda: self.filesystem.delete_file(self.path(relative)))
        except FileNotFoundError:
            pass
