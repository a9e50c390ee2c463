"""Replay detection: a signed message already accepted, recognised by what was signed (the hash
of ToBeSignedData and signer), so that an ECDSA signature altered to (r, n - s) is still a
replay."""

from __future__ import annotations

from v2x.security.verifier import PAST_WINDOW_US


class ReplayWindow:
    """SPDUs accepted within the last ``horizon_us`` of receive time, keyed by what was signed
    (:attr:`PendingSignature.signed`): a second frame with the same signed data is a replay
    (``duplicate_message``), whatever its signature.  Older replays fail the
    generationTime window instead, so the window only needs to outlast it."""

    def __init__(self, horizon_us: int = 2 * PAST_WINDOW_US):
        self.horizon_us = horizon_us
        self._seen: dict[bytes, int] = {}
        self._oldest_us = 0

    def seen_before(self, signature: bytes, received_us: int) -> bool:
        """Record ``signature``; True if it was already accepted within the horizon."""
        if received_us - self._oldest_us > self.horizon_us:
            cutoff = received_us - self.horizon_us
            self._seen = {k: t for k, t in self._seen.items() if t >= cutoff}
            self._oldest_us = min(self._seen.values(), default=received_us)
        if signature in self._seen:
            return True
        self._seen[signature] = received_us
        return False
