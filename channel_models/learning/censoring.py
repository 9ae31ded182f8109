"""Decisions whose outcome is not known yet: what a cart that has not come back so far still tells.

A cart is a recovery when its order comes within the attribution window after abandonment. While
the window is open, a recovery is known at once but a loss only when the window closes: training
on the open carts' outcomes as they stand would count every not-yet as a loss, and leaving the
open carts out wastes the newest days (at a shop's volume, about half of what 5,000 carts teach
when the window is five days; docs/PERFORMANCE.md). So an open decision whose cart has not come
back is a partial outcome, its chance of still being recovered given that nothing happened so far
(the delayed-feedback model of Chapelle, KDD 2014, with the delay's distribution taken from the
carts whose window has closed):

    P(recovered after the decision | not by now) = p (1 - F) / (1 - p F)

with ``p`` the reward model's estimate for the decision and ``F`` the share of closed recoveries
after a decision at that point of the journey that had come by the time elapsed now. Two hours
after a touch nearly nothing is known and the row keeps about ``p``; four days after, most
recoveries would have shown and the row is nearly a loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_RECOVERIES = 30  # closed recoveries before their delays are trusted to discount open carts


@dataclass(frozen=True)
class Pending:
    """The decisions of carts whose window is open: the decisions frame's columns (``reward`` 1.0
    when the cart was recovered after the decision already, else 0.0: not yet, or never when
    ``ended`` - a journey already over, cancelled or superseded by a newer cart) plus ``decided_h``
    (hours from abandonment to the decision) and ``elapsed_h`` (to now); and ``recovered_h``, the
    hours from abandonment to the order of every recovered treated cart whose window has closed."""

    decisions: pd.DataFrame
    recovered_h: np.ndarray

    @property
    def usable(self) -> bool:
        """Whether there are open decisions and enough closed recoveries to know the delay."""
        return len(self.decisions) > 0 and len(self.recovered_h) >= MIN_RECOVERIES

    def rewards(self, p: np.ndarray) -> np.ndarray:
        """Each open decision's reward: 1.0 when already recovered, else its chance of still being
        recovered given the reward model's estimate ``p`` for it."""
        frame = self.decisions
        share = elapsed_share(frame["decided_h"].to_numpy(), frame["elapsed_h"].to_numpy(), self.recovered_h)
        reward = frame["reward"].to_numpy(dtype=np.float64)
        ended = frame["ended"].to_numpy(dtype=bool)
        return np.where((reward > 0) | ended, reward, pending_reward(p, share))


def elapsed_share(decided_h: np.ndarray, elapsed_h: np.ndarray, recovered_h: np.ndarray) -> np.ndarray:
    """F per open decision: of the closed recoveries (``recovered_h``, hours from abandonment to the
    order, of decisions whose window has closed) that came at or after a decision made
    ``decided_h`` hours after abandonment, the share that had come by ``elapsed_h`` hours.
    0 where no closed recovery is that late (nothing is known about the delay there)."""
    T = np.sort(np.asarray(recovered_h, dtype=np.float64))
    decided_h, elapsed_h = np.asarray(decided_h, dtype=np.float64), np.asarray(elapsed_h, dtype=np.float64)
    before = np.searchsorted(T, decided_h, side="left")
    by_now = np.searchsorted(T, np.maximum(elapsed_h, decided_h), side="right")
    later = len(T) - before
    return np.where(later > 0, (by_now - before) / np.maximum(later, 1), 0.0)


def pending_reward(p: np.ndarray, share: np.ndarray) -> np.ndarray:
    """P(recovered | not yet), from the estimate ``p`` and the elapsed share ``F`` of recoveries."""
    p, share = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0), np.clip(share, 0.0, 1.0)
    return p * (1.0 - share) / np.maximum(1.0 - p * share, 1e-12)
