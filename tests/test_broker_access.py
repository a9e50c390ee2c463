"""Broker-level security: TLS, a client certificate per device, and a topic ACL, on Mosquitto."""

from __future__ import annotations

import asyncio
import os
import ssl
import stat
import time

import aiomqtt
import duckdb
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from v2x.mqtt import transport
from v2x.mqtt.access import INGEST_CLIENT, acl_text, create_broker_access, uplink_topics
from v2x.mqtt.broker import mosquitto_config, start_broker
from v2x.run import run_scenario
from v2x.scenario.model import ScenarioError, parse_scenario

from tests.test_scenario import GOOD

DEVICES = {"OBU-1": "OBU", "OBU-2": "OBU", "RSU-1": "RSU"}


@pytest.fixture(scope="module")
def access(tmp_path_factory):
    return create_broker_access(tmp_path_factory.mktemp("access"), DEVICES, topic_prefix="xiqing")


def test_each_device_may_write_only_its_own_uplink_topics(access):
    acl = access.acl_file.read_text()
    blocks = {b.splitlines()[0]: b.splitlines()[1:] for b in acl.split("\n\n") if b.startswith("user ")}
    obu = ("BSM", "CLPMM", "PSM", "SSM", "VIR")  # Day-I and Day-II
    assert blocks["user OBU-1"] == [f"topic write xiqing/V2X/OBU/OBU-1/{t}/UP" for t in obu]
    rsu = ("MAP", "PAM", "RSC", "RSI", "RSM", "RTCM", "SPAT", "SSM")
    assert blocks["user RSU-1"] == [f"topic write xiqing/V2X/RSU/RSU-1/{t}/UP" for t in rsu]
    assert blocks[f"user {INGEST_CLIENT}"] == ["topic read xiqing/V2X/#"]
    assert "pattern" not in acl  # no rule applies to every user: nothing is allowed by default
    assert uplink_topics("OBU", "X") == [f"V2X/OBU/X/{t}/UP" for t in obu]
    assert acl_text({}, []).strip().startswith("#")


def test_client_certificates_name_the_device_and_chain_to_the_access_ca(access):
    ca = x509.load_pem_x509_certificate(access.ca_file.read_bytes())
    for name in [*DEVICES, INGEST_CLIENT]:
        tls = access.client(name)
        cert = x509.load_pem_x509_certificate(tls.cert_file.read_bytes())
        cert.verify_directly_issued_by(ca)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
        assert stat.S_IMODE(os.stat(tls.key_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(access.server_key).st_mode) == 0o600
    with pytest.raises(FileNotFoundError, match="OBU-9"):
        access.client("OBU-9")
    conf = mosquitto_config(8883, access=access).splitlines()
    assert {
        "require_certificate true",
        "use_identity_as_username true",
        "allow_anonymous false",
        f"acl_file {access.acl_file}",
    } <= set(conf)


async def _collect(client: aiomqtt.Client, seconds: float) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []

    async def loop() -> None:
        async for message in client.messages:
            got.append((str(message.topic), bytes(message.payload)))

    try:
        await asyncio.wait_for(loop(), seconds)
    except TimeoutError:
        pass
    return got


@pytest.mark.broker
def test_broker_enforces_tls_identity_and_topic_acl(access, tmp_path):
    """Only certificate holders connect; a vehicle's publish as an RSU or as another vehicle
    never reaches the ingest (Mosquitto denies it and, under MQTT 3.1.1, drops the connection:
    MQTT-3.3.5-2), while its own uplink does."""
    broker = start_broker(tmp_path / "broker", access=access)
    address = broker.address
    assert address.url.startswith("mqtts://127.0.0.1:")
    foreign = create_broker_access(tmp_path / "foreign", {"OBU-1": "OBU"})

    async def play() -> tuple[list[tuple[str, bytes]], list[str]]:
        refused = []
        async with transport.client(address, "ingest", tls=access.client(INGEST_CLIENT)) as ingest:
            await ingest.subscribe("xiqing/V2X/#", qos=1)
            async with transport.client(address, "rsu", tls=access.client("RSU-1")) as rsu:
                await rsu.publish("xiqing/V2X/RSU/RSU-1/SPAT/UP", b"rsu-own", qos=1)
            for topic in ("xiqing/V2X/OBU/OBU-1/BSM/UP", "xiqing/V2X/RSU/RSU-1/SPAT/UP", "xiqing/V2X/OBU/OBU-2/BSM/UP"):
                try:  # a fresh connection per attempt: a denied publish costs the connection
                    async with transport.client(address, "obu", tls=access.client("OBU-1")) as obu:
                        await obu.publish(topic, f"obu-1 on {topic}".encode(), qos=1)
                        await asyncio.sleep(0.2)
                except aiomqtt.MqttError:
                    pass
            # Both trust the broker; one presents a certificate of another CA, one none at all.
            foreign_cert = ssl.create_default_context(cafile=str(access.ca_file))
            foreign_cert.load_cert_chain(str(foreign.client("OBU-1").cert_file), str(foreign.client("OBU-1").key_file))
            no_cert = ssl.create_default_context(cafile=str(access.ca_file))
            for label, context in (("foreign CA", foreign_cert), ("no certificate", no_cert)):
                try:
                    client = aiomqtt.Client(address.host, address.port, tls_context=context, identifier=label, timeout=2)
                    async with client:
                        await client.publish("xiqing/V2X/OBU/OBU-1/BSM/UP", label.encode(), qos=1)
                except (aiomqtt.MqttError, OSError):
                    refused.append(label)
            try:
                async with aiomqtt.Client(address.host, address.port, identifier="plain", timeout=2) as plain:
                    await plain.publish("xiqing/V2X/OBU/OBU-1/BSM/UP", b"plain", qos=1)
            except aiomqtt.MqttError:
                refused.append("plain MQTT")
            return await _collect(ingest, 1.5), refused

    try:
        received, refused = asyncio.run(play())
    finally:
        broker.stop()
    assert sorted(received) == [
        ("xiqing/V2X/OBU/OBU-1/BSM/UP", b"obu-1 on xiqing/V2X/OBU/OBU-1/BSM/UP"),
        ("xiqing/V2X/RSU/RSU-1/SPAT/UP", b"rsu-own"),
    ]
    assert refused == ["foreign CA", "no certificate", "plain MQTT"]
    log = broker.log_path.read_text()
    assert "u'OBU-1'" in log and "u'RSU-1'" in log  # the certificate's CN is the username


def test_tls_needs_the_run_broker():
    with pytest.raises(ScenarioError, match="broker.tls"):
        parse_scenario(GOOD + "broker: {url: 'mqtt://127.0.0.1:1883', tls: true}\n")


@pytest.mark.broker
def test_scenario_on_a_tls_broker_loses_nothing(tmp_path):
    scenario = parse_scenario(GOOD + "zone: {topic_prefix: xiqing}\nbroker: {tls: true}\n")
    result = run_scenario(scenario, tmp_path)
    assert result.published == result.received == result.stored > 0
    assert (result.run.broker_access / "acl").exists()
    auth = (
        duckdb.connect()
        .execute(f"SELECT auth, count(*) FROM read_parquet('{result.run.telemetry}/**/*.parquet') GROUP BY auth")
        .fetchall()
    )
    assert auth == [("success", result.stored)]
    log = (result.run.root / "broker" / "broker.log").read_text()
    assert f"u'{INGEST_CLIENT}'" in log and "u'RSU-A'" in log


@pytest.mark.broker
def test_a_device_cannot_take_the_ingests_session(access, tmp_path):
    """A device that connects with the ingest's client id once kicked the ingest off the broker;
    with the client id bound to the certificate it gets its own session and the ingest stays."""
    from v2x.mqtt.subscribe import SubscribeConnection

    broker = start_broker(tmp_path / "broker", access=access)
    reader = access.client(INGEST_CLIENT)
    ingest = SubscribeConnection("127.0.0.1", broker.address.port, INGEST_CLIENT, ["xiqing/V2X/#"], tls=reader.context())
    ingest.connect()

    async def intrude() -> None:
        async with transport.client(broker.address, INGEST_CLIENT, tls=access.client("OBU-1")) as obu:
            await obu.publish("xiqing/V2X/OBU/OBU-1/BSM/UP", b"after the intruder", qos=1)
            await asyncio.sleep(0.3)

    try:
        asyncio.run(intrude())
        got = []
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            got += ingest.receive(0.1).payloads  # raises MqttError if the broker dropped the ingest
        assert got == [b"after the intruder"]
    finally:
        ingest.close()
        broker.stop()
