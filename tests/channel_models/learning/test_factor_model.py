"""FactorModel: the readable reward model - shared factors, planted interactions, every path equal."""

import numpy as np
import pytest
import skops.io as sio

from channel_models.actions import ACTIONS, action_index
from channel_models.learning.factor_model import DESIGN_NAMES, INTERACTIONS, FactorModel, design
from channel_models.learning.features import FEATURE_NAMES
from channel_models.registry.artifacts import dump_artifact, load_artifact

F = len(FEATURE_NAMES)
MOBILE = FEATURE_NAMES.index("device_mobile")
PRICE_SORT = FEATURE_NAMES.index("signal_price_sort")
CHANNEL = np.array([a.channel for a in ACTIONS])
INCENTIVE = np.array([a.incentive or "" for a in ACTIONS])


def planted(n: int, seed: int = 0, explored: float = 1.0):
    """SMS works on mobile, e-mail on desktop; a discount triples the rate of price sorters.
    ``explored`` < 1: the rest of the actions are one fixed action (e-mail at 4 h, no incentive),
    as a rule prior would log."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, F))
    X[:, MOBILE] = rng.random(n) < 0.5
    X[:, PRICE_SORT] = rng.random(n) < 0.3
    actions = rng.integers(0, len(ACTIONS), n)
    actions[rng.random(n) >= explored] = action_index("email", 4.0, None)
    base = np.where(X[:, MOBILE] == 1, np.where(CHANNEL[actions] == "sms", 0.20, 0.04), 0.04)
    base = np.where((X[:, MOBILE] == 0) & (CHANNEL[actions] == "email"), 0.15, base)
    base = base * np.where((INCENTIVE[actions] == "discount") & (X[:, PRICE_SORT] == 1), 3.0, 1.0)
    return X, actions, (rng.random(n) < base).astype(float)


@pytest.fixture(scope="module")
def fitted():
    X, actions, rewards = planted(30_000)
    return FactorModel(seed=2).fit(X, actions, rewards), (X, actions, rewards)


def test_the_design_names_every_column_and_crosses_an_action_factor_with_the_context():
    X = np.random.default_rng(0).normal(size=(3, F)).astype(np.float32)
    sms = action_index("sms", 1.0, "discount")
    D = design(X, np.array([0, 1, 2]), np.array([sms] * 3))
    assert D.shape == (3, len(DESIGN_NAMES))
    column = DESIGN_NAMES.index("channel_sms*device_mobile")
    assert np.allclose(D[:, column], X[:, MOBILE])
    assert np.allclose(D[:, DESIGN_NAMES.index("channel_email*device_mobile")], 0.0)
    assert ("incentive_discount", "signal_price_sort") in INTERACTIONS


def test_learns_which_channel_works_on_which_device(fitted):
    model, _ = fitted
    mobile, desktop = np.zeros(F), np.zeros(F)
    mobile[MOBILE] = 1
    sms, email = action_index("sms", 1.0, None), action_index("email", 1.0, None)
    on_mobile, on_desktop = model.score_actions(mobile, [sms, email]), model.score_actions(desktop, [sms, email])
    assert on_mobile[0] > on_mobile[1] + 0.08
    assert on_desktop[1] > on_desktop[0] + 0.06


def test_learns_that_a_discount_pays_only_for_price_sorters(fitted):
    model, _ = fitted
    sorter, other = np.zeros(F), np.zeros(F)
    sorter[PRICE_SORT] = 1
    plain, discount = action_index("email", 1.0, None), action_index("email", 1.0, "discount")
    lift_sorter = np.subtract(*model.score_actions(sorter, [discount, plain]))
    lift_other = np.subtract(*model.score_actions(other, [discount, plain]))
    assert lift_sorter > 0.1 > abs(lift_other) * 3
    assert dict(model.terms())["incentive_discount*signal_price_sort"] > 0


def test_shares_strength_across_actions_when_most_touches_are_one_rule():
    """With only a tenth of touches explored over 60 actions, the shared factors still find the
    best channel per device - every SMS touch, whatever its delay or incentive, teaches it."""
    X, actions, rewards = planted(8_000, seed=5, explored=0.1)
    model = FactorModel(seed=1).fit(X, actions, rewards)
    mobile = np.zeros(F)
    mobile[MOBILE] = 1
    scores = model.score_actions(mobile, np.arange(len(ACTIONS)))
    assert CHANNEL[int(np.argmax(scores))] == "sms"


def test_every_scoring_path_agrees_with_the_fitted_design(fitted):
    """Scoring folds the design into per-action weights; it must equal the design it was fitted on."""
    model, (X, actions, _) = fitted
    rows = np.arange(200)
    D = design(X.astype(np.float32), rows, actions[rows]).astype(np.float64)
    fitted_on = 1 / (1 + np.exp(-(((D - model.mean_) / model.scale_) @ model.coef_ + model.intercept_)))
    one_by_one = np.array([model.score_actions(X[i], [actions[i]])[0] for i in rows])
    assert np.allclose(one_by_one, fitted_on)
    assert np.allclose(model.predict(X[rows], actions[rows]), fitted_on)
    repeated = np.concatenate([rows, rows[::-1]])
    assert np.allclose(
        model.predict_pairs(X, repeated, actions[repeated]), np.concatenate([fitted_on, fitted_on[::-1]])
    )


def test_fits_the_same_with_the_same_seed_and_survives_the_artifact_store(fitted):
    model, (X, actions, rewards) = fitted
    again = FactorModel(seed=2).fit(X, actions, rewards)
    assert np.array_equal(again.coef_, model.coef_) and again.C_ == model.C_
    data, digest = dump_artifact(model, b"k" * 32)
    loaded = load_artifact(data, digest, b"k" * 32)
    assert np.array_equal(loaded.predict(X[:50], actions[:50]), model.predict(X[:50], actions[:50]))
    assert "channel_models.learning.factor_model.FactorModel" in sio.get_untrusted_types(data=data)


def test_rejects_what_it_cannot_learn_from():
    X, actions, rewards = planted(100)
    with pytest.raises(ValueError, match="context"):
        FactorModel().fit(X[:, :5], actions, rewards)
    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        FactorModel().fit(X, actions, rewards * 2)
    with pytest.raises(ValueError, match="indices"):
        FactorModel().fit(X, actions + len(ACTIONS), rewards)
    with pytest.raises(ValueError, match="not fitted"):
        FactorModel().predict(X, actions)
    only_lost = FactorModel().fit(X, actions, np.zeros(len(X)))
    assert np.all(only_lost.predict(X, actions) < 0.01)


def test_posterior_draws_centre_on_the_fit_and_narrow_with_data():
    spread = {}
    for n in (2_000, 30_000):
        X, actions, rewards = planted(n, seed=1)
        model = FactorModel(seed=2).fit(X, actions, rewards)
        logits = model.draw_logits(X[:300])
        assert logits.shape == (300, len(model.intercept_draws_), len(ACTIONS))
        assert np.abs(logits.mean(axis=1) - model.all_logits(X[:300])).mean() < 0.1
        spread[n] = float(logits.std(axis=1).mean())
    assert spread[30_000] < spread[2_000] / 2.5  # about 1 / sqrt(15) of it


def test_posterior_draws_are_seeded_and_stored_with_the_model(fitted):
    model, (X, actions, rewards) = fitted
    again = FactorModel(seed=2).fit(X, actions, rewards)
    np.testing.assert_array_equal(again.coef_draws_, model.coef_draws_)
    model.draw_logits(X[:5])  # builds the derived cache, which is never stored
    loaded = load_artifact(*dump_artifact(model, b"k" * 32), b"k" * 32)
    assert not hasattr(loaded, "_draw_cache")
    np.testing.assert_allclose(loaded.draw_logits(X[:50]), model.draw_logits(X[:50]))


def test_posterior_draws_have_the_laplace_covariance(fitted):
    """The draws' spread is the inverse of the negative log posterior's Hessian at the mode,
    Z' W Z + I / C in the standardised design (C: the prior's variance), recomputed here."""

    model, (X, actions, rewards) = fitted
    rows = np.arange(len(X))
    Z = (design(X, rows, actions) - model.mean_) / model.scale_
    Z = np.hstack([Z, np.ones((len(Z), 1))])
    p = 1 / (1 + np.exp(-(Z @ np.append(model.coef_, model.intercept_))))
    hessian = (Z * (p * (1 - p))[:, None]).T @ Z + np.diag(np.append(np.full(Z.shape[1] - 1, 1 / model.C_), 1e-6))
    expected = np.diag(np.linalg.inv(hessian))[:-1]
    drawn = np.mean((model.coef_draws_ - model.coef_) ** 2, axis=0)  # about the mode, not their mean
    ratio = drawn / expected
    assert 0.85 < ratio.mean() < 1.15  # 245 coefficients x 32 draws: the mean ratio is within a few %
    assert 0.5 < np.median(ratio) < 1.5
