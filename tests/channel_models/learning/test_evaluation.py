import math

import numpy as np
import pytest

from channel_models.learning.training.evaluation import (
    Estimate,
    auc,
    brier,
    calibration_error,
    doubly_robust,
    dr_terms,
    mean_interval,
    paired_difference,
    policy_action_probs,
    snips,
)

# A small logged bandit with exact ground truth: 3 context types, 4 actions.
CONTEXT_SHARE = np.array([0.5, 0.3, 0.2])
TRUE_RATE = np.array(
    [  # P(reward | context, action)
        [0.10, 0.30, 0.05, 0.20],
        [0.40, 0.10, 0.25, 0.05],
        [0.15, 0.15, 0.60, 0.30],
    ]
)
LOGGING = np.array(
    [  # the behaviour policy: explores everything, favours action 0
        [0.55, 0.15, 0.15, 0.15],
        [0.40, 0.20, 0.20, 0.20],
        [0.70, 0.10, 0.10, 0.10],
    ]
)
GREEDY = np.eye(4)[TRUE_RATE.argmax(axis=1)]  # the best action per context
EXPLORING = 0.8 * GREEDY + 0.2 / 4  # the same, epsilon-greedy
WORST = np.eye(4)[TRUE_RATE.argmin(axis=1)]


def true_value(policy):
    return float(CONTEXT_SHARE @ (policy * TRUE_RATE).sum(axis=1))


def logged(n, seed):
    rng = np.random.default_rng(seed)
    contexts = rng.choice(3, size=n, p=CONTEXT_SHARE)
    actions = (rng.random((n, 1)) > LOGGING[contexts].cumsum(axis=1)).sum(axis=1)
    rewards = (rng.random(n) < TRUE_RATE[contexts, actions]).astype(float)
    return contexts, actions, LOGGING[contexts, actions], rewards


def estimates(policy, n, seed, q_error=0.0):
    contexts, actions, props, rewards = logged(n, seed)
    target = policy[contexts]
    q = np.clip(TRUE_RATE[contexts] + q_error, 0, 1)  # a reward model, biased by q_error
    rows = np.arange(n)
    return (snips(target[rows, actions], props, rewards), doubly_robust(target, q, actions, props, rewards))


@pytest.mark.parametrize("policy", [GREEDY, EXPLORING, WORST], ids=["greedy", "exploring", "worst"])
def test_intervals_cover_the_true_value_and_the_estimators_are_unbiased(policy):
    truth, trials = true_value(policy), 80
    results = [estimates(policy, 2_000, seed, q_error=0.08) for seed in range(trials)]
    for k, name in enumerate(("snips", "doubly robust")):
        values = np.array([r[k].value for r in results])
        covered = sum(r[k].low <= truth <= r[k].high for r in results)
        # 95 % intervals: about 76 of 80 expected; binomial 1 % tail is 70
        assert covered >= 70, f"{name} covered the truth in {covered} of {trials} trials"
        # unbiased-ish: the mean over trials sits within 4 standard errors of the truth
        assert abs(values.mean() - truth) < 4 * values.std(ddof=1) / math.sqrt(trials), name


def test_doubly_robust_is_exact_in_expectation_with_a_perfect_reward_model_and_tighter():
    _, biased = estimates(GREEDY, 5_000, 1, q_error=0.15)
    _, perfect = estimates(GREEDY, 5_000, 1)
    assert perfect.high - perfect.low < biased.high - biased.low
    assert perfect.low <= true_value(GREEDY) <= perfect.high


def test_paired_difference_covers_the_true_gap_and_is_tighter_than_separate_intervals():
    gap, covered = true_value(GREEDY) - true_value(EXPLORING), 0
    for seed in range(60):
        contexts, actions, props, rewards = logged(2_000, seed)
        q = TRUE_RATE[contexts] + 0.05
        a = dr_terms(GREEDY[contexts], q, actions, props, rewards)
        b = dr_terms(EXPLORING[contexts], q, actions, props, rewards)
        diff = paired_difference(a, b)
        covered += diff.low <= gap <= diff.high
        separate = mean_interval(a)
        assert diff.high - diff.low < separate.high - separate.low
    assert covered >= 52


def test_the_logged_behaviour_is_valued_by_its_own_mean_reward():
    contexts, actions, props, rewards = logged(4_000, 3)
    on_policy = snips(props, props, rewards)  # target = logging: weights all 1
    assert on_policy.value == pytest.approx(rewards.mean())
    assert on_policy.low <= true_value(LOGGING) <= on_policy.high


def test_a_target_that_never_takes_a_logged_action_has_no_snips_value():
    estimate = snips(np.zeros(5), np.full(5, 0.5), np.ones(5))
    assert math.isnan(estimate.value)
    assert estimate.n == 5


def test_mean_interval_is_mean_plus_minus_1_96_standard_errors():
    estimate = mean_interval([1.0, 2.0, 3.0, 4.0])
    half = 1.959963984540054 * np.std([1, 2, 3, 4], ddof=1) / 2
    assert estimate == Estimate(2.5, 2.5 - half, 2.5 + half, 4)
    assert estimate.as_dict("v") == {"v": 2.5, "v_low": 2.5 - half, "v_high": 2.5 + half, "v_n": 4}


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: snips([0.5], [0.0], [1.0]), r"within \(0, 1\]"),
        (lambda: snips([0.5, 0.5], [0.5], [1.0, 0.0]), "one entry per logged row"),
        (lambda: snips([], [], []), "non-empty"),
        (lambda: doubly_robust(np.ones((2, 3)), np.ones((2, 2)), [0, 1], [1, 1], [0, 1]), r"must be \(n, n_actions\)"),
        (lambda: doubly_robust([[1.0, 0.0]], [[np.nan, 0.5]], [1], [0.5], [1.0]), "q_hat is missing"),
        (lambda: paired_difference([1.0, 2.0], [1.0]), "one entry per logged row"),
    ],
)
def test_bad_inputs_are_rejected(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_q_may_be_missing_where_the_target_never_goes():
    terms = dr_terms([[1.0, 0.0]], [[0.3, np.nan]], [1], [0.5], [1.0])
    assert terms.tolist() == [0.3]  # the logged action has target probability 0: no correction


def test_model_quality_metrics():
    rng = np.random.default_rng(0)
    p = rng.random(200_000)
    y = (rng.random(len(p)) < p).astype(float)
    assert calibration_error(y, p) < 0.01
    assert calibration_error(y, np.clip(p + 0.1, 0, 1)) == pytest.approx(0.09, abs=0.01)
    assert brier(y, p) == pytest.approx(1 / 6, abs=0.005)  # E[p(1-p)] for uniform p
    assert brier([0.0, 1.0], [0.0, 1.0]) == 0.0
    assert auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.9]) == 1.0
    assert 0.7 < auc(y, p) < 0.9
    assert math.isnan(auc([1, 1, 1], [0.2, 0.5, 0.9]))


def test_policy_action_probs_needs_a_policy_that_can_read_logged_rows():
    class Uniform:
        def action_probs(self, frame):
            return np.full((len(frame), 4), 0.25)

    assert policy_action_probs(Uniform(), [1, 2, 3]).shape == (3, 4)
    with pytest.raises(TypeError, match="cannot be evaluated on logged rows"):
        policy_action_probs(object(), [1])
