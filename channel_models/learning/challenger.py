"""Champion / challenger: a candidate policy decides a share of carts beside the incumbent, and a
sequential test on those carts' real outcomes says when it has won, lost, or needs more carts.

Off-policy estimates from epsilon-greedy logs are too wide to promote anything at a mid-size
shop's volume (a 95 % interval of tens of points at 5,000 carts); carts the candidate decided
itself are judged on-policy, one outcome per cart, with no importance weights.

The test is the mixture sequential probability ratio test (mSPRT; Johari, Pekelis, Koomen and
Walsh, "Always valid inference", 2017) on the difference of the arms' mean outcome per cart
(recovered or not, or the margin a cart brought): with the difference's estimate d and its
variance V = s_c^2 / n_c + s_i^2 / n_i, and a normal mixing distribution N(0, tau^2) over the true
difference,

    Lambda = sqrt(V / (V + tau^2)) * exp(d^2 tau^2 / (2 V (V + tau^2)))

and the test decides once Lambda >= 1 / alpha: "promote" when d > 0, "stop" when d < 0. Lambda is
a martingale under "no difference", so however often it is looked at - every retraining, every
page view - the chance that a challenger no better than the incumbent is ever promoted stays at
or below alpha (tests/channel_models/learning/test_challenger.py checks it by simulation). tau is
``TAU_SD`` of the outcomes' pooled standard deviation: the size of effect the test is most
sensitive to (a few points of recovery rate).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

TAU_SD = 0.1
MIN_CARTS_PER_ARM = 50  # fewer: no verdict (the variance estimate itself is too rough)


@dataclass(frozen=True)
class ArmOutcomes:
    """Per-cart outcomes of one arm: how many carts, their sum and sum of squares."""

    carts: int
    total: float
    total_squares: float

    @classmethod
    def of(cls, values) -> ArmOutcomes:
        v = np.asarray(values, dtype=np.float64)
        return cls(len(v), float(v.sum()), float((v * v).sum()))

    @property
    def mean(self) -> float:
        return self.total / self.carts if self.carts else 0.0

    @property
    def variance(self) -> float:
        if self.carts < 2:
            return 0.0
        return max(0.0, (self.total_squares - self.carts * self.mean**2) / (self.carts - 1))


@dataclass(frozen=True)
class Verdict:
    decision: str  # "promote", "stop" or "continue"
    difference: float  # challenger - incumbent, mean outcome per cart
    likelihood_ratio: float
    threshold: float  # 1 / alpha
    challenger_carts: int
    incumbent_carts: int
    carts_to_decide: int | None  # more carts (both arms, at this split) the test needs if the difference holds

    def as_dict(self) -> dict:
        return dict(vars(self))


def _ratio(difference: float, variance: float, tau2: float) -> float:
    if variance <= 0:
        return 1.0
    log = 0.5 * math.log(variance / (variance + tau2)) + difference**2 * tau2 / (2 * variance * (variance + tau2))
    return math.exp(min(log, 700.0))


def sequential_verdict(challenger: ArmOutcomes, incumbent: ArmOutcomes, alpha: float = 0.05) -> Verdict:
    """The mSPRT's verdict on the challenger's carts against the incumbent's, at level ``alpha``."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be within (0, 1), got {alpha}")
    threshold = 1.0 / alpha
    difference = challenger.mean - incumbent.mean
    if min(challenger.carts, incumbent.carts) < MIN_CARTS_PER_ARM:
        return Verdict("continue", difference, 1.0, threshold, challenger.carts, incumbent.carts, None)
    pooled = (challenger.variance * (challenger.carts - 1) + incumbent.variance * (incumbent.carts - 1)) / (
        challenger.carts + incumbent.carts - 2
    )
    tau2 = (TAU_SD**2) * max(pooled, 1e-12)
    variance = challenger.variance / challenger.carts + incumbent.variance / incumbent.carts
    ratio = _ratio(difference, variance, tau2)
    if ratio >= threshold:
        decision = "promote" if difference > 0 else "stop"
        return Verdict(decision, difference, ratio, threshold, challenger.carts, incumbent.carts, 0)
    return Verdict(
        "continue",
        difference,
        ratio,
        threshold,
        challenger.carts,
        incumbent.carts,
        _carts_to_decide(difference, variance, tau2, threshold, challenger.carts + incumbent.carts),
    )


def challenge(
    decisions: pd.DataFrame,
    carts: pd.DataFrame,
    challenger_policy: str,
    since: datetime,
    closed_before: datetime,
    alpha: float = 0.05,
) -> Verdict:
    """The verdict on the carts whose first touch was decided at or after ``since`` (when the
    challenger began) and that were abandoned before ``closed_before`` (their attribution window
    has closed: a cart still open would count as lost, and more so in the arm that recovers more
    slowly): recovered or not, in the challenger's arm when its first decision names
    ``challenger_policy`` (e.g. "bandit-v7"). ``decisions`` and ``carts`` are the training
    frames (the service's or the simulator's)."""
    first = decisions.sort_values("decided_at", kind="stable").drop_duplicates("cart_id")
    first = first[first["decided_at"] >= pd.Timestamp(since)]
    outcome = carts.set_index("cart_id")
    closed = outcome.index[outcome["abandoned_at"] < pd.Timestamp(closed_before)]
    first = first[first["cart_id"].isin(closed)]
    recovered = outcome.loc[first["cart_id"], "recovered"].to_numpy(dtype=np.float64)
    mine = (first["policy"] == challenger_policy).to_numpy()
    return sequential_verdict(ArmOutcomes.of(recovered[mine]), ArmOutcomes.of(recovered[~mine]), alpha)


def _carts_to_decide(difference: float, variance: float, tau2: float, threshold: float, carts: int) -> int | None:
    """More carts until the ratio would reach the threshold if the difference stayed as it is (the
    variance shrinking as 1 / carts); None when it would take over a hundred times as many."""
    if difference == 0 or variance <= 0:
        return None
    for factor in np.geomspace(1.01, 100.0, 400):
        if _ratio(difference, variance / factor, tau2) >= threshold:
            return int(math.ceil(carts * (factor - 1)))
    return None


def in_challenger_arm(key: str, share: float) -> bool:
    """Whether the cart keyed ``key`` (stable over its journey) is decided by the challenger."""
    if not 0 <= share <= 1:
        raise ValueError(f"share must be within [0, 1], got {share}")
    digest = hashlib.blake2b(key.encode(), digest_size=8, person=b"cr-challenge").digest()
    return int.from_bytes(digest, "big") / 2.0**64 < share
