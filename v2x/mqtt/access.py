"""Broker access control: TLS, one client certificate per device, and a topic ACL.

The V2X certificates (YD/T 3957, :mod:`v2x.security`) protect each message end to end; this
protects the broker: who may connect and on which topics.  A small X.509 CA (ECDSA P-256,
pyca/cryptography) issues

* the broker's server certificate (subjectAltName 127.0.0.1 and localhost), and
* one client certificate per device and per reader (the ingest), Common Name = the name
  Mosquitto uses as the username (``use_identity_as_username``).

The ACL (mosquitto.conf(5) ``acl_file``) lets each device write only its own uplink topics
(``V2X/OBU/<id>/BSM/UP``, ``V2X/RSU/<id>/<type>/UP``) and nothing else, so a vehicle cannot
publish as an RSU or as another vehicle; readers may read the whole uplink tree.  Everything
else is denied.  Layout::

    DIR/ca.pem  DIR/server.pem  DIR/server.key  DIR/acl
    DIR/clients/<name>.pem  DIR/clients/<name>.key      (keys 0600)
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from v2x.mqtt import topics
from v2x.mqtt.topics import OBU_MESSAGES, RSU_MESSAGES

INGEST_CLIENT = "xiqing-v2x-ingest"
VALIDITY_DAYS = 30


@dataclass(frozen=True)
class ClientTls:
    """What a client needs to connect to a TLS broker: the CA to trust and its own identity."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def context(self) -> ssl.SSLContext:
        """A TLS client context: verify the broker against the CA, present our certificate."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file))
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context


@dataclass(frozen=True)
class BrokerAccess:
    """The files of an access-controlled broker (see module docstring)."""

    directory: Path

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    @property
    def acl_file(self) -> Path:
        return self.directory / "acl"

    def client(self, name: str) -> ClientTls:
        """The TLS identity of device or reader ``name``; FileNotFoundError if it has none."""
        tls = ClientTls(self.ca_file, self.directory / "clients" / f"{name}.pem", self.directory / "clients" / f"{name}.key")
        if not tls.cert_file.exists():
            raise FileNotFoundError(f"no broker client certificate for {name!r} in {self.directory}")
        return tls


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "xiqing-v2x"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def _issue(
    subject: str,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
    )
    if ca:
        builder = builder.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def acl_text(device_topics: dict[str, list[str]], readers: Iterable[str], topic_prefix: str = "") -> str:
    """Mosquitto ACL: each device writes only its topics, each reader reads the uplink tree."""
    lines = ["# generated by xiqing-v2x: anything not listed is denied", ""]
    for reader in readers:
        lines += [f"user {reader}", f"topic read {topics.subscription(topic_prefix)}", ""]
    for device, allowed in device_topics.items():
        lines.append(f"user {device}")
        lines += [f"topic write {t}" for t in allowed]
        lines.append("")
    return "\n".join(lines)


def uplink_topics(device_kind: str, device_id: str, topic_prefix: str = "") -> list[str]:
    """The topics a device of ``device_kind`` ("RSU" or "OBU") may publish on."""
    kinds = RSU_MESSAGES if device_kind == "RSU" else OBU_MESSAGES
    return sorted(topics.uplink(device_kind, device_id, t, topic_prefix) for t in kinds)


def create_broker_access(
    directory: Path, devices: dict[str, str], *, readers: Iterable[str] = (INGEST_CLIENT,), topic_prefix: str = ""
) -> BrokerAccess:
    """CA, server certificate, a client certificate for every device (``{device_id: "RSU"|"OBU"}``)
    and reader, and the ACL."""
    access = BrokerAccess(directory)
    (directory / "clients").mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("xiqing-v2x broker CA")
    ca = _issue("xiqing-v2x broker CA", ca_name, ca_key, ca_key, ca=True)
    access.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_key = ec.generate_private_key(ec.SECP256R1())
    access.server_cert.write_bytes(
        _issue("localhost", ca_name, ca_key, server_key, server=True).public_bytes(serialization.Encoding.PEM)
    )
    _write_key(access.server_key, server_key)
    readers = list(readers)
    for name in [*devices, *readers]:
        key = ec.generate_private_key(ec.SECP256R1())
        (directory / "clients" / f"{name}.pem").write_bytes(
            _issue(name, ca_name, ca_key, key).public_bytes(serialization.Encoding.PEM)
        )
        _write_key(directory / "clients" / f"{name}.key", key)
    device_topics = {device: uplink_topics(kind, device, topic_prefix) for device, kind in devices.items()}
    access.acl_file.write_text(acl_text(device_topics, readers, topic_prefix))
    return access
