import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from channel_models.learning.reason_model import ReasonClassifier
from channel_models.vocabulary import REASONS


def planted(n: int, seed: int, reasons=REASONS):
    """Each reason but "other" raises its own count column by ~3 (columns on different scales)."""
    rng = np.random.default_rng(seed)
    y = rng.choice(np.array(reasons, dtype=object), n)
    X = rng.poisson(0.3, size=(n, 6)).astype(float)
    for j, reason in enumerate(REASONS[:4]):
        X[y == reason, j] += rng.poisson(3.0, (y == reason).sum())
    X[:, 5] = rng.normal(500, 100, n)  # a large-scale noise column: the scaling must hold up
    return X, y


def test_learns_the_planted_reasons():
    X, y = planted(3000, seed=1)
    model = ReasonClassifier().fit(X, y)
    X_new, y_new = planted(2000, seed=2)
    assert (model.predict(X_new) == y_new).mean() > 0.8
    assert list(model.classes_) == list(REASONS)


def test_predict_reason_is_the_most_likely_class_with_its_probability():
    X, y = planted(2000, seed=3)
    model = ReasonClassifier().fit(X, y)
    row = np.array([0.0, 6.0, 0.0, 0.0, 0.0, 480.0])  # many "price" signals
    reason, probability = model.predict_reason(row)
    proba = model.predict_proba(row.reshape(1, -1))[0]
    assert reason == "price"
    assert probability == pytest.approx(proba.max())
    assert probability > 0.9


@pytest.mark.parametrize("reasons", [REASONS, ("technical", "price"), ("other", "indecision", "price")])
def test_folded_weights_match_the_scaled_logistic_regression(reasons):
    X, y = planted(1500, seed=4, reasons=reasons)
    model = ReasonClassifier(C=0.5).fit(X, y)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=1000)).fit(X, y)
    order = [list(pipeline.classes_).index(r) for r in model.classes_]
    np.testing.assert_allclose(model.predict_proba(X[:200]), pipeline.predict_proba(X[:200])[:, order], atol=1e-9)
    # only the reasons seen, in REASONS order
    assert list(model.classes_) == [r for r in REASONS if r in reasons]


def test_same_seed_same_predictions():
    X, y = planted(1500, seed=5)
    a, b = ReasonClassifier(seed=3).fit(X, y), ReasonClassifier(seed=3).fit(X, y)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    # the thread cap changes the speed only (BLAS sums may differ in the last bits)
    np.testing.assert_allclose(
        ReasonClassifier(seed=3, n_threads=None).fit(X, y).predict_proba(X), a.predict_proba(X), atol=1e-6
    )


def test_unknown_or_single_reason_is_rejected():
    X, y = planted(300, seed=6)
    with pytest.raises(ValueError, match="labels must be among"):
        ReasonClassifier().fit(X, np.where(y == "price", "too_expensive", y))
    with pytest.raises(ValueError, match="at least two different reasons"):
        ReasonClassifier().fit(X, np.full(300, "price", dtype=object))
    model = ReasonClassifier().fit(X, y)
    with pytest.raises(ValueError, match="expected 6 features"):
        model.predict_reason(np.zeros(5))
