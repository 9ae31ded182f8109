"""The bandit's reward model: P(cart recovered after this decision | context, action).

One gradient-boosted tree ensemble (scikit-learn's HistGradientBoostingClassifier) over the
context features (channel_models.learning.features.encode_frame / encode_row) joined with the action's
features: channel one-hot, log of the delay in hours, incentive one-hot (none / free shipping /
discount), and a few action x context products (CROSSES) for the interactions the product is
built on. Trees split on context and action alike, so other interactions are learned without
being written down.

Rows are expected in time order, as the decision frames are. From 2,000 rows on, the latest 10 %
are held out and boosting stops once their log loss has not improved for 5 rounds: a random
holdout would share carts (their other touches) and customers with the training rows and keep
rewarding trees that memorise them (measured on the synthetic shop: 60 rounds and a worse AUC
on the next days with a random holdout, 20-50 rounds with the time-ordered one).

Size and speed. Defaults are tuned for this service's budget on a 2-core machine: retraining all
three models on 1,000,000 logged decisions within 60 s and 2 GB (bench/models.py), and scoring one context's <= 60 allowed actions in
well under a millisecond. Past ``max_rows`` training rows the model fits on a seeded uniform
sample of them: the trees barely change beyond a few hundred thousand rows while the fit time
keeps growing linearly. ``n_threads`` defaults to 1: with another process busy on the second
core, OpenMP workers spin at each of the thousands of barriers in a fit (measured: 15 s on one
thread, 38 s on two, for 500,000 rows); results do not depend on it.

Online scoring walks the fitted trees directly (``TreePredictor.predict`` on one thread) instead of
``predict_proba``: the public path re-validates its input and starts an OpenMP team for every call,
which costs milliseconds for 60 rows, and on a busy machine a team of threads waiting on each
other costs far more. Batch scoring (off-policy evaluation scores every allowed action of every
logged row: millions of pairs) bins each context once with the model's own bin edges and walks
the trees on one byte per feature (``TreePredictor.predict_binned``), about six times faster than
on floats and without copying a float row per pair. Tests hold all paths equal to predict_proba.

Context features are rounded to float32 on every path, as encode_frame stores them for training,
so a value online never falls on the other side of a split than the same value in training.
"""

from __future__ import annotations

import os

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier

from channel_models.actions import ACTIONS, INCENTIVE_OPTIONS
from channel_models.learning.features import FEATURE_NAMES
from channel_models.learning.threads import limited_threads
from channel_models.vocabulary import CHANNELS

ACTION_FEATURE_NAMES = (
    *(f"action_channel_{c}" for c in CHANNELS),
    "action_log_delay_hours",
    *(f"action_incentive_{i or 'none'}" for i in INCENTIVE_OPTIONS),
)
ACTION_FEATURES = np.array(
    [
        [
            *(float(a.channel == c) for c in CHANNELS),
            np.log(a.delay_hours),
            *(float(a.incentive == i) for i in INCENTIVE_OPTIONS),
        ]
        for a in ACTIONS
    ],
    dtype=np.float64,
)
_CONTEXT = {name: i for i, name in enumerate(FEATURE_NAMES)}
_ACTION = {name: i for i, name in enumerate(ACTION_FEATURE_NAMES)}
# Action x context products the product's own hypotheses name: the device and a channel's past
# engagement decide which channel is read, reason signals decide whether an incentive matters,
# urgency signals decide how soon to send. Trees could find each one as two splits, but a product
# is one split, which they find with a few hundred logged decisions instead of thousands.
CROSSES = (
    *((f"action_channel_{c}", f"device_{d}") for c in CHANNELS for d in ("mobile", "desktop", "tablet")),
    *((f"action_channel_{c}", f"{c}_{e}") for c in CHANNELS for e in ("clicked", "recovered")),
    *(("action_incentive_discount", f"signal_{k}") for k in ("price_sort", "discount_filter", "coupon_attempt")),
    ("action_incentive_free_shipping", "signal_shipping_page_view"),
    ("action_incentive_free_shipping", "stage_shipping"),
    *(
        ("action_log_delay_hours", name)
        for name in (
            "signal_payment_failed",
            "signal_slow_page",
            "stage_payment",
            "signal_add_remove",
            "signal_comparison_view",
            "signal_product_view",
            "returning",
        )
    ),
)
_CROSS_ACTION = np.array([_ACTION[a] for a, _ in CROSSES])
_CROSS_CONTEXT = np.array([_CONTEXT[c] for _, c in CROSSES])
CROSS_FEATURE_NAMES = tuple(f"{a}*{c}" for a, c in CROSSES)
EXTRA_FEATURES = ACTION_FEATURES.shape[1] + len(CROSSES)  # columns after the context's


def _crossed(X: np.ndarray, rows: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """The CROSSES products for context ``X[rows[i]]`` taking ``actions[i]``."""
    return ACTION_FEATURES[actions][:, _CROSS_ACTION] * X[rows][:, _CROSS_CONTEXT]


MIN_ROWS_TO_VALIDATE = 2_000  # below this every row trains and boosting runs max_iter rounds
PREDICT_CHUNK = 1 << 18  # pairs per batch when predicting many: bounds the binned design's memory


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class RewardModel(BaseEstimator):
    """Estimator contract: ``__init__`` stores parameters, ``fit`` validates and sets ``*_``."""

    def __init__(
        self,
        seed: int = 0,
        max_iter: int = 60,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 50,
        l2_regularization: float = 1.0,
        max_rows: int | None = 300_000,
        n_threads: int | None = 1,
    ):
        self.seed = seed
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_rows = max_rows
        self.n_threads = n_threads  # None: every core

    # --- fitting ---------------------------------------------------------------------------

    def _checked_training(self, X_context, actions, rewards):
        X = np.asarray(X_context, dtype=np.float32)
        actions = np.asarray(actions)
        rewards = np.asarray(rewards, dtype=np.float64)
        if X.ndim != 2 or len(X) == 0:
            raise ValueError(f"X_context must be a non-empty 2-D array, got shape {X.shape}")
        if actions.shape != (len(X),) or rewards.shape != (len(X),):
            raise ValueError(
                f"need one action and one reward per row: {len(X)} rows, "
                f"actions {actions.shape}, rewards {rewards.shape}"
            )
        if not np.isfinite(X).all():
            raise ValueError("X_context has NaN or infinite values")
        if not np.issubdtype(actions.dtype, np.integer) or actions.min() < 0 or actions.max() >= len(ACTIONS):
            raise ValueError(f"actions must be integer indices into ACTIONS (0..{len(ACTIONS) - 1})")
        if not np.isin(rewards, (0.0, 1.0)).all():
            raise ValueError("rewards must be 0 or 1 (recovered within the attribution window)")
        if self.max_rows is not None and self.max_rows < 1:
            raise ValueError(f"max_rows must be >= 1 or None, got {self.max_rows}")
        return X, actions, rewards

    def _split(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Training rows (sampled past max_rows) and the time-ordered validation tail."""
        holdout = n // 10 if n >= MIN_ROWS_TO_VALIDATE else 0
        train = np.arange(n - holdout)
        if self.max_rows is not None and len(train) > self.max_rows:
            rng = np.random.default_rng(self.seed)
            train = np.sort(rng.choice(train, self.max_rows, replace=False))
        return train, np.arange(n - holdout, n)

    def fit(self, X_context, actions, rewards) -> RewardModel:
        X, actions, rewards = self._checked_training(X_context, actions, rewards)
        self.n_context_features_ = X.shape[1]
        self.rows_seen_ = len(X)
        self.base_rate_ = float(rewards.mean())
        if self.base_rate_ in (0.0, 1.0):
            # A single outcome class (e.g. nothing recovered yet) leaves nothing to learn.
            self.model_, self.n_iter_, self.rows_fitted_ = None, 0, len(X)
            return self
        train, held = self._split(len(X))
        # early stopping needs both outcomes on each side of the split
        validate = len(held) > 0 and len(np.unique(rewards[held])) == 2 and len(np.unique(rewards[train])) == 2
        if not validate:
            train = np.concatenate([train, held])
        self.rows_fitted_ = len(train)
        self.model_ = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=validate,
            n_iter_no_change=5,
            random_state=self.seed,
        )
        extra = (
            dict(X_val=self._design(X[held], actions[held]), y_val=rewards[held].astype(np.int8)) if validate else {}
        )
        with limited_threads(self.n_threads):
            self.model_.fit(self._design(X[train], actions[train]), rewards[train].astype(np.int8), **extra)
        self.n_iter_ = int(self.model_.n_iter_)
        mapper = self.model_._bin_mapper
        self.known_cat_bitsets_, self.f_idx_map_ = mapper.make_known_categories_bitsets()
        self.missing_bin_ = int(mapper.missing_values_bin_idx_)
        edges = mapper.bin_thresholds_
        self.context_edges_ = edges[: X.shape[1]]
        self.action_bins_ = np.array(
            [
                [np.searchsorted(edges[X.shape[1] + k], value, side="left") for k, value in enumerate(row)]
                for row in ACTION_FEATURES
            ],
            dtype=np.uint8,
        )
        self.cross_edges_ = edges[X.shape[1] + ACTION_FEATURES.shape[1] :]
        return self

    # --- prediction ------------------------------------------------------------------------

    def _design(self, X: np.ndarray, actions: np.ndarray) -> np.ndarray:
        n = X.shape[1]
        design = np.empty((len(X), n + EXTRA_FEATURES), dtype=np.float64)
        design[:, :n] = X
        design[:, n : n + ACTION_FEATURES.shape[1]] = ACTION_FEATURES[actions]
        design[:, n + ACTION_FEATURES.shape[1] :] = _crossed(X, np.arange(len(X)), actions)
        return design

    def _probabilities(self, design: np.ndarray) -> np.ndarray:
        if self.model_ is None:
            return np.full(len(design), self.base_rate_)
        raw = np.full(len(design), float(self.model_._baseline_prediction.ravel()[0]))
        for (tree,) in self.model_._predictors:  # one tree per boosting round (binary loss)
            raw += tree.predict(design, self.known_cat_bitsets_, self.f_idx_map_, 1)
        return _sigmoid(raw)

    def _checked(self, X_context) -> np.ndarray:
        if not hasattr(self, "base_rate_"):
            raise ValueError("RewardModel is not fitted yet: call fit first")
        X = np.asarray(X_context, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_context_features_:
            raise ValueError(f"expected {self.n_context_features_} context features per row, got shape {X.shape}")
        return X

    def predict(self, X_context, actions) -> np.ndarray:
        """P(reward) of each row's action."""
        X = self._checked(X_context)
        return self.predict_pairs(X, np.arange(len(X)), actions)

    def _binned(self, X: np.ndarray) -> np.ndarray:
        # the model's own binning: bin = number of edges below the value (sklearn's _map_to_bins)
        binned = np.empty(X.shape, dtype=np.uint8)
        for j, edges in enumerate(self.context_edges_):
            binned[:, j] = np.searchsorted(edges, X[:, j], side="left")
        return binned

    def predict_pairs(self, X_context, rows, actions) -> np.ndarray:
        """P(reward) of context ``X_context[rows[i]]`` taking ``actions[i]``, for every i: many
        actions of the same contexts, scored without copying a float row per pair."""
        X = self._checked(X_context)
        rows, actions = np.asarray(rows, dtype=np.intp), np.asarray(actions, dtype=np.intp)
        if actions.shape != rows.shape or rows.ndim != 1:
            raise ValueError(f"need one action per row, got {actions.shape} for {rows.shape} rows")
        if self.model_ is None:
            return np.full(len(rows), self.base_rate_)
        threads = int(self.n_threads or len(os.sched_getaffinity(0)))
        binned = self._binned(X)
        base = float(self.model_._baseline_prediction.ravel()[0])
        out = np.empty(len(rows), dtype=np.float64)
        for start in range(0, len(rows), PREDICT_CHUNK):
            part = slice(start, start + PREDICT_CHUNK)
            n, k = X.shape[1], ACTION_FEATURES.shape[1]
            design = np.empty((len(rows[part]), n + EXTRA_FEATURES), dtype=np.uint8)
            design[:, :n] = binned[rows[part]]
            design[:, n : n + k] = self.action_bins_[actions[part]]
            crossed = _crossed(X, rows[part], actions[part])
            for j, edges in enumerate(self.cross_edges_):
                design[:, n + k + j] = np.searchsorted(edges, crossed[:, j], side="left")
            raw = np.full(len(design), base)
            for (tree,) in self.model_._predictors:
                raw += tree.predict_binned(design, self.missing_bin_, threads)
            out[part] = _sigmoid(raw)
        return out

    def score_actions(self, x_row, action_indices) -> np.ndarray:
        """P(reward) of every action in ``action_indices`` for one context (the online path)."""
        x = self._checked(np.reshape(x_row, (1, -1)))[0]
        actions = np.asarray(action_indices, dtype=np.intp)
        return self._probabilities(self._design(np.broadcast_to(x, (len(actions), len(x))), actions))
