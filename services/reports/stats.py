"""Rates and the difference of two proportions with its 95% Wald interval."""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def rate(k: int, n: int) -> float | None:
    return round(k / n, 6) if n else None


def ratio(amount: float, n: int, digits: int = 2) -> float | None:
    return round(amount / n, digits) if n else None


def lift(k1: int, n1: int, k2: int, n2: int) -> dict | None:
    """Treated minus holdout recovery rate with a 95% Wald interval; None without both groups."""
    if not n1 or not n2:
        return None
    p1, p2 = k1 / n1, k2 / n2
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    diff = p1 - p2
    return {"estimate": round(diff, 6), "ci95_low": round(diff - Z95 * se, 6), "ci95_high": round(diff + Z95 * se, 6)}
