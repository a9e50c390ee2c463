"""Golden vectors: frames and certificates encoded by the reference ASN.1 modules, with their
decodes, committed in ``tests/golden/`` so that a clone without ``../shared`` still checks
conformance (``tests/test_golden_vectors.py``).

They are made from the reference copies, never from our own modules:

    python -m tests.golden_vectors [NAME ...]   # needs ../shared/reference/asn1 or V2X_REFERENCE_ASN1

and ``test_golden_vectors_are_what_the_reference_modules_make`` re-derives them whenever the
reference copies are present, so a committed vector cannot drift from the standard.

Values are asn1tools values in JSON: ``{"$bytes": hex}`` for OCTET STRING, ``{"$tuple": [...]}``
for CHOICE and BIT STRING tuples (ASN.1 names never start with ``$``).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parent / "golden"
FRAMES = GOLDEN / "message_frames.json"
SECURITY = GOLDEN / "security.json"
OTHER_EDITIONS = GOLDEN / "other_editions.json"
DAY_II_FRAMES = GOLDEN / "day_ii_frames.json"

# Other editions of the message set, drawn from their own reference modules: the folder and the
# message types of each (the 2017 copy's RSI is already of the 2020 shape).
EDITIONS = {
    "csae53_2019": (
        "csae53-2020_hisense-Release20190724",
        ("MapData", "RoadSideInformation", "BasicSafetyMessage", "SPAT", "RoadsideSafetyMessage"),
    ),
    "csae53_2017": ("csae53-2017-mixed_vss", ("MapData", "BasicSafetyMessage", "SPAT", "RoadsideSafetyMessage")),
}
CHOICE = {
    "BasicSafetyMessage": "bsmFrame",
    "MapData": "mapFrame",
    "SPAT": "spatFrame",
    "RoadSideInformation": "rsiFrame",
    "RoadsideSafetyMessage": "rsmFrame",
}


def to_json(value: Any) -> Any:
    """An asn1tools value as JSON data (see the module docstring)."""
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, tuple):
        return {"$tuple": [to_json(v) for v in value]}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def from_json(data: Any) -> Any:
    """The asn1tools value of :func:`to_json`'s data."""
    if isinstance(data, dict):
        if set(data) == {"$bytes"}:
            return bytes.fromhex(data["$bytes"])
        if set(data) == {"$tuple"}:
            return tuple(from_json(v) for v in data["$tuple"])
        return {k: from_json(v) for k, v in data.items()}
    if isinstance(data, list):
        return [from_json(v) for v in data]
    return data


def message_frames(reference_modules: dict[str, Any]) -> list[dict[str, Any]]:
    """Each corpus message (``tests/corpus.py``) as the YD/T 3709 reference module encodes it
    (the T/CSAE 53 copy must agree), with the reference decode of those bytes."""
    from tests.corpus import corpus

    out = []
    for msg_type, content in corpus():
        encoded = reference_modules["ydt3709"].encode("MessageFrame", (msg_type.frame_choice, content))
        if reference_modules["csae53_vss"].encode("MessageFrame", (msg_type.frame_choice, content)) != encoded:
            raise AssertionError(f"the YD/T 3709 and T/CSAE 53 reference modules disagree on a {msg_type.value}")
        out.append(
            {
                "msg_type": msg_type.value,
                "uper": encoded.hex(),
                "value": to_json(reference_modules["ydt3709"].decode("MessageFrame", encoded)),
            }
        )
    return out


def reference_frame(reference_modules: dict[str, Any], msg_type: Any, content: Any) -> bytes:
    """``content`` as a MessageFrame, encoded by the T/CSAE 53 + 157 reference copy: a Day-II
    message is encoded on its own and put in msgFrameExt as the open type's octets."""
    ref = reference_modules["csae53_vss"]
    if not msg_type.day_ii:
        return ref.encode("MessageFrame", (msg_type.frame_choice, content), check_constraints=True)
    inner = ref.encode(msg_type.asn1_type, content, check_constraints=True)
    return ref.encode("MessageFrame", ("msgFrameExt", {"messageId": msg_type.ext_id, "value": inner}), check_constraints=True)


def reference_value(reference_modules: dict[str, Any], msg_type: Any, frame: bytes) -> Any:
    """The reference copy's decode of ``frame``: the message's value (a Day-II message's decoded
    from the open type's octets)."""
    ref = reference_modules["csae53_vss"]
    choice, value = ref.decode("MessageFrame", frame)
    if choice != msg_type.frame_choice:
        raise AssertionError(f"the reference decodes a {msg_type.value} frame as {choice}")
    if msg_type.day_ii:
        if value["messageId"] != msg_type.ext_id:
            raise AssertionError(f"messageId {value['messageId']} for a {msg_type.value}")
        return ref.decode(msg_type.asn1_type, value["value"])
    return value


def day_ii_frames(reference_modules: dict[str, Any]) -> list[dict[str, Any]]:
    """Each Day-II corpus message (``tests/corpus.py``, with the MAP of the Day-II additions) as
    the T/CSAE 157 reference copy encodes it, with the reference decode of those bytes."""
    from tests.corpus import day_ii_corpus

    out = []
    for msg_type, content in day_ii_corpus():
        frame = reference_frame(reference_modules, msg_type, content)
        out.append(
            {
                "msg_type": msg_type.value,
                "uper": frame.hex(),
                "value": to_json(reference_value(reference_modules, msg_type, frame)),
            }
        )
    return out


def security_vectors(reference_modules: dict[str, Any]) -> list[dict[str, Any]]:
    """Per suite: a PKI's root and CA certificates, a pseudonym certificate and a signed BSM
    SPDU with its certificate as signer, each with the YD/T 3957 reference decode, and the
    ToBeSignedData the reference re-encodes (what the signature covers)."""
    from v2x import clock, messages
    from v2x.messages import MessageType
    from v2x.security import DeviceRequest, create_pki, load_credential
    from v2x.security.sign import sign_data

    from tests.corpus import corpus

    ref = reference_modules["ydt3957"]
    bsm = next(content for msg_type, content in corpus() if msg_type is MessageType.BSM)
    out = []
    for suite in ("sm2-sm3", "ecdsa-p256-sha256"):
        with tempfile.TemporaryDirectory() as tmp:
            pki = Path(tmp)
            create_pki(
                pki, [DeviceRequest("OBU-1", [111], kind="vehicle", pseudonyms=1)], suite=suite, valid_from_unix_s=time.time()
            )
            cred = load_credential(pki, "OBU-1")
            generated_us = clock.now_unix_us()
            # the full certificate as signer, so that the vector stands alone
            spdu = sign_data(cred, messages.encode(MessageType.BSM, bsm), 111, clock.time64_from_unix_us(generated_us))
            decoded = ref.decode("V2XSecData", spdu)
            if decoded["content"][1]["signer"][0] != "certificate":
                raise AssertionError("the golden SPDU must carry its signer's certificate")
            out.append(
                {
                    "suite": suite,
                    "root": (pki / "root-ca.oer").read_bytes().hex(),
                    "cas": [p.read_bytes().hex() for p in sorted((pki / "ca").glob("*.oer"))],
                    "certificate": cred.certificate.hex(),
                    "certificate_value": to_json(ref.decode("CertificateBase", cred.certificate)),
                    "spdu": spdu.hex(),
                    "spdu_value": to_json(decoded),
                    "tbs": ref.encode("ToBeSignedData", decoded["content"][1]["tbsData"]).hex(),
                    "generated_us": generated_us,
                }
            )
    return out


def edition_values(edition: str, names: tuple[str, ...] | None = None) -> Any:
    """A hypothesis strategy of (MessageFrame choice, value) of ``edition``'s reference modules
    (of the message types ``names``, default all of the edition's)."""
    import glob

    from hypothesis import strategies as st

    from tests.asn1_strategies import strategy, types_of
    from tests.conftest import reference_dir

    folder, all_names = EDITIONS[edition]
    types = types_of(sorted(glob.glob(str(reference_dir() / folder / "*.asn"))))
    return st.one_of([strategy(name, types).map(lambda v, name=name: (CHOICE[name], v)) for name in names or all_names])


def other_editions(reference_modules: dict[str, Any], per_type: int = 8) -> list[dict[str, Any]]:
    """Frames of the other editions as their reference modules encode them, with the values they
    were built from: ``per_type`` of each message type of each edition (drawn with a fixed seed)."""
    from hypothesis import HealthCheck, given, settings

    def sample(edition: str, name: str) -> list[dict[str, Any]]:
        spec = reference_modules[edition]
        found: list[dict[str, Any]] = []

        @settings(max_examples=10 * per_type, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(edition_values(edition, (name,)))
        def collect(built: Any) -> None:
            if len(found) >= per_type:
                return
            try:
                frame = spec.encode("MessageFrame", built, check_constraints=True)
            except Exception:
                return
            found.append({"edition": edition, "frame": frame.hex(), "value": to_json(built)})

        collect()
        return found

    return [vector for edition, (_, names) in EDITIONS.items() for name in names for vector in sample(edition, name)]


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> None:
    """Write the vector files; with names (``frames``, ``security``, ``other_editions``,
    ``day_ii_frames``) only those (the security vectors hold fresh keys and times each time)."""
    import sys

    from tests.conftest import compile_reference, reference_dir

    ref = reference_dir()
    if not ref.is_dir():
        raise SystemExit(f"reference ASN.1 modules not found at {ref}; set V2X_REFERENCE_ASN1")
    modules = compile_reference(ref)
    makers = {
        "frames": (FRAMES, message_frames),
        "security": (SECURITY, security_vectors),
        "other_editions": (OTHER_EDITIONS, other_editions),
        "day_ii_frames": (DAY_II_FRAMES, day_ii_frames),
    }
    names = (sys.argv[1:] if argv is None else argv) or list(makers)
    unknown = sorted(set(names) - set(makers))
    if unknown:
        raise SystemExit(f"unknown vector files {', '.join(unknown)}; known: {', '.join(makers)}")
    GOLDEN.mkdir(exist_ok=True)
    for name in names:
        path, make = makers[name]
        path.write_text(json.dumps(make(modules), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
