import io

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import clone

from channel_models.actions import ACTIONS, action_index
from channel_models.learning.features import FEATURE_NAMES
from channel_models.learning.reward_model import ACTION_FEATURE_NAMES, ACTION_FEATURES, RewardModel

F = len(FEATURE_NAMES)
SMS, EMAIL = action_index("sms", 1.0, None), action_index("email", 1.0, None)


def planted(n, seed=0):
    """SMS recovers carts with a high feature 0, e-mail those with a low one; otherwise 10 %."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, F))
    actions = rng.integers(0, len(ACTIONS), n)
    channel = np.array([a.channel for a in ACTIONS])[actions]
    p = 0.1 + 0.35 * ((channel == "sms") & (X[:, 0] > 0)) + 0.35 * ((channel == "email") & (X[:, 0] <= 0))
    return X, actions, (rng.random(n) < p).astype(float)


@pytest.fixture(scope="module")
def fitted():
    X, actions, rewards = planted(20_000)
    return RewardModel(seed=4).fit(X, actions, rewards), (X, actions, rewards)


def test_action_features_describe_every_action():
    assert ACTION_FEATURES.shape == (len(ACTIONS), len(ACTION_FEATURE_NAMES))
    row = ACTION_FEATURES[action_index("push", 4.0, "discount")]
    named = dict(zip(ACTION_FEATURE_NAMES, row))
    assert named["action_channel_push"] == 1
    assert named["action_incentive_discount"] == 1
    assert named["action_log_delay_hours"] == pytest.approx(np.log(4.0))
    assert sum(v for k, v in named.items() if k.startswith("action_channel_")) == 1


def test_learns_the_planted_channel_by_context_interaction(fitted):
    model, _ = fitted
    high, low = np.zeros(F), np.zeros(F)
    high[0], low[0] = 1.5, -1.5
    p_high = model.score_actions(high, [SMS, EMAIL])
    p_low = model.score_actions(low, [SMS, EMAIL])
    # true rates: 0.45 for the matching channel, 0.10 for the other (shrunk a little towards the
    # mean: 20,000 rows over 60 actions)
    assert p_high[0] > p_high[1] + 0.15
    assert p_low[1] > p_low[0] + 0.15
    assert p_high[0] == pytest.approx(0.45, abs=0.15)
    assert p_low[0] == pytest.approx(0.10, abs=0.06)


def test_the_fast_scoring_path_equals_sklearns_predict_proba(fitted):
    model, (X, _, _) = fitted
    actions = np.arange(len(ACTIONS))
    fast = model.score_actions(X[7], actions)
    design = model._design(np.repeat(X[7:8].astype(np.float32), len(actions), axis=0), actions)
    np.testing.assert_allclose(fast, model.model_.predict_proba(design)[:, 1], rtol=1e-12)
    np.testing.assert_array_equal(fast, model.predict(np.repeat(X[7:8], len(actions), axis=0), actions))


def test_same_seed_same_model_and_a_saved_model_predicts_the_same(fitted):
    model, (X, actions, rewards) = fitted
    again = RewardModel(seed=4).fit(X, actions, rewards)
    np.testing.assert_array_equal(again.predict(X[:500], actions[:500]), model.predict(X[:500], actions[:500]))
    data = sio.dumps(model)
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    np.testing.assert_array_equal(loaded.predict(X[:500], actions[:500]), model.predict(X[:500], actions[:500]))
    assert io.BytesIO(data).read(2) == b"PK"  # a skops zip, not a pickle


def test_the_latest_tenth_of_the_rows_stops_the_boosting():
    X, actions, rewards = planted(5_000, seed=3)
    model = RewardModel(seed=0, max_iter=300).fit(X, actions, rewards)
    assert model.rows_fitted_ == 4_500
    assert model.n_iter_ < 300
    # the tail decides when to stop: other tails, other stopping points
    flipped = RewardModel(seed=0, max_iter=300).fit(X[::-1], actions[::-1], rewards[::-1])
    assert flipped.n_iter_ != model.n_iter_
    small = RewardModel(seed=0, max_iter=12).fit(X[:1_500], actions[:1_500], rewards[:1_500])
    assert (small.rows_fitted_, small.n_iter_) == (1_500, 12)  # too few rows to hold any out


def test_large_inputs_are_fitted_on_a_seeded_sample():
    X, actions, rewards = planted(3_000, seed=1)
    first = RewardModel(seed=2, max_rows=1_000, max_iter=10).fit(X, actions, rewards)
    second = RewardModel(seed=2, max_rows=1_000, max_iter=10).fit(X, actions, rewards)
    assert (first.rows_seen_, first.rows_fitted_) == (3_000, 1_000)
    np.testing.assert_array_equal(first.predict(X[:50], actions[:50]), second.predict(X[:50], actions[:50]))


def test_one_outcome_only_predicts_the_base_rate():
    X, actions, _ = planted(200)
    model = RewardModel().fit(X, actions, np.zeros(200))
    assert model.model_ is None
    assert model.n_iter_ == 0
    np.testing.assert_array_equal(model.score_actions(X[0], [1, 2, 3]), [0.0, 0.0, 0.0])


def test_follows_the_estimator_contract():
    model = RewardModel(seed=9, max_iter=7)
    assert clone(model).get_params() == model.get_params()
    assert not [k for k in vars(model) if k.endswith("_")]  # nothing fitted before fit


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda X, a, r: (X[:, :3][0], a, r), "non-empty 2-D"),
        (lambda X, a, r: (X, a[:-1], r), "one action and one reward per row"),
        (lambda X, a, r: (X, a + 60, r), "integer indices into ACTIONS"),
        (lambda X, a, r: (X, a.astype(float), r), "integer indices into ACTIONS"),
        (lambda X, a, r: (X, a, r * 2), "rewards must be 0 or 1"),
        (lambda X, a, r: (np.where(X > 2, np.nan, X), a, r), "NaN or infinite"),
    ],
)
def test_bad_training_input_is_rejected(change, message):
    X, actions, rewards = planted(100)
    with pytest.raises(ValueError, match=message):
        RewardModel().fit(*change(X, actions, rewards))


def test_prediction_needs_a_fit_and_the_same_features(fitted):
    with pytest.raises(ValueError, match="not fitted"):
        RewardModel().score_actions(np.zeros(F), [0])
    model, _ = fitted
    with pytest.raises(ValueError, match=f"expected {F} context features"):
        model.score_actions(np.zeros(F - 1), [0])
    with pytest.raises(ValueError, match="one action per row"):
        model.predict(np.zeros((3, F)), [0, 1])


def test_batch_scoring_on_binned_contexts_equals_the_online_path(fitted):
    model, (X, _, _) = fitted
    rows = np.repeat(np.arange(30), 7)
    actions = np.tile([0, 5, 17, 29, 33, 48, 59], 30)
    batch = model.predict_pairs(X[:30], rows, actions)
    online = np.concatenate([model.score_actions(X[i], [0, 5, 17, 29, 33, 48, 59]) for i in range(30)])
    np.testing.assert_array_equal(batch, online)
