"""Abandonment reason from behaviour signals: the rule prior used until a classifier takes over.

Rules (each signal adds weight to one reason; unknown signals are ignored, negative counts count 0):

* shipping_cost - ``shipping_page_view`` x 1.0, but only once it looks deliberate: at least 2 views,
  or 1 view when the shopper stopped at the shipping step (they saw the cost and left there).
* price - ``price_sort`` x 1.0, ``discount_filter`` x 1.0, ``coupon_attempt`` x 1.5 (typing a code
  is the most direct sign that the price was the problem).
* indecision - ``add_remove`` x 1.0, ``comparison_view`` x 1.0, and ``product_view`` x 0.2 each
  once there are at least 5 of them (looking at a handful of products is normal browsing).
* technical - ``payment_failed`` x 4.0 (a failed payment is strong evidence: one outweighs several
  weak hints of anything else), ``slow_page`` x 1.0.

The reason with the highest score wins; ties go to the more actionable fix, in the order
technical > shipping_cost > price > indecision. Confidence is the winner's share of all evidence,
damped by how much evidence there is: ``share * total / (total + 1)`` = ``winner / (total + 1)``, so
a single price sort gives 0.5, not certainty, and one failed payment alone gives 0.8. With no
evidence at all the reason is ``other`` with confidence 0.2.
"""

from __future__ import annotations

from collections.abc import Mapping

# reason -> {signal: weight}
SIGNAL_WEIGHTS: dict[str, dict[str, float]] = {
    "shipping_cost": {"shipping_page_view": 1.0},
    "price": {"price_sort": 1.0, "discount_filter": 1.0, "coupon_attempt": 1.5},
    "indecision": {"add_remove": 1.0, "comparison_view": 1.0, "product_view": 0.2},
    "technical": {"payment_failed": 4.0, "slow_page": 1.0},
}
TIE_ORDER = ("technical", "shipping_cost", "price", "indecision")
OTHER_CONFIDENCE = 0.2
MANY_PRODUCT_VIEWS = 5


def _count(signal_counts: Mapping[str, int], name: str) -> int:
    # Counts come from stored events; a corrupt negative one must not flip a reason.
    return max(0, int(signal_counts.get(name, 0) or 0))


def reason_scores(signal_counts: Mapping[str, int], stage: str | None = None) -> dict[str, float]:
    """Weighted evidence per reason (``other`` excluded), after the thresholds above."""
    scores: dict[str, float] = {}
    for reason, weights in SIGNAL_WEIGHTS.items():
        score = 0.0
        for signal, weight in weights.items():
            n = _count(signal_counts, signal)
            if signal == "shipping_page_view" and not (n >= 2 or (n >= 1 and stage == "shipping")):
                n = 0
            if signal == "product_view" and n < MANY_PRODUCT_VIEWS:
                n = 0
            score += weight * n
        scores[reason] = score
    return scores


def infer_reason(signal_counts: Mapping[str, int], stage: str | None = None) -> tuple[str, float]:
    """Return ``(reason, confidence)`` with confidence in [0, 1]; see the module docstring."""
    scores = reason_scores(signal_counts, stage)
    total = sum(scores.values())
    if total <= 0:
        return "other", OTHER_CONFIDENCE
    # max() keeps the first of equal scores, so iterating TIE_ORDER breaks ties by it.
    best = max(TIE_ORDER, key=lambda reason: scores[reason])
    return best, round(scores[best] / (total + 1.0), 4)
