"""Generating and signing BSMs as fast as possible, against the bare sign rate of the same library.

The fleet of a 1,000-vehicle corridor: each frame is the vehicle's BSM from the traffic model
(:class:`vehicles.fleet_bsm.FleetBsms`, numba-encoded, a tick's BSMs in one kernel call as the
simulator's schedule prepares them), signed in the YD/T 3957 envelope by the vehicle's
:class:`v2x.security.Signer` (full certificate every 450 ms, digest otherwise).  Every signing
library's own sign call is measured beside it (SM2: each adapter of
:mod:`v2x.security.sm2_libraries`; ECDSA: pyca/cryptography).
Baselines in the same process: the library's own sign call in a plain loop over 64-byte inputs
(what the signer signs: H(tbs) || H(certificate)), and the per-vehicle asn1tools path the
simulator used before (``bsm_content`` + ``messages.encode``) for the encoding alone.
Publishing is not part of this figure.
"""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from v2x import clock, messages
from v2x.messages import MessageType
from v2x.scenario.model import load_scenario, obu_id, with_changes
from v2x.security import Signer, load_credential
from v2x.security.backend import BACKENDS
from v2x.security.certificates import parse_certificate
from v2x.security.sm2_libraries import LIBRARIES

from vehicles.fleet_bsm import FleetBsms
from vehicles.simulator import bsm_content, bsm_stream
from vehicles.traffic import Traffic

from benches.conftest import GENERATE_RATE
from benches.frames import bench_pki

VEHICLES = 1000
KEYS = 20  # vehicle i signs with the certificate of bench vehicle i % KEYS (the cost does not depend on the key)
FULL_TICKS, SMOKE_TICKS = 20, 1


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def fleet(request, tmp_path_factory):
    suite = request.param
    pki = bench_pki(tmp_path_factory.mktemp(f"gen-{suite}"), vehicles=KEYS, suite=suite)
    scenario = with_changes(
        load_scenario("corridor"),
        fleet=[{"kind": "car", "count": VEHICLES - 40}, {"kind": "bus", "count": 40}],
        security={"suite": suite},
    )
    credentials = [load_credential(pki, obu_id(i)) for i in range(KEYS)]
    return suite, scenario, credentials


def _ticks(benchmark_enabled: bool) -> int:
    return FULL_TICKS if benchmark_enabled else SMOKE_TICKS


def test_bare_sign(benchmark, fleet, benchmark_enabled):
    suite, _, credentials = fleet
    backend = credentials[0].backend
    data = [bytes([k % 256]) * 64 for k in range(VEHICLES * _ticks(benchmark_enabled))]

    def run():
        for k, d in enumerate(data):
            backend.sign(credentials[k % KEYS].private_key, d)

    benchmark.pedantic(run, rounds=3 if benchmark_enabled else 1, iterations=1)
    if benchmark.stats is not None:
        GENERATE_RATE[(suite, "bare sign")] = len(data) / benchmark.stats.stats.min


ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
SIGN_LIBRARIES = [("sm2-sm3", name) for name in sorted(LIBRARIES)] + [("ecdsa-p256-sha256", "pyca (OpenSSL)")]


@pytest.mark.parametrize(("fleet", "library"), SIGN_LIBRARIES, indirect=["fleet"])
def test_library_sign(benchmark, fleet, library, benchmark_enabled):
    """Each library's sign call in a plain loop, one key object per key made beforehand."""
    suite, _, credentials = fleet
    data = [bytes([k % 256]) * 64 for k in range(2_000 if benchmark_enabled else 20)]
    if suite == "sm2-sm3":
        lib = LIBRARIES[library]
        keys = [lib.private_key(c.private_key.secret, c.private_key.public) for c in credentials]
        sign = lib.sign
    else:
        keys = [c.private_key for c in credentials]

        def sign(key, d):
            return key.sign(d, ECDSA_SHA256)

    def run():
        for k, d in enumerate(data):
            sign(keys[k % KEYS], d)

    benchmark.pedantic(run, rounds=3 if benchmark_enabled else 1, iterations=1)
    signature = sign(keys[0], data[0])
    r, s = signature if isinstance(signature, tuple) else (v.to_bytes(32, "big") for v in decode_dss_signature(signature))
    backend = credentials[0].backend
    point = parse_certificate(credentials[0].certificate).public_key
    assert backend.verify(backend.load_public_key(point), data[0], r, s)  # a real signature, checked by ours
    if benchmark.stats is not None:
        GENERATE_RATE[(suite, f"library: {library}")] = len(data) / benchmark.stats.stats.min


def test_generate_and_sign(benchmark, fleet, benchmark_enabled):
    suite, scenario, credentials = fleet
    ticks = _ticks(benchmark_enabled)
    signed: list[bytes] = []

    def setup():
        traffic = Traffic(scenario, np.random.default_rng(scenario.seed))
        streams = [bsm_stream(FleetBsms(traffic), i) for i in range(1)]  # warm the kernels
        streams[0].build(0, clock.now_unix_us())
        fleet_bsms = FleetBsms(traffic)
        return (
            fleet_bsms,
            [bsm_stream(fleet_bsms, i) for i in range(VEHICLES)],
            [Signer(credentials[i % KEYS]) for i in range(VEHICLES)],
        ), {}

    def run(fleet_bsms, streams, signers):
        signed.clear()
        t0 = clock.now_unix_us()
        everyone = np.arange(VEHICLES)
        for k in range(1, ticks + 1):
            now = t0 + k * 100_000
            t64 = clock.time64_from_unix_us(now)
            # as the simulator's schedule does: the slot's BSMs encoded in one kernel call, then each signed
            fleet_bsms.prepare(everyone, np.full(VEHICLES, k), np.full(VEHICLES, now))
            for stream, signer in zip(streams, signers):
                payload = stream.build(k, now)
                signed.append(signer.sign(payload.frame, payload.aid or MessageType.BSM.aid, t64, event=payload.event))

    benchmark.pedantic(run, setup=setup, rounds=3 if benchmark_enabled else 1, iterations=1)
    assert len(signed) == VEHICLES * ticks
    # What was generated is a signed BSM that decodes (spot checks; the encoder has its own tests).
    from pipeline.decode.reference import decode_frame

    for spdu in signed[:: max(1, len(signed) // 20)]:
        d = decode_frame(spdu)
        assert d.msg_type is MessageType.BSM and d.aid in (111, 112) and d.content == "signed"
    if benchmark.stats is not None:
        GENERATE_RATE[(suite, "generate + sign")] = len(signed) / benchmark.stats.stats.min


def test_asn1tools_generate(benchmark, fleet, benchmark_enabled):
    """The per-vehicle asn1tools path, encoding only (no signing): the encoder's baseline."""
    suite, scenario, _ = fleet
    traffic = Traffic(scenario, np.random.default_rng(scenario.seed))
    traffic.advance_to(30)
    count = 200 if benchmark_enabled else 20
    out: list[bytes] = []

    def run():
        out.clear()
        for i in range(count):
            out.append(messages.encode(MessageType.BSM, bsm_content(traffic, i, int(traffic.msg_cnt0[i] + 30) % 128, 0)))

    benchmark.pedantic(run, rounds=3 if benchmark_enabled else 1, iterations=1)
    fleet_bsms = FleetBsms(traffic)
    assert out == [fleet_bsms.frame(i, 30, 0) for i in range(count)]
    if benchmark.stats is not None:
        GENERATE_RATE[(suite, "asn1tools encode")] = count / benchmark.stats.stats.min
