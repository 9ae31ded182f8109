"""The synthetic shop's hidden truth: how a shopper answers a message, or comes back unasked.

``Truth()`` is the documented default world (every number is in channel_models/simulator/__init__.py's
docstring, the public account of the truth; change both together). ``draw_truth(seed)`` draws
another world from a family around it - which channel works on which device, how fast interest
fades, which incentive answers which reason and by how much, whether content written for the
shopper's reason matters, how often shoppers come back on their own - so that a policy is judged
across shops rather than tuned to one. Pure: methods of a frozen value, a Shopper and a
random.Random.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from channel_models.vocabulary import CHANNELS

if TYPE_CHECKING:
    from channel_models.simulator.shop import Shopper

DEVICES = ("mobile", "tablet", "desktop")
REASONS = ("shipping_cost", "price", "indecision", "technical", "other")
STAGES = ("cart", "checkout", "shipping", "payment")


def _frozen(table: Mapping) -> Mapping:
    return MappingProxyType({k: _frozen(v) if isinstance(v, Mapping) else v for k, v in table.items()})


@dataclass(frozen=True)
class Truth:
    """One world's hidden rules. The defaults are the documented synthetic shop."""

    # device of this cart -> channel -> response to a well-timed first message without incentive
    channel_affinity: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: _frozen(
            {
                "mobile": {"email": 0.05, "sms": 0.26, "push": 0.22, "retargeting": 0.04},
                "tablet": {"email": 0.09, "sms": 0.14, "push": 0.18, "retargeting": 0.05},
                "desktop": {"email": 0.14, "sms": 0.08, "push": 0.10, "retargeting": 0.06},
            }
        )
    )
    reason_response: Mapping[str, float] = field(
        default_factory=lambda: _frozen(
            {"shipping_cost": 0.6, "price": 0.6, "indecision": 1.0, "technical": 1.3, "other": 0.8}
        )
    )
    # reason -> incentive -> multiplier; a reason or incentive not listed gets other_incentive_lift
    incentive_lift: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: _frozen(
            {"shipping_cost": {"free_shipping": 3.0, "discount": 2.0}, "price": {"discount": 3.0, "free_shipping": 1.4}}
        )
    )
    other_incentive_lift: float = 1.1
    # a message whose content was written for the shopper's true reason (the template the
    # decision's inferred reason picks) answers x content_match; 1.0: content does not matter
    content_match: float = 1.0
    technical_half_life: float = 1.5  # hours
    high_intent_half_life: float = 4.0
    default_half_life: float = 36.0
    indecision_floor: float = 0.25
    indecision_ripe: float = 24.0
    indecision_half_life: float = 48.0
    fatigue: float = 0.65  # per earlier touch of this cart
    repeat_channel: float = 0.75  # the channel already carried an earlier touch of this cart
    max_response: float = 0.9
    # mean hours from message to order, exponential
    response_lag_hours: Mapping[str, float] = field(
        default_factory=lambda: _frozen({"sms": 0.5, "push": 0.75, "email": 3.0, "retargeting": 12.0})
    )
    click_without_order: float = 1.5  # a message that does not convert is still clicked with 1.5 x p (<= 0.5)
    # organic (no-message) return: logistic model and a log-normal time
    organic_intercept: float = -2.1
    organic_stage: Mapping[str, float] = field(
        default_factory=lambda: _frozen({"cart": 0.0, "checkout": 0.2, "shipping": 0.4, "payment": 0.6})
    )
    organic_reason: Mapping[str, float] = field(
        default_factory=lambda: _frozen(
            {"shipping_cost": -0.2, "price": -0.3, "indecision": 0.2, "technical": -0.6, "other": 0.0}
        )
    )
    organic_returning: float = 0.5
    organic_high_intent: float = 0.6
    organic_value: float = -0.25
    organic_median_hours: float = 20.0
    organic_sigma: float = 1.1
    # what hides behind an abandonment (half the time the customer's habitual reason)
    reason_shares: Mapping[str, float] = field(
        default_factory=lambda: _frozen(
            {"shipping_cost": 0.22, "price": 0.22, "indecision": 0.20, "technical": 0.12, "other": 0.24}
        )
    )

    def timing_factor(self, shopper: Shopper, hours: float) -> float:
        """How much of the shopper's response is left ``hours`` after abandonment (1 = best time)."""
        hours = max(0.0, hours)
        if shopper.reason == "technical":
            return 0.5 ** (hours / self.technical_half_life)
        if shopper.reason == "indecision":
            if hours <= self.indecision_ripe:
                return self.indecision_floor + (1 - self.indecision_floor) * hours / self.indecision_ripe
            return 0.5 ** ((hours - self.indecision_ripe) / self.indecision_half_life)
        if shopper.high_intent:
            return 0.5 ** (hours / self.high_intent_half_life)
        return 0.5 ** (hours / self.default_half_life)

    def incentive_factor(self, reason: str, incentive: str | None) -> float:
        if incentive is None:
            return 1.0
        return self.incentive_lift.get(reason, {}).get(incentive, self.other_incentive_lift)

    def affinity(self, shopper: Shopper, channel: str) -> float:
        """Base response on ``channel`` for this cart (0 where the shopper cannot be reached)."""
        customer = shopper.customer
        if channel == "push" and not customer.app_user:
            return 0.0  # no app, no push token: nothing would arrive
        base = self.channel_affinity[shopper.device][channel]
        return base * customer.responsiveness * customer.channel_taste[channel]

    def response_probability(
        self,
        shopper: Shopper,
        channel: str,
        incentive: str | None,
        hours_since_abandonment: float,
        touch: int,
        previous_channels: Sequence[str] = (),
        content_reason: str | None = None,
    ) -> float:
        """Probability that this message makes the shopper order (before any organic return).
        ``content_reason``: the reason the message's content was written for, if known."""
        p = self.affinity(shopper, channel) * self.reason_response[shopper.reason]
        p *= self.incentive_factor(shopper.reason, incentive) * self.timing_factor(shopper, hours_since_abandonment)
        p *= self.fatigue ** max(0, touch - 1)
        if channel in previous_channels:
            p *= self.repeat_channel
        if content_reason is not None and content_reason == shopper.reason:
            p *= self.content_match
        return min(self.max_response, p)

    def response_lag(self, channel: str, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.response_lag_hours[channel])

    def lag_within(self, channel: str, hours: float) -> float:
        """Probability that a responder orders within ``hours`` of the message."""
        return 1.0 - math.exp(-max(0.0, hours) / self.response_lag_hours[channel])

    def click_hours(self, p: float, order_hours: float | None, channel: str, rng: random.Random) -> float | None:
        """When the shopper clicks the message, if at all: every buyer clicks just before ordering."""
        if order_hours is not None:
            return order_hours * 0.9
        if rng.random() < min(0.5, self.click_without_order * p):
            return self.response_lag(channel, rng)
        return None

    def organic_probability(
        self, stage: str, reason: str, value: float, returning: bool, high_intent: bool, taste: float
    ) -> float:
        """Probability the shopper orders this cart some day with no message at all."""
        z = self.organic_intercept + self.organic_stage[stage] + self.organic_reason[reason] + taste
        z += self.organic_value * math.log1p(value / 100.0)
        z += self.organic_returning * returning + self.organic_high_intent * high_intent
        return 1.0 / (1.0 + math.exp(-z))

    def organic_hours(self, shopper: Shopper, rng: random.Random) -> float | None:
        """Hours after abandonment at which the shopper orders unasked, or None (never).

        Always two draws, so a run's random stream does not depend on the outcome."""
        comes_back = rng.random() < shopper.organic_probability
        hours = rng.lognormvariate(math.log(self.organic_median_hours), self.organic_sigma)
        return hours if comes_back else None

    def organic_within(self, shopper: Shopper, hours: float) -> float:
        """Probability of an organic order within ``hours`` of abandonment."""
        if hours <= 0:
            return 0.0
        z = (math.log(hours) - math.log(self.organic_median_hours)) / self.organic_sigma
        return shopper.organic_probability * 0.5 * (1 + math.erf(z / math.sqrt(2)))


# The family draw_truth draws from: (low, high) of each knob, uniform unless said.
AFFINITY_MEANS = {"email": (0.03, 0.12), "sms": (0.04, 0.22), "push": (0.04, 0.20), "retargeting": (0.01, 0.06)}
AFFINITY_SPREAD = 0.5  # log-normal sigma of a device's affinity around the channel's mean
MAX_AFFINITY = 0.3
REASON_RESPONSE_RANGE = (0.5, 1.4)
MATCHED_INCENTIVE_LIFT = (1.0, 3.5)  # the incentive that answers the reason (free shipping / discount)
CROSS_INCENTIVE_LIFT = (1.0, 2.0)  # the other one for shipping_cost / price
OTHER_INCENTIVE_LIFT = (1.0, 1.3)  # either, for any other reason
CONTENT_MATCH = (1.0, 1.6)
HALF_LIVES = {"technical": (0.75, 3.0), "high_intent": (2.0, 8.0), "default": (12.0, 72.0)}
INDECISION_RIPE = (6.0, 36.0)
FATIGUE = (0.5, 0.85)
REPEAT_CHANNEL = (0.6, 1.0)
LAG_SCALE = (0.5, 2.0)  # x the default mean lag of every channel
ORGANIC_INTERCEPT = (-2.8, -1.5)
ORGANIC_MEDIAN_HOURS = (10.0, 40.0)
REASON_SHARE_CONCENTRATION = 8.0  # Dirichlet around the default shares


def draw_truth(seed: int) -> Truth:
    """A world of the family around ``Truth()``: the same seed gives the same world."""
    rng = random.Random(f"synthetic-truth:{seed}")
    default = Truth()

    def uniform(bounds: tuple[float, float]) -> float:
        return rng.uniform(*bounds)

    means = {c: uniform(AFFINITY_MEANS[c]) for c in CHANNELS}
    affinity = {
        d: {c: min(MAX_AFFINITY, means[c] * math.exp(rng.gauss(0.0, AFFINITY_SPREAD))) for c in CHANNELS}
        for d in DEVICES
    }
    matched = {"shipping_cost": "free_shipping", "price": "discount"}
    lifts = {
        reason: {
            incentive: uniform(MATCHED_INCENTIVE_LIFT if incentive == answer else CROSS_INCENTIVE_LIFT)
            for incentive in ("free_shipping", "discount")
        }
        for reason, answer in matched.items()
    }
    gammas = {r: rng.gammavariate(REASON_SHARE_CONCENTRATION * s, 1.0) for r, s in default.reason_shares.items()}
    total = sum(gammas.values())
    lag_scale = uniform(LAG_SCALE)
    return Truth(
        channel_affinity=_frozen(affinity),
        reason_response=_frozen({r: uniform(REASON_RESPONSE_RANGE) for r in REASONS}),
        incentive_lift=_frozen(lifts),
        other_incentive_lift=uniform(OTHER_INCENTIVE_LIFT),
        content_match=uniform(CONTENT_MATCH),
        technical_half_life=uniform(HALF_LIVES["technical"]),
        high_intent_half_life=uniform(HALF_LIVES["high_intent"]),
        default_half_life=uniform(HALF_LIVES["default"]),
        indecision_ripe=uniform(INDECISION_RIPE),
        fatigue=uniform(FATIGUE),
        repeat_channel=uniform(REPEAT_CHANNEL),
        response_lag_hours=_frozen({c: h * lag_scale for c, h in default.response_lag_hours.items()}),
        organic_intercept=uniform(ORGANIC_INTERCEPT),
        organic_median_hours=uniform(ORGANIC_MEDIAN_HOURS),
        reason_shares=_frozen({r: g / total for r, g in gammas.items()}),
    )
