from collections import Counter
from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from scipy.stats import chisquare

from channel_models.actions import ACTIONS
from channel_models.compliance.action_mask import action_mask
from channel_models.context import TouchDecision
from channel_models.rules.exploration import ExploringPolicy, epsilon_greedy, exploration_draws
from channel_models.rules.rule_policy import RulePolicy
from tests.utils.planner_builders import ABANDONED, make_ctx


def second_touch(**overrides):
    return make_ctx(**{"touch": 2, "now": ABANDONED + timedelta(hours=2), **overrides})


def test_draws_are_a_pure_function_of_cart_touch_time_and_seed():
    ctx = second_touch()
    first = exploration_draws(ctx, 7)
    assert first == exploration_draws(ctx, 7)
    assert all(0 <= u < 1 for u in first)
    # the same instants written in another zone are the same cart and moment
    tokyo = ZoneInfo("Asia/Tokyo")
    same = replace(ctx, now=ctx.now.astimezone(tokyo), abandoned_at=ctx.abandoned_at.astimezone(tokyo))
    assert exploration_draws(same, 7) == first
    others = [
        exploration_draws(ctx, 8),
        exploration_draws(replace(ctx, touch=3), 7),
        exploration_draws(replace(ctx, now=ctx.now + timedelta(microseconds=1)), 7),
        exploration_draws(replace(ctx, abandoned_at=ABANDONED - timedelta(seconds=1)), 7),
    ]
    assert len({first, *others}) == 5


def test_epsilon_greedy_logs_the_exact_probability_of_its_choice():
    allowed = (3, 5, 9, 12)
    assert epsilon_greedy(5, allowed, 0.2, (0.5, 0.0)) == (5, 0.8 + 0.05, False)
    assert epsilon_greedy(5, allowed, 0.2, (0.1, 0.0)) == (3, 0.05, True)
    assert epsilon_greedy(5, allowed, 0.2, (0.1, 0.3)) == (5, 0.8 + 0.05, True)  # drew the greedy one
    assert epsilon_greedy(5, allowed, 0.2, (0.1, 0.9999)) == (12, 0.05, True)
    assert epsilon_greedy(5, allowed, 0.0, (0.0, 0.0)) == (5, 1.0, False)
    with pytest.raises(ValueError, match="not allowed"):
        epsilon_greedy(4, allowed, 0.2, (0.5, 0.5))


def test_without_exploration_the_base_decides_and_its_action_is_logged_with_probability_one():
    ctx = second_touch()
    base = RulePolicy().plan(ctx)
    decision = ExploringPolicy(RulePolicy(), epsilon=0.0).plan(ctx)
    assert decision.policy == "rules-v1+explore"
    assert decision.action == base.action
    assert decision.action_propensity == 1.0
    assert (decision.channel, decision.send_at, decision.incentive) == (base.channel, base.send_at, base.incentive)


def test_a_stopping_base_is_never_explored():
    ctx = second_touch(touch=4, max_touches=3)
    for seed in range(20):
        decision = ExploringPolicy(RulePolicy(), epsilon=1.0, seed=seed).plan(ctx)
        assert decision.stop
        assert decision.action is None
        assert decision.policy == "rules-v1+explore"


def test_explored_decisions_use_the_action_and_its_held_send_time():
    ctx = second_touch(timezone="Asia/Tokyo", incentives_available=("discount",))
    mask = action_mask(ctx, RulePolicy().plan(ctx).bucket)
    seen = set()
    for seed in range(40):
        decision = ExploringPolicy(RulePolicy(), epsilon=1.0, seed=seed).plan(ctx)
        chosen = ACTIONS[decision.action]
        assert (decision.channel, decision.incentive) == (chosen.channel, chosen.incentive)
        if not decision.explanation[-1].startswith("exploration: kept"):
            assert decision.send_at == mask.send_at(decision.action)[0]
        assert decision.allowed_actions == mask.allowed
        seen.add(decision.action)
    assert len(seen) > 20  # uniform over 38 allowed actions, not stuck on a few


def test_logged_probabilities_match_how_often_each_action_is_taken():
    ctx = second_touch()
    epsilon, n = 0.4, 1200
    decisions = [ExploringPolicy(RulePolicy(), epsilon, seed=seed).plan(ctx) for seed in range(n)]
    counts = Counter(d.action for d in decisions)
    logged = {}
    for d in decisions:
        assert logged.setdefault(d.action, d.action_propensity) == d.action_propensity
    allowed = decisions[0].allowed_actions
    assert set(counts) <= set(allowed)
    # the logged probabilities of all allowed actions add up to one: exactly one of them happens
    greedy = RulePolicy().plan(ctx).action
    expected = {a: (1 - epsilon) * (a == greedy) + epsilon / len(allowed) for a in allowed}
    assert logged == {a: pytest.approx(expected[a]) for a in logged}
    assert sum(expected.values()) == pytest.approx(1.0)
    observed = [counts.get(a, 0) for a in allowed]
    assert chisquare(observed, [n * expected[a] for a in allowed]).pvalue > 1e-4


def test_replaying_a_plan_gives_the_same_decision():
    ctx = second_touch(incentives_available=("free_shipping",))
    policy = ExploringPolicy(RulePolicy(), epsilon=0.5, seed=11)
    assert policy.plan(ctx) == policy.plan(ctx) == ExploringPolicy(RulePolicy(), 0.5, 11).plan(ctx)


class OffGridBase:
    """A base whose choice is no action of the space: e-mail with a discount the shop lacks."""

    def plan(self, ctx):
        return TouchDecision(
            stop=False,
            stop_reason=None,
            channel="email",
            send_at=ctx.now,
            reason="other",
            reason_confidence=0.2,
            propensity=0.3,
            bucket="Low",
            incentive="discount",
            allowed={},
            blocked={},
            policy="odd-v1",
        )


def test_a_base_choice_outside_the_action_space_is_followed_unlogged_or_explored():
    ctx = second_touch()
    decisions = [ExploringPolicy(OffGridBase(), epsilon=0.3, seed=seed).plan(ctx) for seed in range(200)]
    followed = [d for d in decisions if d.action is None]
    explored = [d for d in decisions if d.action is not None]
    assert followed
    assert explored
    assert all(d.incentive == "discount" and d.action_propensity == pytest.approx(0.7) for d in followed)
    k = len(explored[0].allowed_actions)
    assert all(d.action_propensity == pytest.approx(0.3 / k) and d.incentive is None for d in explored)


@pytest.mark.parametrize("epsilon", [-0.1, 1.5, float("nan")])
def test_epsilon_outside_zero_to_one_is_rejected(epsilon):
    with pytest.raises(ValueError, match="epsilon must be within"):
        ExploringPolicy(RulePolicy(), epsilon=epsilon).plan(second_touch())
