"""A real MQTT broker process for a run or a test, on a loopback port.

Mosquitto (Debian package, installed in /usr/sbin) is preferred.  Its default
``max_queued_messages 1000`` silently discards messages for a subscriber that falls behind, at
QoS 1 as well as QoS 0, so the configuration written here lifts the queue limits: a slow ingest
gets back-pressure, never loss.  Without Mosquitto the embedded rumqttd of the ``iotcore`` wheel
is used when installed (``pip install .[embedded-broker]``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from v2x.mqtt.access import BrokerAccess
from v2x.mqtt.transport import BrokerAddress

MAX_PACKET_BYTES = 1024 * 1024  # policy: the largest MQTT packet the harness broker accepts
MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto")


class BrokerError(RuntimeError):
    """The broker could not be found or started; the message says what to do."""


def find_mosquitto() -> str | None:
    """Path of the mosquitto binary (Debian installs it in sbin, which is not on a user's PATH)."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((p for p in MOSQUITTO_CANDIDATES if os.access(p, os.X_OK)), None)


def iotcore_available() -> bool:
    try:
        import iotcore  # noqa: F401
    except ImportError:
        return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def mosquitto_config(port: int, host: str = "127.0.0.1", access: BrokerAccess | None = None) -> str:
    """Mosquitto configuration for a harness broker: loopback listener, nothing dropped.

    With ``access`` the listener is TLS only, every client must present a certificate of the
    access CA whose Common Name becomes its username, and the ACL limits each one to its own
    topics (mosquitto.conf(5): require_certificate, use_identity_as_username, acl_file).
    """
    if access is None:
        security = ["allow_anonymous true"]
    else:
        security = [
            f"cafile {access.ca_file}",
            f"certfile {access.server_cert}",
            f"keyfile {access.server_key}",
            "tls_version tlsv1.2",
            "require_certificate true",
            "use_identity_as_username true",
            # The client id is the certificate's name too: a device cannot connect under the
            # ingest's client id and take its session (mosquitto.conf(5)).
            "use_username_as_clientid true",
            "allow_anonymous false",
            f"acl_file {access.acl_file}",
        ]
        if os.geteuid() == 0:
            # Started as root, Mosquitto would switch to the "mosquitto" user before reading the
            # key and ACL, which live in the caller's (often 0700) run directory.  Keep the
            # identity of whoever started the harness, as a non-root start does.
            security.append("user root")
    return "\n".join(
        [
            f"listener {port} {host}",
            *security,
            "persistence false",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",  # connections, with the authenticated username
            # Default 1000: beyond it messages for a slow subscriber are discarded silently.
            "max_queued_messages 0",
            "max_queued_bytes 0",
            # The ingest acknowledges a frame only once it is stored (about half a second), so
            # the frames in flight to it are not limited (default 20 would cap it at ~40/s).
            "max_inflight_messages 0",
            # Policy: a PUBLISH larger than this is refused at the broker (V2X frames are a few
            # kilobytes; the ingest's own limit is 64 KiB of payload, pipeline.ingest.service).
            f"max_packet_size {MAX_PACKET_BYTES}",
            "set_tcp_nodelay true",
            "",
        ]
    )


@dataclass
class RunningBroker:
    """A broker process started by :func:`start_broker`."""

    address: BrokerAddress
    kind: str  # "mosquitto" or "iotcore"
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


EXIT_GRACE_S = 0.05  # a broker that cannot bind its port exits within milliseconds


def _wait_until_listening(address: BrokerAddress, process: subprocess.Popen[bytes], log_path: Path, timeout_s: float) -> None:
    """Until the port accepts connections and the process is still alive then: a port another
    process holds accepts them too, while our broker exits because it could not bind it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrokerError(f"broker exited with code {process.returncode}: {log_path.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection((address.host, address.port), timeout=0.2):
            time.sleep(EXIT_GRACE_S)
            if process.poll() is None:
                return
            continue
        time.sleep(0.01)
    process.kill()
    raise BrokerError(f"broker did not accept connections on {address.url} within {timeout_s} s")


PORT_ATTEMPTS = 3  # a free port can be taken by another process between choosing and binding it


def start_broker(
    workdir: Path, port: int | None = None, host: str = "127.0.0.1", kind: str | None = None, access: BrokerAccess | None = None
) -> RunningBroker:
    """Start a broker listening on ``host:port`` (a free port if None); logs go to ``workdir``.
    With ``access`` (Mosquitto only) the listener is TLS with client certificates and an ACL.
    A port it chose itself that another process took before the broker bound it is chosen
    again (up to :data:`PORT_ATTEMPTS` times); a port the caller gave is not."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        try:
            return _start(workdir, port or free_port(host), host, kind, access)
        except BrokerError as exc:
            if port is not None or attempt == PORT_ATTEMPTS or "Address already in use" not in str(exc):
                raise
    raise AssertionError("unreachable")


def _start(workdir: Path, port: int, host: str, kind: str | None, access: BrokerAccess | None) -> RunningBroker:
    workdir.mkdir(parents=True, exist_ok=True)
    address = BrokerAddress(host, port, tls=access is not None)
    log_path = workdir / "broker.log"
    mosquitto = find_mosquitto()
    if access is not None and not (kind in (None, "mosquitto") and mosquitto):
        raise BrokerError("broker access control (TLS, client certificates, ACL) needs Mosquitto: apt-get install mosquitto")
    if kind in (None, "mosquitto") and mosquitto:
        conf = workdir / "mosquitto.conf"
        conf.write_text(mosquitto_config(port, host, access))
        conf.chmod(0o644)  # mosquitto started as root drops to its own user and must read this
        cmd = [mosquitto, "-c", str(conf)]
        kind = "mosquitto"
    elif kind in (None, "iotcore") and iotcore_available():
        cmd = [sys.executable, "-c", "from iotcore._serve import main; main()", f'{{"listen": "{host}", "port": {port}}}']
        kind = "iotcore"
    else:
        raise BrokerError(
            "no MQTT broker available: install Mosquitto (apt-get install mosquitto), "
            "or the embedded broker (pip install 'xiqing-v2x[embedded-broker]'), or pass --broker mqtt://host:port"
        )
    log = open(log_path, "wb")  # noqa: SIM115 - stays open for the life of the process
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.PIPE)
    _wait_until_listening(address, process, log_path, timeout_s=10.0)
    return RunningBroker(address, kind, process, log_path)
