"""The ingest's warm-up compiles every numba signature a batch uses.

A kernel compiled while traffic flows holds the GIL for seconds: on a first run (empty numba
cache) the frames behind it arrive late and fail the timestamp check.  This happened when the
content decoders were warmed with a writable buffer while the batch passes the envelope's
read-only one, a type of its own to numba.  Checked in a fresh interpreter, so that kernels
other tests compiled cannot hide a signature the warm-up misses.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, sys, tempfile, time
    from pathlib import Path

    from numba.core.dispatcher import Dispatcher

    from pipeline.ingest import batch
    from pipeline.ingest.trust import verifier_from_pki
    from tests.corpus import corpus
    from v2x import clock, messages
    from v2x.messages import MessageType
    from v2x.security import DeviceRequest, Signer, create_pki, load_credentials, unsecured

    batch.warm_up()

    def signatures():
        return {f"{name}.{key}": len(value.signatures) for name, module in list(sys.modules.items())
                if name.startswith("pipeline.") and module is not None
                for key, value in vars(module).items() if isinstance(value, Dispatcher)}

    before = signatures()
    pki = Path(tempfile.mkdtemp()) / "pki"
    rsu_aids = [MessageType.MAP.aid, MessageType.SPAT.aid, MessageType.RSI.aid, MessageType.RSM.aid]
    create_pki(pki, [DeviceRequest("OBU-1", [111, 112]), DeviceRequest("RSU-1", rsu_aids, kind="rsu")], valid_from_unix_s=time.time() - 60)
    obu, rsu = Signer(load_credentials(pki, "OBU-1")[0]), Signer(load_credentials(pki, "RSU-1")[0])
    received = batch.Received()
    now = clock.now_unix_us()
    for msg_type, content in corpus():
        frame = messages.encode(msg_type, content)
        device, signer = ("OBU-1", obu) if msg_type is MessageType.BSM else ("RSU-1", rsu)
        topic = f"V2X/{'OBU' if device.startswith('OBU') else 'RSU'}/{device}/{msg_type.value}/UP"
        received.add(topic, signer.sign(frame, msg_type.aid, clock.time64_from_unix_us(now)), now + 5_000)
        received.add(topic, unsecured(frame), now + 5_000)
        received.add(topic, frame[: len(frame) // 2], now + 5_000)
    out = batch.BatchProcessor(verifier_from_pki(pki)).process(received)
    assert sum(t.num_rows for t in out.telemetry.values()) == 3 * len(corpus())
    after = signatures()
    print(json.dumps({k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}))
    """
)


def test_a_batch_of_every_message_type_compiles_nothing_after_the_warm_up():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    compiled_during_traffic = json.loads(done.stdout.strip().splitlines()[-1])
    assert compiled_during_traffic == {}
