"""The holdout: a deterministic control group that gets no message, so recoveries can be measured
against what carts do on their own (the report's incremental lift)."""

from __future__ import annotations

import hashlib


def in_holdout(cart_key: str, percent: float) -> bool:
    """The same cart always lands in the same group; ``percent`` of all carts land in the holdout."""
    bucket = int(hashlib.sha256(f"holdout:{cart_key}".encode()).hexdigest()[:8], 16) % 10_000
    return bucket < percent * 100
