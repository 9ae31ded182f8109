from collections import Counter
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from channel_models.actions import ACTIONS, action_index
from channel_models.compliance.action_mask import action_mask
from channel_models.context import Reachability
from channel_models.economics import Economics
from channel_models.learning.factor_model import FactorModel
from channel_models.learning.features import FEATURE_NAMES, snapshot
from channel_models.learning.learned_policy import LearnedPolicy
from channel_models.learning.reward_model import RewardModel
from channel_models.learning.rule_scores import rule_propensity
from channel_models.registry.model_set import LoadedModel, ModelSet
from channel_models.rules.propensity import self_recovery_propensity
from tests.utils.planner_builders import ABANDONED, make_ctx

EMAIL_1H = action_index("email", 1.0, None)


class TableRewardModel:
    """P(recover) by action from a table: lets a test set the incentive's lift exactly."""

    def __init__(self, base=0.2, lift=None):
        self.rates = np.full(len(ACTIONS), base)
        self.rates[EMAIL_1H] = base + 0.05  # the best action without an incentive
        for incentive, extra in (lift or {}).items():
            self.rates[action_index("email", 1.0, incentive)] = base + 0.05 + extra

    def score_actions(self, x_row, actions):
        return self.rates[np.asarray(actions)]

    def predict(self, X, actions):
        return self.rates[np.asarray(actions)]


class GivenPropensity:
    bucket_edges_ = (0.2, 0.4, 0.6, 0.8)

    def __init__(self, p):
        self.p = p

    def predict_proba(self, X):
        return np.tile([1 - self.p, self.p], (len(X), 1))


class GivenReason:
    def predict_reason(self, x_row):
        assert len(x_row) == len(FEATURE_NAMES)
        return "indecision", 0.73


def policy(
    reward_model, *, epsilon=0.0, lift=0.02, reward="recoveries", propensity=None, reason=None, seed=0, economics=None
):
    models = ModelSet(
        reason=reason and LoadedModel(11, 2, reason),
        propensity=propensity and LoadedModel(12, 3, propensity),
        policy=LoadedModel(13, 4, reward_model),
    )
    return LearnedPolicy(
        models, epsilon=epsilon, min_incentive_lift=lift, reward=reward, seed=seed, economics=economics
    )


def incentives_ctx(**overrides):
    fields = dict(touch=2, now=ABANDONED + timedelta(hours=2), incentives_available=("discount", "free_shipping"))
    return make_ctx(**{**fields, **overrides})


@pytest.fixture(scope="module")
def random_model():
    rng = np.random.default_rng(5)
    n = 4000
    X = rng.normal(size=(n, len(FEATURE_NAMES)))
    actions = rng.integers(0, len(ACTIONS), n)
    logit = -1.2 + 0.7 * np.cos(actions) + 0.6 * X[:, 0] * (actions % 3 == 1) + 0.3 * X[:, 1]
    return RewardModel(seed=0, max_iter=25, n_threads=1).fit(X, actions, rng.random(n) < 1 / (1 + np.exp(-logit)))


@pytest.fixture(scope="module")
def factor_model():
    """A FactorModel fitted on few rows: its posterior draws disagree, so Thompson sampling explores."""
    rng = np.random.default_rng(6)
    n = 1500
    X = np.abs(rng.normal(size=(n, len(FEATURE_NAMES))))
    actions = rng.integers(0, len(ACTIONS), n)
    logit = -1.5 + 0.8 * np.array([a.channel == "sms" for a in ACTIONS])[actions] * X[:, 0]
    return FactorModel(seed=1).fit(X, actions, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float))


# --- incentives ---------------------------------------------------------------------------------


@pytest.mark.parametrize("min_lift, expected", [(0.02, "discount"), (0.049, "discount"), (0.051, None), (0.2, None)])
def test_an_incentive_only_when_its_lift_clears_the_minimum(min_lift, expected):
    model = TableRewardModel(lift={"discount": 0.05, "free_shipping": 0.01})
    decision = policy(model, lift=min_lift).plan(incentives_ctx())
    assert decision.incentive == expected
    assert decision.channel == "email"
    assert decision.action == action_index("email", 1.0, expected)
    line = next(x for x in decision.explanation if "incentive" in x)
    assert "email/1h/discount adds +0.050 recovery rate over email/1h/none" in line
    assert line.startswith("incentive discount" if expected else "no incentive")


def test_revenue_counts_the_incentives_cost():
    # +0.015 recovery rate clears a 0.01 minimum, but a 10 % discount on every recovered cart
    # costs more than the extra carts bring in
    model = TableRewardModel(lift={"discount": 0.015})
    assert policy(model, lift=0.01).plan(incentives_ctx()).incentive == "discount"
    decision = policy(model, lift=0.01, reward="revenue").plan(incentives_ctx())
    assert decision.incentive is None
    assert any("earns less after its cost" in line for line in decision.explanation)
    generous = policy(TableRewardModel(lift={"discount": 0.1}), lift=0.01, reward="revenue")
    assert generous.plan(incentives_ctx()).incentive == "discount"


def test_margin_weighs_the_incentive_against_the_margin_and_each_message_against_its_cost():
    # a discount adding 0.1 recovery rate: worth it on revenue (10 % of a bigger take), not on a
    # 15 % margin (10 of the 15 points go to the shopper on every recovered cart)
    model = TableRewardModel(lift={"discount": 0.1})
    assert policy(model, lift=0.01, reward="revenue").plan(incentives_ctx()).incentive == "discount"
    thin = Economics(gross_margin=0.15)
    decision = policy(model, lift=0.01, reward="margin", economics=thin).plan(incentives_ctx())
    assert decision.incentive is None
    assert any("expected margin" in line for line in decision.explanation)
    # SMS recovers a little more than e-mail, but not enough to pay for itself on a cheap cart
    sms_better = TableRewardModel()
    sms_better.rates[action_index("sms", 1.0, None)] = sms_better.rates[EMAIL_1H] + 0.01
    ctx = make_ctx(cart_value=20.0, configured=("email", "sms"))
    assert policy(sms_better, reward="margin").plan(ctx).channel == "sms"  # sending costs nothing
    costly = Economics(gross_margin=0.4, send_costs={"sms": 0.5})  # 0.01 x 20 x 0.4 = 0.08 < 0.5
    assert policy(sms_better, reward="margin", economics=costly).plan(ctx).channel == "email"


def test_no_incentive_for_a_cart_likely_to_come_back_anyway():
    model = TableRewardModel(lift={"discount": 0.3})
    decision = policy(model, propensity=GivenPropensity(0.9)).plan(incentives_ctx())
    assert decision.bucket == "Very high"
    assert decision.incentive is None
    assert not any(ACTIONS[a].incentive for a in decision.allowed_actions)


# --- what a decision carries --------------------------------------------------------------------


def test_models_supply_reason_and_propensity_and_are_logged_by_version():
    decision = policy(TableRewardModel(), propensity=GivenPropensity(0.5), reason=GivenReason()).plan(incentives_ctx())
    assert (decision.reason, decision.reason_confidence) == ("indecision", 0.73)
    assert (decision.propensity, decision.bucket) == (0.5, "Moderate")
    assert decision.model_versions == {"reason": 11, "propensity": 12, "policy": 13}
    assert decision.policy == "bandit-v4"
    assert decision.explanation[0] == "reason indecision (confidence 0.73)"
    assert decision.explanation[2].startswith("top actions by P(recover): email/1h/none 0.250")


def test_without_models_the_rule_priors_assess_the_cart():
    ctx = incentives_ctx(signal_counts={"payment_failed": 1})
    decision = policy(TableRewardModel()).plan(ctx)
    assert decision.reason == "technical"
    assert decision.model_versions == {"policy": 13}


def test_the_decision_goes_out_at_the_actions_held_time():
    ctx = incentives_ctx(timezone="Asia/Tokyo")
    decision = policy(TableRewardModel()).plan(ctx)
    mask = action_mask(ctx, decision.bucket)
    assert decision.send_at == mask.send_at(decision.action)[0]
    assert decision.allowed_actions == mask.allowed
    assert decision.action_propensity == 1.0


@pytest.mark.parametrize(
    "overrides, reason",
    [
        (dict(touch=4, max_touches=3), "touch 4 exceeds max_touches 3"),
        (dict(now=ABANDONED + timedelta(days=8)), "attribution window already closed"),
        (dict(reachability={}), "no permitted action: email no e-mail address captured; sms no valid phone number"),
    ],
)
def test_stops(overrides, reason):
    decision = policy(TableRewardModel()).plan(incentives_ctx(**overrides))
    assert decision.stop
    assert decision.stop_reason.startswith(reason)
    assert decision.action is None
    assert decision.channel is None


def test_exploration_logs_exact_probabilities():
    ctx = incentives_ctx(reachability={"email": Reachability(captured=True, consent="granted")})
    epsilon, n = 0.3, 900
    decisions = [policy(TableRewardModel(), epsilon=epsilon, seed=s).plan(ctx) for s in range(n)]
    k = len(decisions[0].allowed_actions)
    counts = Counter(d.action for d in decisions)
    for d in decisions:
        greedy = d.action == EMAIL_1H
        assert d.action_propensity == pytest.approx((1 - epsilon) * greedy + epsilon / k)
    share = counts[EMAIL_1H] / n
    expected = 1 - epsilon + epsilon / k
    assert abs(share - expected) < 4 * np.sqrt(expected * (1 - expected) / n)
    assert len(counts) > k // 2


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(epsilon=1.2), "epsilon must be within"),
        (dict(reward="profit"), "reward must be one of"),
    ],
)
def test_bad_parameters_are_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        policy(TableRewardModel(), **change).plan(incentives_ctx())
    with pytest.raises(ValueError, match="needs an Active policy model"):
        LearnedPolicy(ModelSet()).plan(incentives_ctx())


# --- logged rows: the same choice, vectorised ---------------------------------------------------


def random_contexts(n, seed):
    rng = np.random.default_rng(seed)
    stages = ["cart", "checkout", "shipping", "payment"]
    zones = [None, "Asia/Tokyo", "America/New_York"]
    incentive_sets = [(), ("discount",), ("discount", "free_shipping")]
    for _ in range(n):
        touch = int(rng.integers(1, 4))
        yield make_ctx(
            touch=touch,
            now=ABANDONED + timedelta(minutes=int(rng.integers(0, 3000))),
            cart_value=float(np.round(rng.uniform(5, 400), 2)),
            stage=stages[rng.integers(4)],
            orders=int(rng.integers(0, 4)),
            previous_abandonments=int(rng.integers(0, 3)),
            signal_counts={"price_sort": int(rng.integers(0, 3)), "payment_failed": int(rng.integers(0, 2))},
            timezone=zones[rng.integers(3)],
            incentives_available=incentive_sets[rng.integers(3)],
            previous_channels=("email",) * (touch - 1),
        )


def logged_frame(target, contexts):
    rows = []
    for ctx in contexts:
        decision = target.plan(ctx)
        if decision.stop:
            continue
        rows.append(
            {
                **snapshot(ctx),
                "action": decision.action,
                "propensity": decision.action_propensity,
                "allowed_actions": list(decision.allowed_actions),
                "value": ctx.cart_value,
            }
        )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("reward", ["recoveries", "revenue", "margin"])
@pytest.mark.parametrize("model", ["random_model", "factor_model"])  # uniform / Thompson exploration
def test_action_probs_on_logged_rows_match_what_plan_decided(model, reward, request):
    target = policy(request.getfixturevalue(model), epsilon=0.25, lift=0.01, reward=reward, seed=3)
    frame = logged_frame(target, random_contexts(150, seed=1))
    probs = target.action_probs(frame)
    rows = np.arange(len(frame))
    np.testing.assert_allclose(probs[rows, frame["action"]], frame["propensity"], rtol=1e-9)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    allowed = np.zeros_like(probs, dtype=bool)
    for i, actions in enumerate(frame["allowed_actions"]):
        allowed[i, actions] = True
    assert not probs[~allowed].any()
    assert frame["action"].map(lambda a: ACTIONS[a].incentive).notna().any()  # incentives came up


def test_action_probs_use_the_propensity_model_for_buckets(random_model):
    frame = logged_frame(policy(random_model), random_contexts(40, seed=2))
    high = policy(random_model, epsilon=0.2, propensity=GivenPropensity(0.95))
    probs = high.action_probs(frame)
    incentive_actions = [a.index for a in ACTIONS if a.incentive]
    assert not probs[:, incentive_actions].any()


def test_the_vectorised_cold_start_propensity_is_the_rule_priors():
    rng = np.random.default_rng(8)
    ctxs = [
        make_ctx(
            stage=["cart", "checkout", "shipping", "payment", "odd"][rng.integers(5)],
            cart_value=float(np.round(rng.uniform(0, 3000), 2)),
            orders=int(rng.integers(-1, 30)),
            previous_abandonments=int(rng.integers(-1, 9)),
            signal_counts={"payment_failed": int(rng.integers(0, 2)), "slow_page": int(rng.integers(0, 4))},
        )
        for _ in range(300)
    ]
    frame = pd.DataFrame([snapshot(ctx) for ctx in ctxs])
    expected = [self_recovery_propensity(ctx) for ctx in ctxs]
    np.testing.assert_allclose(rule_propensity(frame), expected, rtol=1e-12)


def test_thompson_exploration_goes_where_the_posterior_puts_the_best_action_and_keeps_every_action_possible():
    from tests.channel_models.learning.test_factor_model import MOBILE, planted

    X, actions, rewards = planted(30_000, seed=3)  # SMS works on mobile, e-mail on desktop
    target = policy(FactorModel(seed=1).fit(X, actions, rewards), epsilon=0.1)
    contexts = np.zeros((2, len(FEATURE_NAMES)))
    contexts[0, MOBILE] = 1.0
    allowed = np.ones((2, len(ACTIONS)), dtype=bool)
    weights = target.exploration_weights(contexts, allowed, np.array([50.0, 50.0]))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert weights.min() >= 0.5 / len(ACTIONS)  # the uniform half: every allowed action stays possible
    sms = np.array([a.channel == "sms" for a in ACTIONS])
    email = np.array([a.channel == "email" for a in ACTIONS])
    assert weights[0, sms].sum() > 0.6  # mobile: most exploring draws try SMS (uniform would give a quarter)
    assert weights[1, email].sum() > 0.6


def test_a_reward_model_without_posterior_draws_explores_uniformly(random_model):
    target = policy(random_model, epsilon=1.0)
    decision = target.plan(make_ctx())
    assert target.exploration_weights(np.zeros((1, len(FEATURE_NAMES))), np.ones((1, 60), bool), np.ones(1)) is None
    assert decision.action_propensity == pytest.approx(1 / len(decision.allowed_actions))
    assert any("drawn uniformly" in line for line in decision.explanation)
