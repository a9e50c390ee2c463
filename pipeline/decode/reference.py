"""Reference decoding of a received frame with asn1tools (our YD/T 3957 + YD/T 3709 modules).

Used where the numba fast path steps aside (status FALLBACK), to give the precise reason for a
rejected frame, to read a MessageFrame of an older edition of the message set (:mod:`v2x.editions`:
the 2020 decoders refuse it, an older edition decodes it whole), and by the tests as the oracle the
envelope kernel must agree with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from v2x import editions, messages
from v2x.asn1 import TrailingOctets, decode_with_octets
from v2x.editions import Edition
from v2x.messages import MessageType
from v2x.security.backend import signature_rs
from v2x.security.certificates import security_types

from pipeline.decode.framing import bare_message, not_an_envelope

_HASH = ("sha256", "sha384", "sm3")


class FrameError(ValueError):
    """The frame cannot be decoded; the message is the reject reason."""


@dataclass
class DecodedFrame:
    content: str  # "unsecured" or "signed"
    payload: bytes
    hash_id: str | None = None
    aid: int | None = None
    generation_time: int | None = None
    tbs: bytes | None = None
    signer_kind: str | None = None  # digest, certificate, self, x509
    signer: bytes | None = None
    signature_kind: str | None = None
    r: bytes | None = None
    s: bytes | None = None
    msg_type: MessageType | None = None
    msg_cnt: int | None = None
    message: dict[str, Any] | None = None  # the decoded message (asn1tools representation, of the 2020 shape)
    edition: Edition = editions.CURRENT  # the edition of the message set the MessageFrame decodes whole in


SIGNED_DATA_TAG = 0x81  # V2XSecData.content signedData: context tag [1] in C-OER (X.696 8.7)


def _signed_spans(spec: Any, data: bytes) -> tuple[bytes, bytes]:
    """(ToBeSignedData, SignerIdentifier) as received: the octets the signature and the signer's
    HashedId8 are computed over, not a re-encoding.  A signedData V2XSecData is protocolVersion
    (1 octet), the choice tag, hashId (an enumerated of 1 octet), then SignedData's components
    back to back (a SEQUENCE without extension or optional parts has no preamble in C-OER)."""
    if data[1] != SIGNED_DATA_TAG:
        raise FrameError(f"signedData carries choice tag {data[1]:#x}, not {SIGNED_DATA_TAG:#x}")
    start = 3
    _tbs, tbs_octets = decode_with_octets(spec, "ToBeSignedData", data[start:])
    signer_start = start + tbs_octets
    _signer, signer_octets = decode_with_octets(spec, "SignerIdentifier", data[signer_start:])
    return data[start:signer_start], data[signer_start : signer_start + signer_octets]


def decode_frame(data: bytes) -> DecodedFrame:
    """Decode a V2XSecData and its MessageFrame; raises :class:`FrameError` with the reason."""
    if (missing := not_an_envelope(data)) is not None:
        raise FrameError(missing)
    spec = security_types()
    try:
        sec, used = decode_with_octets(spec, "V2XSecData", data, check_constraints=True)
    except Exception as exc:
        if (bare := bare_message(data)) is not None:  # a MessageFrame whose first octet happens to be 3
            raise FrameError(f"no YD/T 3957 envelope: the payload is a bare UPER MessageFrame ({bare})") from None
        raise FrameError(f"V2XSecData does not decode: {exc}") from None
    if used < len(data):
        raise FrameError(f"{len(data) - used} octets after the end of V2XSecData")
    try:
        spec.encode("V2XSecData", sec)
    except Exception as exc:  # e.g. an unknown extension alternative decodes as (None, None)
        raise FrameError(f"V2XSecData uses an unknown or invalid alternative: {exc}") from None
    # Not required: that re-encoding gives the same octets.  A sender built on an IEEE 1609.2
    # schema with another number of extension additions (1609.2-2016 has 2 in HeaderInfo, YD/T
    # 3957 and 1609.2b 3, 1609.2-2022 4) encodes a presence bitmap of another length, validly;
    # what is signed and hashed is taken from the octets received (:func:`_signed_spans`).
    kind, body = sec["content"]
    if kind == "unsecuredData":
        out = DecodedFrame("unsecured", body)
    elif kind == "signedData":
        payload = body["tbsData"]["payload"]
        inner = payload.get("data")
        if inner is None:
            raise FrameError("SignedDataPayload carries no data")
        if inner["content"][0] != "unsecuredData":
            raise FrameError("payload data is not unsecuredData")
        header = body["tbsData"]["headerInfo"]
        signer_kind, signer_value = body["signer"]
        tbs, signer_octets = _signed_spans(spec, data)
        if signer_kind == "certificate":
            if len(signer_value) != 1:
                raise FrameError(f"signer carries {len(signer_value)} certificates; exactly 1 allowed (GB/T 45315 7.4.3)")
            signer_bytes = signer_octets[2 + signer_octets[1] :]  # after the choice tag and the SEQUENCE OF quantity
        elif signer_kind in ("digest", "x509"):
            signer_bytes = signer_value
        else:
            signer_bytes = b""
        try:
            r, s = signature_rs(body["signature"])
        except ValueError as exc:
            raise FrameError(str(exc)) from None
        out = DecodedFrame(
            "signed",
            inner["content"][1],
            hash_id=body["hashId"],
            aid=header["aid"],
            generation_time=header.get("generationTime"),
            tbs=tbs,
            signer_kind=signer_kind,
            signer=signer_bytes,
            signature_kind=body["signature"][0],
            r=r,
            s=s,
        )
    else:
        raise FrameError(f"V2XSecData content {kind} is neither unsecuredData nor signedData")
    try:
        msg_type, content = messages.decode(out.payload, check_constraints=True)
    except messages.UnknownMessage as exc:  # decodes, but as no message of the set: no edition has it either
        raise FrameError(str(exc)) from None
    except Exception as exc:
        why = str(exc) if isinstance(exc, TrailingOctets) else f"MessageFrame does not decode: {exc}"
        try:
            out.edition, msg_type, content = editions.identify(out.payload)
        except editions.NoEdition as older:
            raise FrameError(f"{why} (nor as an older edition: {older})") from None
    out.msg_type = msg_type
    out.message = content
    out.msg_cnt = messages.msg_cnt_of(content)
    return out
