"""Learned conversion propensity: the probability that a cart is recovered with no message at all.

It replaces the hand-set score of ``channel_models.rules.propensity`` once it has earned trust. Trained on
``encode_frame`` features of carts that got no message (holdout carts, and carts that came back or
ended before a first touch went out), with ``recovered`` as the label.

Model: gradient-boosted trees (``HistGradientBoostingClassifier``) fitted on the earlier rows, then
Platt-scaled (a logistic fit on the trees' log-odds) on the most recent ``calibration_share`` of the
rows. ``fit`` expects rows in time order, oldest first, so the calibration slice is the newest data:
when the shop's organic recovery rate drifts, the probabilities follow the recent level. On a
synthetic shop with planted truth (95k no-message carts, later 20 % held out), the trees beat a
standardised logistic regression on AUC (0.716 vs 0.706 with a linear truth, 0.727 vs 0.712 with
interactions), and with a drifting base rate the recent-slice scaling cut the calibration error
from 0.079 to 0.025 for an AUC cost below 0.001 when there is no drift.

Threads: ``n_threads`` (default 1) caps the trees' OpenMP threads in ``fit`` and ``predict_proba``.
The worker shares two cores with the API and Temporal; with OpenMP threads waiting on a busy core,
fitting 200k carts took 60 s instead of 15 s, and one-cart predictions had a p99 of 650 ms
instead of 10 ms (measured with other jobs running on this machine). The fitted trees are the same
either way. ``None`` uses every core.

Buckets: ``bucket_edges_`` are the 20/40/60/80 % quantiles of the model's own predictions on
recent carts, so each of the five BUCKETS holds about a fifth of recent traffic. ``fit`` sets them
from its calibration slice; training replaces them with ``set_bucket_edges`` on every recent cart.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

from channel_models.learning.threads import limited_threads
from channel_models.rules.propensity import bucket_for

EDGE_QUANTILES = (0.2, 0.4, 0.6, 0.8)
# probabilities are kept off 0 and 1 so the log-odds fed to the calibration stay finite
_EPS = 1e-6


SMALL_BATCH = 64  # rows up to which predict_proba sums the trees itself


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


class PropensityModel(ClassifierMixin, BaseEstimator):
    """P(recovered without a message | features); classes_ are (False, True)."""

    def __init__(
        self,
        seed: int = 0,
        max_iter: int = 100,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 50,
        l2_regularization: float = 1.0,
        calibration_share: float = 0.2,
        n_threads: int | None = 1,
    ):
        self.seed = seed
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.calibration_share = calibration_share
        self.n_threads = n_threads

    def fit(self, X, y):
        """Fit on rows in time order (oldest first); y is recovered (bool or 0/1)."""
        X, y = check_X_y(X, y, dtype=np.float32)
        y = np.asarray(y).astype(bool)
        if not 0.0 < self.calibration_share < 1.0:
            raise ValueError(f"calibration_share must be within (0, 1), got {self.calibration_share}")
        cut = int(round(len(y) * (1 - self.calibration_share)))
        early, recent = y[:cut], y[cut:]
        for name, part in (("earlier", early), ("calibration", recent)):
            if part.all() or not part.any():
                raise ValueError(
                    f"the {name} rows need both recovered and not-recovered carts "
                    f"({int(part.sum())} of {len(part)} recovered)"
                )
        trees = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            # stop adding trees once a held-out tenth stops improving: beyond fit quality, every
            # tree is ~10 us on the online path, and plan_touch has a 5 ms budget
            early_stopping=cut >= 1000,
            n_iter_no_change=10,
            random_state=self.seed,
        )
        with limited_threads(self.n_threads):
            self.trees_ = trees.fit(X[:cut], early)
            raw = _logit(self.trees_.predict_proba(X[cut:])[:, 1]).reshape(-1, 1)
            # a near-unregularised Platt fit: the slice is large and we want its level, not a prior
            platt = LogisticRegression(C=1e4).fit(raw, recent)
            self.calibration_ = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
            self.classes_ = np.array([False, True])
            self.n_features_in_ = X.shape[1]
            self.set_bucket_edges(self._recovery(X[cut:]))
        return self

    def _recovery(self, X: np.ndarray) -> np.ndarray:
        slope, intercept = self.calibration_
        z = slope * _logit(self._trees_proba(X)) + intercept
        return 1.0 / (1.0 + np.exp(-z))

    def _trees_proba(self, X: np.ndarray) -> np.ndarray:
        if len(X) > SMALL_BATCH:
            with limited_threads(self.n_threads):
                return self.trees_.predict_proba(X)[:, 1]
        # One cart, online: sklearn's checks and thread-pool set-up cost milliseconds, the trees
        # microseconds, so sum the trees' raw scores directly (a test holds this equal to
        # predict_proba).
        trees = self.trees_
        bitsets, features = trees._bin_mapper.make_known_categories_bitsets()
        raw = np.full(len(X), float(trees._baseline_prediction.ravel()[0]))
        rows = np.ascontiguousarray(X, dtype=np.float64)
        for (tree,) in trees._predictors:
            raw += tree.predict(rows, bitsets, features, 1)
        return 1.0 / (1.0 + np.exp(-raw))

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "calibration_")
        X = check_array(X, dtype=np.float32)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} features, got {X.shape[1]}")
        p = self._recovery(X)
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        return self.predict_proba(X)[:, 1] >= 0.5

    def set_bucket_edges(self, scores) -> PropensityModel:
        """Edges = 20/40/60/80 % quantiles of ``scores`` (this model's predictions on recent carts)."""
        scores = np.asarray(scores, dtype=np.float64).ravel()
        if scores.size == 0 or not np.all((scores >= 0) & (scores <= 1)):
            raise ValueError("bucket edges need at least one score, all within [0, 1]")
        self.bucket_edges_ = tuple(float(q) for q in np.quantile(scores, EDGE_QUANTILES))
        return self

    def bucket(self, p: float) -> str:
        check_is_fitted(self, "bucket_edges_")
        return bucket_for(p, self.bucket_edges_)
