"""The champion / challenger test: never promotes a challenger that is no better, however often
it is looked at; promotes a clearly better one within a mid-size shop's volume."""

import numpy as np
import pytest

from channel_models.learning.challenger import ArmOutcomes, in_challenger_arm, sequential_verdict

ALPHA = 0.05
SHARE = 0.2


def monitored(rate_challenger: float, rate_incumbent: float, seed: int, carts: int = 5_000, look_every: int = 100):
    """Carts arrive one by one, a SHARE of them to the challenger; the verdict is read after every
    `look_every` carts, as a dashboard would. Returns the first decision other than "continue"."""
    rng = np.random.default_rng(seed)
    challenger = rng.random(carts) < SHARE
    recovered = rng.random(carts) < np.where(challenger, rate_challenger, rate_incumbent)
    for n in range(look_every, carts + 1, look_every):
        verdict = sequential_verdict(
            ArmOutcomes.of(recovered[:n][challenger[:n]]), ArmOutcomes.of(recovered[:n][~challenger[:n]]), ALPHA
        )
        if verdict.decision != "continue":
            return verdict.decision
    return "continue"


@pytest.mark.parametrize("challenger_rate", [0.25, 0.22])  # as good as the incumbent; worse
def test_a_challenger_no_better_is_promoted_at_most_alpha_of_the_time_under_continuous_looks(challenger_rate):
    runs = 300
    promoted = sum(monitored(challenger_rate, 0.25, seed) == "promote" for seed in range(runs))
    assert promoted / runs <= ALPHA


def test_a_clearly_better_challenger_is_promoted_within_five_thousand_carts():
    decisions = [monitored(0.32, 0.25, seed) for seed in range(40)]
    assert decisions.count("promote") >= 36
    assert "stop" not in decisions


def test_a_clearly_worse_challenger_is_stopped():
    decisions = [monitored(0.15, 0.25, seed) for seed in range(40)]
    assert decisions.count("stop") >= 36 and "promote" not in decisions


def test_the_verdict_says_how_many_more_carts_a_decision_needs():
    rng = np.random.default_rng(1)
    verdict = sequential_verdict(ArmOutcomes.of(rng.random(200) < 0.30), ArmOutcomes.of(rng.random(800) < 0.25), ALPHA)
    assert verdict.decision == "continue"
    assert verdict.carts_to_decide is not None and verdict.carts_to_decide > 0
    few = sequential_verdict(ArmOutcomes.of([1.0] * 10), ArmOutcomes.of([0.0] * 40), ALPHA)
    assert few.decision == "continue" and few.carts_to_decide is None


def test_a_cart_stays_in_its_arm_and_the_share_holds():
    keys = [f"cart-{i}" for i in range(20_000)]
    arms = [in_challenger_arm(k, SHARE) for k in keys]
    assert arms == [in_challenger_arm(k, SHARE) for k in keys]
    assert abs(np.mean(arms) - SHARE) < 0.01
    assert not any(in_challenger_arm(k, 0.0) for k in keys[:100])
    with pytest.raises(ValueError):
        in_challenger_arm("x", 1.5)
