"""Which template variant (A, B, ...) a message gets: Thompson sampling on recoveries.

Each variant's recovery rate has the posterior Beta(recovered + 1, sent - recovered + 1) (a
uniform prior). Until every variant has ``min_sends`` sends the split is even, so an early lucky
streak cannot starve a variant before it has been measured; after that each message draws one
rate per variant and takes the highest, which sends most traffic to the variant most likely to
be best while still testing the others in proportion to their chance.

The reward is a recovery attributed to the message, not an open or a click: opens say little
about revenue (and mail privacy proxies fake them).

Pure and seeded: the caller passes the seed (the send activity uses the touch's idempotency key,
so a retried send picks the same variant).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_SENDS = 100  # per variant before the bandit takes over from the even split
MONTE_CARLO_DRAWS = 20_000


@dataclass(frozen=True)
class VariantStats:
    variant: str
    sent: int = 0
    recovered: int = 0

    def __post_init__(self) -> None:
        if self.sent < 0 or not 0 <= self.recovered <= self.sent:
            raise ValueError(f"variant {self.variant}: need 0 <= recovered <= sent, got {self.recovered}/{self.sent}")

    @property
    def alpha(self) -> int:
        return self.recovered + 1

    @property
    def beta(self) -> int:
        return self.sent - self.recovered + 1


def _rng(seed: int | str | None) -> np.random.Generator:
    if isinstance(seed, str):
        seed = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    return np.random.default_rng(seed)


def choose_variant(stats: Sequence[VariantStats], seed: int | str | None = None, min_sends: int = MIN_SENDS) -> str:
    """The variant for one message."""
    if not stats:
        raise ValueError("no variants to choose from")
    rng = _rng(seed)
    if len(stats) == 1:
        return stats[0].variant
    if any(s.sent < min_sends for s in stats):
        return stats[int(rng.integers(len(stats)))].variant
    draws = [rng.beta(s.alpha, s.beta) for s in stats]
    return stats[int(np.argmax(draws))].variant


def probability_best(stats: Sequence[VariantStats], draws: int = MONTE_CARLO_DRAWS, seed: int = 0) -> dict[str, float]:
    """P(variant has the highest recovery rate), estimated from ``draws`` samples of the posteriors."""
    if not stats:
        return {}
    rng = np.random.default_rng(seed)
    samples = np.column_stack([rng.beta(s.alpha, s.beta, size=draws) for s in stats])
    wins = np.bincount(samples.argmax(axis=1), minlength=len(stats))
    return {s.variant: float(w) / draws for s, w in zip(stats, wins)}
