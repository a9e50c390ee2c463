"""The asn1tools side of a batch: the frames the numba kernels step aside for, decoded by the
reference decoder (:func:`pipeline.decode.reference.decode_frame`, at most once each), and the
reason each rejected frame is stored with.  One object per batch, handed from stage to stage
instead of a dictionary and a list threaded through every method."""

from __future__ import annotations

import numpy as np

from pipeline.decode.reference import DecodedFrame, FrameError, decode_frame


class Fallback:
    """Per frame of a batch: its reference decode (where one was needed) and its reject reason
    (None while the frame is accepted)."""

    def __init__(self, frames: list[bytes]):
        self.frames = frames
        self.decoded: dict[int, DecodedFrame] = {}
        self.reasons: list[str | None] = [None] * len(frames)
        self.verified_anyway: set[int] = set()

    def reject(self, i: int, reason: str, *, verify: bool = False) -> None:
        """Reject frame ``i``.  ``verify``: its envelope is sound, so its signature is still
        checked, and a verdict that refutes it (permission_denied ...) is kept rather than
        ``malformed``."""
        self.reasons[i] = reason
        if verify:
            self.verified_anyway.add(i)

    def is_rejected(self, i: int) -> bool:
        return self.reasons[i] is not None

    def rejected(self) -> list[tuple[int, str]]:
        """(frame, reason) of every frame rejected so far."""
        return [(i, r) for i, r in enumerate(self.reasons) if r is not None]

    def accepted(self) -> np.ndarray:
        """A mask of the frames not rejected so far."""
        return np.array([r is None for r in self.reasons], dtype=np.bool_)

    def decode(self, i: int) -> DecodedFrame | None:
        """Frame ``i`` decoded by asn1tools (once); None, with the reason recorded, if it does not decode."""
        found = self.decoded.get(i)
        if found is not None:
            return found
        try:
            d = self.decoded[i] = decode_frame(self.frames[i])
        except FrameError as exc:
            self.reasons[i] = str(exc)
            return None
        return d

    def explain(self, i: int, what: str) -> None:
        """Put what the fast path said in front of the reason frame ``i`` was rejected for."""
        self.reasons[i] = f"{what}: {self.reasons[i]}"
