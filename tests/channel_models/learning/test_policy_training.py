import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from channel_models.actions import ACTIONS, action_index
from channel_models.economics import Economics
from channel_models.learning.features import encode_frame
from channel_models.learning.learned_policy import LearnedPolicy
from channel_models.learning.reward_model import RewardModel
from channel_models.learning.training.policy import train_policy
from channel_models.registry.model_set import LoadedModel, ModelSet

START = datetime(2025, 3, 1, tzinfo=UTC)
FAST = {"max_iter": 40}
BEHAVIOUR = action_index("email", 24.0, None)  # what the logging policy mostly does
SMS_NOW = action_index("sms", 0.25, None)
EPSILON = 0.7  # the logging policy explores a lot: small frames still cover every action

CHANNEL = np.array([a.channel for a in ACTIONS])
DELAY = np.array([a.delay_hours for a in ACTIONS])
INCENTIVE = np.array([a.incentive or "none" for a in ACTIONS])
# the truth: which channel works depends on the device; sooner is better; a discount helps
# price-sensitive shoppers only
AFFINITY = {
    "mobile": {"sms": 0.30, "push": 0.12, "email": 0.06, "retargeting": 0.03},
    "desktop": {"email": 0.22, "sms": 0.05, "push": 0.05, "retargeting": 0.04},
}
TIMING = {0.25: 1.0, 1.0: 1.0, 4.0: 0.8, 24.0: 0.6, 48.0: 0.5}
PATTERNS = [  # allowed actions: everything, no SMS consent, incentives configured or not
    [a.index for a in ACTIONS if a.incentive is None],
    [a.index for a in ACTIONS if a.incentive is None and a.channel != "sms"],
    [a.index for a in ACTIONS],
    [a.index for a in ACTIONS if a.channel != "sms"],
]


def true_rates(frame):
    """``(n, 60)`` P(recovered | row, action)."""
    affinity = np.array([[AFFINITY[d][c] for c in CHANNEL] for d in ("mobile", "desktop")])
    rates = affinity[(frame["device"] == "desktop").to_numpy(dtype=int)]
    rates = rates * np.array([TIMING[d] for d in DELAY])
    price = (frame["signal_price_sort"] > 0).to_numpy()[:, None]
    return (
        rates + np.where(INCENTIVE == "discount", 0.08 * price, 0.0) + np.where(INCENTIVE == "free_shipping", 0.01, 0.0)
    )


def contexts(n, seed, start):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "decision_id": np.arange(n),
            "cart_id": [f"c{seed}-{i}" for i in range(n)],
            "decided_at": pd.date_range(start, periods=n, freq="1min"),
            "touch": 1,
            "policy": "rules-v1+explore",
            "device": rng.choice(["mobile", "desktop"], n),
            "signal_price_sort": rng.poisson(0.5, n),
            "cart_value": np.round(rng.lognormal(4, 0.5, n), 2),
            "stage": "checkout",
            "local_hour": rng.uniform(0, 24, n),
            "orders": rng.integers(0, 3, n),
        }
    )
    frame["value"] = frame["cart_value"]
    frame["allowed_actions"] = [PATTERNS[i] for i in rng.integers(0, len(PATTERNS), n)]
    return frame


def logged(n, seed, start=START):
    """Decisions of an epsilon-greedy "e-mail at 24 h" policy, with their exact propensities."""
    frame = contexts(n, seed, start)
    rng = np.random.default_rng(seed + 1000)
    explore = rng.random(n) < EPSILON
    picks = [
        allowed[j]
        for allowed, j in zip(
            frame["allowed_actions"], (rng.random(n) * [len(a) for a in frame["allowed_actions"]]).astype(int)
        )
    ]
    frame["action"] = np.where(explore, picks, BEHAVIOUR)
    k = frame["allowed_actions"].map(len).to_numpy()
    frame["propensity"] = (1 - EPSILON) * (frame["action"] == BEHAVIOUR) + EPSILON / k
    p = true_rates(frame)[np.arange(n), frame["action"]]
    frame["reward"] = (rng.random(n) < p).astype(float)
    frame["sent"] = True
    return frame


@pytest.fixture(scope="module")
def frames():
    return logged(30_000, 1), logged(8_000, 2, START + timedelta(days=30))


@pytest.fixture(scope="module")
def candidate(frames):
    train, evaluate = frames
    return train_policy(train, evaluate, seed=3, epsilon=0.1, min_incentive_lift=0.02, model_params=FAST)


def test_a_clearly_better_policy_is_promoted_over_the_logged_behaviour(candidate, frames):
    _, evaluate = frames
    m = candidate.metrics
    assert candidate.promote
    assert candidate.why.startswith("promote: candidate DR value")
    assert m["baseline_kind"] == "logged behaviour"
    assert m["baseline"] == pytest.approx(evaluate["reward"].mean())
    assert m["difference_low"] > 0
    assert m["candidate_dr"] > m["baseline_high"]
    assert m["greedy_dr"] > m["candidate_dr"]  # exploring costs a little
    assert 0.6 < m["auc"] < 1
    assert m["ece"] < 0.05
    assert 0 < m["brier"] < 0.25
    assert (m["rows_train"], m["rows_eval"]) == (30_000, 8_000)


def test_the_off_policy_estimate_covers_what_the_candidate_then_achieves(candidate, frames):
    """Acceptance 2 on synthetic data with known truth: run the candidate on the evaluation carts."""
    _, evaluate = frames
    policy = LearnedPolicy(ModelSet(policy=LoadedModel(0, 0, candidate.model)), epsilon=0.1, seed=3)
    achieved = float((policy.action_probs(evaluate) * np.nan_to_num(true_rates(evaluate))).sum(axis=1).mean())
    m = candidate.metrics
    assert m["candidate_dr_low"] <= achieved <= m["candidate_dr_high"]
    assert m["candidate_snips_low"] <= achieved <= m["candidate_snips_high"]


def test_the_candidate_learned_the_planted_choices(candidate, frames):
    _, evaluate = frames
    policy = LearnedPolicy(ModelSet(policy=LoadedModel(0, 0, candidate.model)), epsilon=0.0)
    chosen = policy.action_probs(evaluate).argmax(axis=1)
    mobile_with_sms = (evaluate["device"] == "mobile") & evaluate["allowed_actions"].map(lambda a: SMS_NOW in a)
    assert (CHANNEL[chosen[mobile_with_sms.to_numpy()]] == "sms").mean() > 0.9
    desktop = (evaluate["device"] == "desktop").to_numpy()
    assert (CHANNEL[chosen[desktop]] == "email").mean() > 0.9
    # sooner is better (15 min and 1 h are equally good, 4 h nearly)
    assert (DELAY[chosen] <= 4.0).mean() > 0.9
    assert (DELAY[chosen] <= 1.0).mean() > 0.6
    # a discount where it adds 0.08, mostly none where it adds nothing (the estimates are noisy)
    offers = evaluate["allowed_actions"].map(len).to_numpy() > 20
    price = (evaluate["signal_price_sort"] > 0).to_numpy()
    assert (INCENTIVE[chosen[offers & price]] == "discount").mean() > 0.6
    assert (INCENTIVE[chosen[offers & ~price]] == "none").mean() > 0.6


def test_not_promoted_when_no_better_than_the_active_policy(candidate, frames):
    train, evaluate = frames
    same = train_policy(
        train,
        evaluate,
        seed=3,
        active=LoadedModel(9, 1, candidate.model),
        epsilon=0.1,
        min_incentive_lift=0.02,
        model_params=FAST,
    )
    m = same.metrics
    assert m["baseline_kind"] == "active policy"
    assert not same.promote
    assert m["difference"] == 0.0
    assert m["difference_low"] == 0.0
    assert "not above 0" in same.why


def test_promoted_over_a_worse_active_policy(frames):
    train, evaluate = frames
    shuffled = train.assign(reward=np.random.default_rng(0).permutation(train["reward"].to_numpy()))
    worse = RewardModel(seed=1, **FAST).fit(
        encode_frame(shuffled), shuffled["action"].to_numpy(), shuffled["reward"].to_numpy()
    )
    result = train_policy(
        train, evaluate, seed=3, active=worse, epsilon=0.1, min_incentive_lift=0.02, model_params=FAST
    )
    assert result.metrics["baseline_kind"] == "active policy"
    assert result.promote
    assert result.metrics["difference_low"] > 0


def test_training_is_seeded_and_metrics_are_plain_json(candidate, frames):
    train, evaluate = frames
    again = train_policy(train, evaluate, seed=3, epsilon=0.1, min_incentive_lift=0.02, model_params=FAST)
    timing = {"fit_seconds", "evaluate_seconds"}
    assert {k: v for k, v in again.metrics.items() if k not in timing} == {
        k: v for k, v in candidate.metrics.items() if k not in timing
    }
    json.dumps(candidate.metrics, allow_nan=False)
    assert all(isinstance(v, (int, float, str, type(None))) for v in candidate.metrics.values())


def test_revenue_values_are_money(frames):
    train, evaluate = frames
    result = train_policy(
        train, evaluate, seed=3, epsilon=0.1, min_incentive_lift=0.02, reward="revenue", model_params=FAST
    )
    cost = {None: 0.0, "discount": 0.10, "free_shipping": 0.05}  # the default economics
    net = evaluate["action"].map(lambda a: 1.0 - cost[ACTIONS[a].incentive])
    expected = (evaluate["reward"] * evaluate["value"] * net).mean()
    assert result.metrics["baseline"] == pytest.approx(expected)
    assert result.metrics["reward"] == "revenue"
    assert result.metrics["candidate_dr"] > 1.0


def test_margin_values_are_what_the_merchant_keeps(frames):
    train, evaluate = frames
    economics = Economics(discount_share=0.2, gross_margin=0.3, send_costs={"sms": 0.07, "email": 0.01})
    result = train_policy(
        train, evaluate, seed=3, min_incentive_lift=0.02, reward="margin", economics=economics, model_params=FAST
    )
    action = evaluate["action"].map(lambda a: ACTIONS[a])
    share = action.map(lambda a: 0.3 - {None: 0.0, "discount": 0.2, "free_shipping": 0.05}[a.incentive])
    sent = action.map(lambda a: {"sms": 0.07, "email": 0.01}.get(a.channel, 0.0))
    expected = (evaluate["reward"] * evaluate["value"] * share - sent).mean()
    assert result.metrics["baseline"] == pytest.approx(expected)
    assert result.metrics["reward"] == "margin"


def test_nothing_to_learn_without_both_outcomes(frames):
    train, evaluate = frames
    result = train_policy(train.assign(reward=0.0), evaluate, seed=3, model_params=FAST)
    assert result.model is None
    assert not result.promote
    assert result.why == "every cart in the 30000 training decisions was lost: nothing to learn yet"


def test_frames_without_the_logged_columns_are_rejected(frames):
    train, evaluate = frames
    with pytest.raises(ValueError, match="evaluate frame lacks columns: propensity"):
        train_policy(train, evaluate.drop(columns="propensity"), seed=0)
    with pytest.raises(ValueError, match="train frame has no decisions"):
        train_policy(train.iloc[:0], evaluate, seed=0)
    with pytest.raises(ValueError, match="propensity <= 0"):
        train_policy(train.assign(propensity=0.0), evaluate, seed=0)


def test_a_long_evaluation_slice_is_scored_on_a_seeded_sample(frames):
    train, evaluate = frames
    result = train_policy(train, evaluate, seed=3, model_params=FAST, max_eval_rows=3_000)
    again = train_policy(train, evaluate, seed=3, model_params=FAST, max_eval_rows=3_000)
    assert (result.metrics["rows_eval"], result.metrics["rows_scored"]) == (8_000, 3_000)
    assert result.metrics["baseline"] == again.metrics["baseline"] != pytest.approx(evaluate["reward"].mean(), abs=1e-9)
    assert result.metrics["candidate_dr_n"] == 3_000


def best_allowed(frame):
    """The truth's best allowed action per row: a rule prior that knows the shop."""
    rates = true_rates(frame)
    masked = np.full(rates.shape, -np.inf)
    for i, allowed in enumerate(frame["allowed_actions"]):
        masked[i, allowed] = rates[i, allowed]
    return masked.argmax(axis=1)


def test_an_active_policy_that_beats_the_rules_shadow_keeps_deciding(candidate, frames):
    train, evaluate = frames
    shadowed = evaluate.assign(rule_action=BEHAVIOUR)  # the rules would have e-mailed at 24 h
    result = train_policy(
        train,
        shadowed,
        seed=3,
        active=LoadedModel(9, 1, candidate.model),
        epsilon=0.1,
        min_incentive_lift=0.02,
        model_params=FAST,
    )
    m = result.metrics
    assert m["rules_rows"] == len(evaluate)
    assert m["active_quality_fell"] is False
    assert m["active_vs_rules_low"] > 0
    assert m["rules_dr"] < m["baseline"]
    assert "worse than the rule prior" not in result.why


def test_an_active_policy_below_the_rules_shadow_is_flagged(frames):
    train, evaluate = frames
    shuffled = train.assign(reward=np.random.default_rng(0).permutation(train["reward"].to_numpy()))
    worse = RewardModel(seed=1, **FAST).fit(
        encode_frame(shuffled), shuffled["action"].to_numpy(), shuffled["reward"].to_numpy()
    )
    shadowed = evaluate.assign(rule_action=best_allowed(evaluate))
    result = train_policy(
        train, shadowed, seed=3, active=worse, epsilon=0.1, min_incentive_lift=0.02, model_params=FAST
    )
    m = result.metrics
    assert m["active_quality_fell"] is True
    assert m["active_vs_rules_upper"] < 0
    assert "the active policy now does worse than the rule prior" in result.why


def test_no_verdict_on_the_active_policy_without_enough_shadow_actions(candidate, frames):
    train, evaluate = frames
    few = np.where(np.arange(len(evaluate)) < 150, BEHAVIOUR, -1)  # the rest decided before the shadow existed
    for frame, rows in ((evaluate, 0), (evaluate.assign(rule_action=few), 150)):
        result = train_policy(
            train,
            frame,
            seed=3,
            active=LoadedModel(9, 1, candidate.model),
            epsilon=0.1,
            min_incentive_lift=0.02,
            model_params=FAST,
        )
        assert result.metrics["rules_rows"] == rows
        assert "active_quality_fell" not in result.metrics


def test_the_open_carts_teach_as_partial_outcomes_without_the_not_yet_bias(frames):
    """Carts whose window is open, seen part-way: counted as they stand, every not-yet is a loss
    and the model learns too low a rate; as partial outcomes (Pending) it learns the eventual one."""
    from channel_models.learning.censoring import Pending

    train, evaluate = frames
    train = train.head(4_000)
    rng = np.random.default_rng(9)
    opened = logged(20_000, 4, START + timedelta(days=20))
    eventual = opened["reward"].to_numpy()
    delay, elapsed = rng.exponential(20.0, len(opened)), rng.uniform(0.0, 120.0, len(opened))
    so_far = opened.assign(reward=((eventual > 0) & (delay <= elapsed)).astype(float))
    pending = Pending(so_far.assign(decided_h=0.0, elapsed_h=elapsed, ended=False), rng.exponential(20.0, 5_000))
    params = dict(seed=3, epsilon=0.1, min_incentive_lift=0.02)

    as_losses = train_policy(pd.concat([train, so_far]), evaluate, **params).model
    partial = train_policy(train, evaluate, pending=pending, **params)
    assert partial.metrics["rows_pending"] == len(opened)
    X, actions = encode_frame(opened), opened["action"].to_numpy()
    truth = true_rates(opened)[np.arange(len(opened)), actions].mean()
    learned, biased = partial.model.predict(X, actions).mean(), as_losses.predict(X, actions).mean()
    assert abs(learned - truth) < 0.004
    assert biased < truth - 0.01  # about 17 % of the recoveries had not come yet
