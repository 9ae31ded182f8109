"""The synthetic shop's hidden truth: how a shopper answers a message, or comes back unasked.

Every number here is documented in channel_models/simulator/__init__.py's docstring (the public account
of the truth); change both together. Pure functions of a Shopper and a random.Random.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from channel_models.simulator.shop import Shopper

# device of this cart -> channel -> response to a well-timed first message without incentive
CHANNEL_AFFINITY = {
    "mobile": {"email": 0.05, "sms": 0.26, "push": 0.22, "retargeting": 0.04},
    "tablet": {"email": 0.09, "sms": 0.14, "push": 0.18, "retargeting": 0.05},
    "desktop": {"email": 0.14, "sms": 0.08, "push": 0.10, "retargeting": 0.06},
}
REASON_RESPONSE = {"shipping_cost": 0.6, "price": 0.6, "indecision": 1.0, "technical": 1.3, "other": 0.8}
# reason -> incentive -> multiplier; a reason not listed gets OTHER_INCENTIVE_LIFT for either
INCENTIVE_LIFT = {
    "shipping_cost": {"free_shipping": 3.0, "discount": 2.0},
    "price": {"discount": 3.0, "free_shipping": 1.4},
}
OTHER_INCENTIVE_LIFT = 1.1
TECHNICAL_HALF_LIFE = 1.5  # hours
HIGH_INTENT_HALF_LIFE = 4.0
DEFAULT_HALF_LIFE = 36.0
INDECISION_FLOOR, INDECISION_RIPE, INDECISION_HALF_LIFE = 0.25, 24.0, 48.0
FATIGUE = 0.65  # per earlier touch of this cart
REPEAT_CHANNEL = 0.75  # the channel already carried an earlier touch of this cart
MAX_RESPONSE = 0.9
RESPONSE_LAG_HOURS = {"sms": 0.5, "push": 0.75, "email": 3.0, "retargeting": 12.0}  # mean, exponential
CLICK_WITHOUT_ORDER = 1.5  # a message that does not convert is still clicked with 1.5 x p (<= 0.5)

# organic (no-message) return: logistic model and a log-normal time
ORGANIC_INTERCEPT = -2.1
ORGANIC_STAGE = {"cart": 0.0, "checkout": 0.2, "shipping": 0.4, "payment": 0.6}
ORGANIC_REASON = {"shipping_cost": -0.2, "price": -0.3, "indecision": 0.2, "technical": -0.6, "other": 0.0}
ORGANIC_RETURNING, ORGANIC_HIGH_INTENT, ORGANIC_VALUE = 0.5, 0.6, -0.25
ORGANIC_MEDIAN_HOURS, ORGANIC_SIGMA = 20.0, 1.1


def timing_factor(shopper: Shopper, hours: float) -> float:
    """How much of the shopper's response is left ``hours`` after abandonment (1 = best time)."""
    hours = max(0.0, hours)
    if shopper.reason == "technical":
        return 0.5 ** (hours / TECHNICAL_HALF_LIFE)
    if shopper.reason == "indecision":
        if hours <= INDECISION_RIPE:
            return INDECISION_FLOOR + (1 - INDECISION_FLOOR) * hours / INDECISION_RIPE
        return 0.5 ** ((hours - INDECISION_RIPE) / INDECISION_HALF_LIFE)
    if shopper.high_intent:
        return 0.5 ** (hours / HIGH_INTENT_HALF_LIFE)
    return 0.5 ** (hours / DEFAULT_HALF_LIFE)


def incentive_lift(reason: str, incentive: str | None) -> float:
    if incentive is None:
        return 1.0
    return INCENTIVE_LIFT.get(reason, {}).get(incentive, OTHER_INCENTIVE_LIFT)


def channel_affinity(shopper: Shopper, channel: str) -> float:
    """Base response on ``channel`` for this cart (0 where the shopper cannot be reached)."""
    customer = shopper.customer
    if channel == "push" and not customer.app_user:
        return 0.0  # no app, no push token: nothing would arrive
    base = CHANNEL_AFFINITY[shopper.device][channel]
    return base * customer.responsiveness * customer.channel_taste[channel]


def response_probability(
    shopper: Shopper,
    channel: str,
    incentive: str | None,
    hours_since_abandonment: float,
    touch: int,
    previous_channels: Sequence[str] = (),
) -> float:
    """Probability that this message makes the shopper order (before any organic return)."""
    p = channel_affinity(shopper, channel) * REASON_RESPONSE[shopper.reason]
    p *= incentive_lift(shopper.reason, incentive) * timing_factor(shopper, hours_since_abandonment)
    p *= FATIGUE ** max(0, touch - 1)
    if channel in previous_channels:
        p *= REPEAT_CHANNEL
    return min(MAX_RESPONSE, p)


def response_lag(channel: str, rng: random.Random) -> float:
    return rng.expovariate(1.0 / RESPONSE_LAG_HOURS[channel])


def lag_within(channel: str, hours: float) -> float:
    """Probability that a responder orders within ``hours`` of the message."""
    return 1.0 - math.exp(-max(0.0, hours) / RESPONSE_LAG_HOURS[channel])


def click_hours(p: float, order_hours: float | None, channel: str, rng: random.Random) -> float | None:
    """When the shopper clicks the message, if at all: every buyer clicks just before ordering."""
    if order_hours is not None:
        return order_hours * 0.9
    if rng.random() < min(0.5, CLICK_WITHOUT_ORDER * p):
        return response_lag(channel, rng)
    return None


def organic_probability(
    stage: str, reason: str, value: float, returning: bool, high_intent: bool, taste: float
) -> float:
    """Probability the shopper orders this cart some day with no message at all."""
    z = ORGANIC_INTERCEPT + ORGANIC_STAGE[stage] + ORGANIC_REASON[reason] + taste
    z += ORGANIC_VALUE * math.log1p(value / 100.0)
    z += ORGANIC_RETURNING * returning + ORGANIC_HIGH_INTENT * high_intent
    return 1.0 / (1.0 + math.exp(-z))


def organic_hours(shopper: Shopper, rng: random.Random) -> float | None:
    """Hours after abandonment at which the shopper orders unasked, or None (never).

    Always two draws, so a run's random stream does not depend on the outcome."""
    comes_back = rng.random() < shopper.organic_probability
    hours = rng.lognormvariate(math.log(ORGANIC_MEDIAN_HOURS), ORGANIC_SIGMA)
    return hours if comes_back else None


def organic_within(shopper: Shopper, hours: float) -> float:
    """Probability of an organic order within ``hours`` of abandonment."""
    if hours <= 0:
        return 0.0
    z = (math.log(hours) - math.log(ORGANIC_MEDIAN_HOURS)) / ORGANIC_SIGMA
    return shopper.organic_probability * 0.5 * (1 + math.erf(z / math.sqrt(2)))
