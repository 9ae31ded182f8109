"""What a recovery is worth to the shop, per action: the objective a learned policy maximises.

Three objectives (setting CR_REWARD):

* ``recoveries`` - P(recovered);
* ``revenue`` - P x cart value x (1 - the incentive's cost share);
* ``margin`` - what the merchant keeps: P x cart value x (gross margin - the incentive's cost
  share) - the channel's cost per message. A discount of 10 % on a 40 %-margin cart gives away a
  quarter of the margin, not a tenth; an SMS that costs 5 cents must earn more than 5 cents.

The incentive's cost share: a discount costs its percentage of the cart value (CR_DISCOUNT_PERCENT),
free shipping a flat share of it (CR_FREE_SHIPPING_COST, 5 % by default: a typical parcel on a
typical cart). Send costs per channel come from CR_SEND_COSTS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from channel_models.actions import ACTIONS
from channel_models.vocabulary import CHANNELS

REWARDS = ("recoveries", "revenue", "margin")


def parse_send_costs(text: str) -> dict[str, float]:
    """``"email=0,sms=0.05"`` -> ``{"email": 0.0, "sms": 0.05}``: known channels, costs >= 0."""
    costs: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        channel, _, amount = part.partition("=")
        channel = channel.strip()
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r} in send costs (channels: {', '.join(CHANNELS)})")
        try:
            cost = float(amount)
        except ValueError:
            raise ValueError(f"send cost of {channel} must be a number, got {amount.strip()!r}") from None
        if not 0.0 <= cost < 1e6:  # also NaN
            raise ValueError(f"send cost of {channel} must be >= 0, got {amount.strip()}")
        costs[channel] = cost
    return costs


@dataclass(frozen=True)
class Economics:
    discount_share: float = 0.10
    free_shipping_share: float = 0.05
    gross_margin: float = 1.0
    send_costs: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Any) -> Economics:
        return cls(
            discount_share=settings.discount_percent / 100.0,
            free_shipping_share=settings.free_shipping_cost,
            gross_margin=settings.gross_margin,
            send_costs=parse_send_costs(settings.send_costs),
        )

    def check(self) -> None:
        for name in ("discount_share", "free_shipping_share"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be within [0, 1), got {getattr(self, name)}")
        if not 0.0 < self.gross_margin <= 1.0:
            raise ValueError(f"gross_margin must be within (0, 1], got {self.gross_margin}")

    def incentive_costs(self) -> dict[str, float]:
        """Each incentive's cost as a share of the cart value."""
        return {"discount": self.discount_share, "free_shipping": self.free_shipping_share}

    def incentive_share(self) -> np.ndarray:
        """Per action, the share of the cart value its incentive costs."""
        cost = self.incentive_costs()
        return np.array([0.0 if a.incentive is None else cost[a.incentive] for a in ACTIONS])

    def send_cost(self) -> np.ndarray:
        """Per action, what sending its message costs."""
        return np.array([float(self.send_costs.get(a.channel, 0.0)) for a in ACTIONS])

    def kept_share(self, reward: str) -> np.ndarray:
        """Per action, the share of a recovered cart's value the objective counts."""
        if reward == "margin":
            return self.gross_margin - self.incentive_share()
        return 1.0 - self.incentive_share()

    def objective(self, p: np.ndarray, cart_value: np.ndarray, reward: str) -> np.ndarray:
        """``(n, 60)`` objective from ``(n, 60)`` recovery probabilities and ``(n,)`` cart values."""
        if reward == "recoveries":
            return p
        value = p * np.reshape(cart_value, (-1, 1)) * self.kept_share(reward)
        return value - self.send_cost() if reward == "margin" else value

    def realised(self, recovered: np.ndarray, cart_value: np.ndarray, actions: np.ndarray, reward: str) -> np.ndarray:
        """The logged reward of each decision on the objective's scale (what ``objective`` estimates)."""
        if reward == "recoveries":
            return recovered
        value = recovered * cart_value * self.kept_share(reward)[actions]
        return value - self.send_cost()[actions] if reward == "margin" else value
