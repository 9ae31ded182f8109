"""Open carts as partial outcomes: the elapsed share of recoveries, the pending reward, and a
factor model that learns from them without the bias of counting "not yet" as a loss."""

import numpy as np
import pandas as pd
import pytest

from channel_models.actions import ACTIONS
from channel_models.learning.censoring import Pending, elapsed_share, pending_reward
from channel_models.learning.factor_model import FactorModel
from tests.channel_models.learning.test_factor_model import MOBILE, planted

WINDOW_H = 120.0


def test_elapsed_share_counts_the_closed_recoveries_after_the_decision_that_came_by_now():
    recovered_h = np.array([50.0, 1.0, 3.0, 2.0, 10.0])
    share = elapsed_share(np.array([0.0, 2.5, 0.0, 60.0, 5.0]), np.array([3.0, 10.0, 200.0, 70.0, 4.0]), recovered_h)
    # 1, 2, 3 of five by 3 h; of 3, 10, 50 (at or after 2.5 h) two by 10 h; all; none that late; none yet
    np.testing.assert_allclose(share, [3 / 5, 2 / 3, 1.0, 0.0, 0.0])


def test_pending_reward_keeps_the_estimate_early_and_fades_to_a_loss():
    p = np.full(5, 0.3)
    share = np.array([0.0, 0.25, 0.5, 0.9, 1.0])
    got = pending_reward(p, share)
    assert got[0] == pytest.approx(0.3) and got[-1] == 0.0
    assert (np.diff(got) < 0).all()
    assert got[2] == pytest.approx(0.3 * 0.5 / (1 - 0.15))


def test_partial_rewards_are_unbiased_where_not_yet_counted_as_a_loss_is_not():
    """Carts recovered with chance 0.3, at a delay the closed carts show; seen part-way through
    their windows: the known recoveries plus the pending rewards add up to the eventual rate."""
    rng = np.random.default_rng(3)
    n = 200_000
    recovered = rng.random(n) < 0.3
    delay = np.minimum(rng.exponential(20.0, n), WINDOW_H - 1e-6)
    closed_h = np.minimum(rng.exponential(20.0, 50_000), WINDOW_H - 1e-6)  # the closed carts' delays
    elapsed = rng.uniform(0.0, WINDOW_H, n)
    known = recovered & (delay <= elapsed)
    frame = pd.DataFrame({"reward": known.astype(float), "decided_h": 0.0, "elapsed_h": elapsed, "ended": False})
    partial = Pending(frame, closed_h).rewards(np.full(n, 0.3))
    assert partial.mean() == pytest.approx(0.3, abs=0.005)
    assert known.mean() < 0.25  # what counting "not yet" as a loss would have learned


def test_a_journey_already_over_is_final_and_too_few_closed_recoveries_teach_no_delay():
    frame = pd.DataFrame(
        {"reward": [0.0, 0.0, 1.0], "decided_h": 0.0, "elapsed_h": [10.0, 10.0, 10.0], "ended": [False, True, True]}
    )
    closed = np.linspace(1.0, 100.0, 40)
    rewards = Pending(frame, closed).rewards(np.full(3, 0.3))
    assert 0 < rewards[0] < 0.3 and rewards[1] == 0.0 and rewards[2] == 1.0  # cancelled / superseded: lost
    assert Pending(frame, closed).usable and not Pending(frame, closed[:5]).usable
    assert not Pending(frame.head(0), closed).usable


def test_a_factor_model_learns_the_eventual_rate_from_partial_rewards():
    X, actions, rewards = planted(20_000, seed=5)
    full = FactorModel(seed=1).fit(X, actions, rewards)
    # the same rows with every outcome a coin's expectation: half of them 0.5 each way
    half = np.where(np.arange(len(rewards)) % 2 == 0, rewards, 0.5 * rewards + 0.5 * full.predict(X, actions))
    partial = FactorModel(seed=1, C=full.C_).fit(X, actions, half)
    assert partial.predict(X, actions).mean() == pytest.approx(full.predict(X, actions).mean(), abs=0.01)
    sms = np.array([a.channel == "sms" for a in ACTIONS])
    mobile = X[:, MOBILE] == 1
    lift = partial.all_logits(X[mobile])[:, sms].mean() - partial.all_logits(X[mobile])[:, ~sms].mean()
    assert lift > 0.5  # the planted SMS-on-mobile effect survives
