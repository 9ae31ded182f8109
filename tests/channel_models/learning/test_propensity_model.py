import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from channel_models.learning.propensity_model import PropensityModel
from channel_models.vocabulary import BUCKETS


def planted(n: int, seed: int, shift_recent: float = 0.0):
    """Rows in time order; truth logit = 2 x0 - 1.5 x1 - 1, raised by ``shift_recent`` in the newest 20 %."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    z = 2.0 * X[:, 0] - 1.5 * X[:, 1] - 1.0
    z[int(n * 0.8) :] += shift_recent
    p = 1 / (1 + np.exp(-z))
    return X, rng.random(n) < p, p


def small(**params) -> PropensityModel:
    return PropensityModel(max_iter=60, **params)


def test_ranks_and_calibrates_like_the_planted_truth():
    X, y, _ = planted(6000, seed=1)
    model = small().fit(X, y)
    X_new, y_new, p_true = planted(4000, seed=2)
    p = model.predict_proba(X_new)[:, 1]
    assert roc_auc_score(y_new, p) > roc_auc_score(y_new, p_true) - 0.02
    assert abs(p.mean() - y_new.mean()) < 0.03
    # the top fifth by score really recovers more than the bottom fifth
    order = np.argsort(p)
    assert y_new[order[-800:]].mean() > y_new[order[:800]].mean() + 0.4


def test_probabilities_follow_the_most_recent_level():
    # the organic rate rose in the newest rows: the calibration slice is those rows, so the model
    # predicts the new level, while the trees alone (fitted on the older rows) stay at the old one
    X, y, _ = planted(8000, seed=3, shift_recent=1.0)
    model = small().fit(X, y)
    X_new, _, p_old = planted(4000, seed=4)
    p_now = 1 / (1 + np.exp(-(np.log(p_old / (1 - p_old)) + 1.0)))
    assert abs(model.predict_proba(X_new)[:, 1].mean() - p_now.mean()) < 0.03
    assert abs(model.trees_.predict_proba(X_new)[:, 1].mean() - p_old.mean()) < 0.03


def test_predict_proba_shape_and_classes():
    X, y, _ = planted(3000, seed=5)
    model = small().fit(X, y)
    proba = model.predict_proba(X[:7])
    assert proba.shape == (7, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert list(model.classes_) == [False, True]
    assert np.array_equal(model.predict(X[:7]), proba[:, 1] >= 0.5)


def test_fit_sets_quintile_bucket_edges_from_its_recent_rows():
    X, y, _ = planted(5000, seed=6)
    model = small().fit(X, y)
    scores = model.predict_proba(X[4000:])[:, 1]
    shares = [np.mean([model.bucket(p) == b for p in scores]) for b in BUCKETS]
    assert all(abs(share - 0.2) < 0.01 for share in shares)


def test_set_bucket_edges_uses_the_given_scores_quantiles():
    X, y, _ = planted(3000, seed=7)
    model = small().fit(X, y)
    model.set_bucket_edges(np.linspace(0.0, 1.0, 101))
    assert model.bucket_edges_ == pytest.approx((0.2, 0.4, 0.6, 0.8))
    assert [model.bucket(p) for p in (0.1, 0.3, 0.5, 0.7, 0.9)] == list(BUCKETS)


def test_same_seed_same_predictions_and_clone_keeps_params():
    X, y, _ = planted(12000, seed=8)  # > 10k rows: early stopping draws a seeded validation split
    a, b = small(seed=4).fit(X, y), small(seed=4).fit(X, y)
    assert np.array_equal(a.predict_proba(X[:500]), b.predict_proba(X[:500]))
    assert clone(a).get_params() == a.get_params()
    # the thread cap is for speed only: every core gives the same trees
    every_core = small(seed=4, n_threads=None).fit(X, y)
    assert np.array_equal(every_core.predict_proba(X[:500]), a.predict_proba(X[:500]))


@pytest.mark.parametrize("y_value", [True, False])
def test_single_outcome_is_rejected(y_value):
    X, _, _ = planted(500, seed=9)
    with pytest.raises(ValueError, match="both recovered and not-recovered"):
        small().fit(X, np.full(500, y_value))


def test_bad_parameters_and_inputs_are_rejected():
    X, y, _ = planted(2000, seed=10)
    with pytest.raises(ValueError, match="calibration_share"):
        small(calibration_share=1.0).fit(X, y)
    model = small().fit(X, y)
    with pytest.raises(ValueError, match="expected 5 features"):
        model.predict_proba(X[:, :4])
    with pytest.raises(ValueError, match="within"):
        model.set_bucket_edges([0.2, 1.3])
    with pytest.raises(ValueError, match="propensity"):
        model.bucket(1.5)


def test_the_single_cart_path_equals_sklearns_predict_proba():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 6)).astype(np.float32)
    y = (rng.random(3000) < 1 / (1 + np.exp(-X[:, 0]))).astype(int)
    model = PropensityModel(seed=0, max_iter=30).fit(X, y)
    slope, intercept = model.calibration_
    expected = 1 / (
        1
        + np.exp(
            -(
                slope * np.log(model.trees_.predict_proba(X[:50])[:, 1] / model.trees_.predict_proba(X[:50])[:, 0])
                + intercept
            )
        )
    )
    assert np.allclose(model.predict_proba(X[:50])[:, 1], expected, atol=1e-9)
    assert np.allclose(
        model.predict_proba(X[:50])[:, 1], model.predict_proba(np.vstack([X[:50]] * 2))[:50, 1], atol=1e-9
    )
