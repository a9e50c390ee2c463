"""Reference decoding of a received frame with asn1tools (our YD/T 3957 + YD/T 3709 modules).

Used where the numba fast path steps aside (status FALLBACK), to give the precise reason for a
rejected frame, and by the tests as the oracle the envelope kernel must agree with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from v2x import messages
from v2x.messages import MessageType
from v2x.security.backend import signature_rs
from v2x.security.certificates import security_types

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
    message: dict[str, Any] | None = None  # the decoded message (asn1tools representation)


def decode_frame(data: bytes) -> DecodedFrame:
    """Decode a V2XSecData and its MessageFrame; raises :class:`FrameError` with the reason."""
    spec = security_types()
    try:
        sec = spec.decode("V2XSecData", data, check_constraints=True)
    except Exception as exc:
        raise FrameError(f"V2XSecData does not decode: {exc}") from None
    try:
        canonical = spec.encode("V2XSecData", sec) == data
    except Exception as exc:  # e.g. an unknown extension alternative decodes as (None, None)
        raise FrameError(f"V2XSecData uses an unknown or invalid alternative: {exc}") from None
    if not canonical:
        raise FrameError("V2XSecData is not canonical C-OER (or has trailing bytes)")
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
        if signer_kind == "certificate":
            if len(signer_value) != 1:
                raise FrameError(f"signer carries {len(signer_value)} certificates; exactly 1 allowed (GB/T 45315 7.4.3)")
            signer_bytes = spec.encode("Certificate", signer_value[0])
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
            tbs=spec.encode("ToBeSignedData", body["tbsData"]),
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
    except Exception as exc:
        raise FrameError(f"MessageFrame does not decode: {exc}") from None
    out.msg_type = msg_type
    out.message = content
    out.msg_cnt = messages.msg_cnt_of(content)
    return out
