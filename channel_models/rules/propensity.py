"""Cold-start self-recovery propensity: how likely the cart comes back with no message at all.

A hand-set logistic score, ``p = 1 / (1 + exp(-z))``, used until a trained model earns trust:

    z = -0.8                                   intercept: most abandoned carts never come back
        + stage weight                         cart 0, checkout 0.4, shipping 0.7, payment 1.0
                                               (the further they got, the more they meant to buy)
        + 0.3 * ln(1 + orders)                 returning customers come back on their own
        - 0.3 if orders == 0                   first-time shoppers have no habit with the shop
        - 0.35 * ln(1 + cart_value / 50)       big carts are weighed longer and dropped more often
        - 0.1 * min(previous_abandonments, 5)  habitual abandoners are often just window-shopping
        - 0.8 if a payment failed              they may not be able to pay without help
        - 0.2 * min(slow_page, 2)              a slow shop puts people off coming back

z is clipped to [-6, 6], so p always lies strictly inside (0, 1).

``bucket_for`` maps p to the five BUCKETS with lower-inclusive edges (default 0.2 / 0.4 / 0.6 /
0.8, so p = 0.4 is "Moderate"). Trained models pass quantile edges from recent carts instead, so
each bucket holds about a fifth of the traffic.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

from channel_models.context import PlanContext
from channel_models.vocabulary import BUCKETS

DEFAULT_EDGES = (0.2, 0.4, 0.6, 0.8)
STAGE_WEIGHTS = {"cart": 0.0, "checkout": 0.4, "shipping": 0.7, "payment": 1.0}
Z_LIMIT = 6.0


def propensity_score(ctx: PlanContext) -> float:
    """The logit ``z`` of the module docstring, before clipping."""
    signals = ctx.signal_counts
    orders = max(0, ctx.orders)
    value = max(0.0, ctx.cart_value)
    z = -0.8 + STAGE_WEIGHTS.get(ctx.stage, 0.0)
    z += 0.3 * math.log1p(orders)
    if orders == 0:
        z -= 0.3
    z -= 0.35 * math.log1p(value / 50.0)
    z -= 0.1 * min(max(0, ctx.previous_abandonments), 5)
    if signals.get("payment_failed", 0) > 0:
        z -= 0.8
    z -= 0.2 * min(max(0, signals.get("slow_page", 0)), 2)
    return z


def self_recovery_propensity(ctx: PlanContext) -> float:
    """Probability in (0, 1) that the cart is recovered without any message."""
    z = min(Z_LIMIT, max(-Z_LIMIT, propensity_score(ctx)))
    return 1.0 / (1.0 + math.exp(-z))


def bucket_for(p: float, edges: Sequence[float] = DEFAULT_EDGES) -> str:
    """Map p to Very low .. Very high; ``edges`` are the lower bounds of buckets 2 to 5."""
    if len(edges) != len(BUCKETS) - 1:
        raise ValueError(f"bucket edges need {len(BUCKETS) - 1} values, got {len(edges)}")
    if any(b < a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"bucket edges must be non-decreasing, got {tuple(edges)}")
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise ValueError(f"propensity must be within [0, 1], got {p}")
    return BUCKETS[bisect_right(list(edges), p)]
