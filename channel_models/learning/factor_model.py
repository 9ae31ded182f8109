"""A reward model a person can read: regularised logistic regression over the action's factors and
chosen interactions with the context - P(cart recovered after this decision | context, action).

The 60 actions are not 60 unrelated arms: an action is a channel, a delay and an incentive, and
what makes one work for a cart is a small number of interactions the product is built on. The
design of a (context, action) pair:

* the context's features (channel_models.learning.features), so the model knows how likely the
  cart is to come back anyway;
* the action's factors: channel, delay bucket and incentive one-hot, the log of the delay, and
  channel x incentive (a code in a text message need not work as one in an e-mail or an ad);
* interactions (INTERACTIONS): channel x device, the channel's own past engagement and whether it
  carried the previous touch, the local hour, the touch number, returning and cart value;
  incentive x the behaviour signals, checkout stage, returning and earlier abandonments (the
  evidence of why the cart was left, and of a shopper who abandons to fish for a coupon); delay bucket x the signals, stage, returning, the touch, the hours already gone and
  a mobile device (how fast interest fades depends on why the cart was left). A signal crosses an
  action as seen or not, not by its count.

Every logged touch trains it, not only the explored ones: a coefficient is shared by every action
that has its factor, so an SMS decision teaches the SMS x mobile term whatever its delay or
incentive. Columns are standardised with the training rows' mean and spread, and the L2 strength
is chosen from ``C_GRID`` on the time-ordered last tenth of the rows (as RewardModel does for its
trees), then refitted on all of them. ``terms()`` lists the fitted coefficients by name.

Past ``max_rows`` (100,000) the model fits on a seeded uniform sample: its design is dense (about
250 float32 columns, 1 KB a row) and a few hundred coefficients are settled long before that.

The fit is the mode of a Bayesian logistic regression (a Gaussian prior of variance C per
standardised coefficient), and ``coef_draws_`` / ``intercept_draws_`` hold ``DRAWS`` seeded draws
from its Laplace approximation (the Gaussian at the mode with the inverse Hessian of the negative
log posterior as covariance): what the model is unsure of. The learned policy explores with them
(Thompson sampling, channel_models.learning.learned_policy); ``draw_logits`` scores every action
under every draw.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression

from channel_models.actions import ACTIONS, DELAY_HOURS, DELAY_LABELS
from channel_models.learning.features import DEVICES, FEATURE_NAMES, SIGNALS, STAGES
from channel_models.learning.threads import limited_threads
from channel_models.vocabulary import CHANNELS, INCENTIVES

ACTION_FACTORS = (
    *(f"channel_{c}" for c in CHANNELS),
    *(f"delay_{d}" for d in DELAY_LABELS),
    *(f"incentive_{i}" for i in INCENTIVES),
    "log_delay_hours",
    *(f"channel_{c}*incentive_{i}" for c in CHANNELS for i in INCENTIVES),
)
_FACTOR_VALUES = np.array(
    [
        [
            *(float(a.channel == c) for c in CHANNELS),
            *(float(a.delay_hours == d) for d in DELAY_HOURS),
            *(float(a.incentive == i) for i in INCENTIVES),
            np.log(a.delay_hours),
            *(float(a.channel == c and a.incentive == i) for c in CHANNELS for i in INCENTIVES),
        ]
        for a in ACTIONS
    ],
    dtype=np.float32,
)
_SIGNALS = tuple(f"signal_{k}" for k in SIGNALS)
_STAGES = tuple(f"stage_{s}" for s in STAGES)
INTERACTIONS: tuple[tuple[str, str], ...] = (
    *((f"channel_{c}", f"device_{d}") for c in CHANNELS for d in (*DEVICES, "other")),
    *((f"channel_{c}", f"{c}_{e}") for c in CHANNELS for e in ("sent", "clicked", "recovered")),
    *((f"channel_{c}", f"last_channel_{c}") for c in CHANNELS),
    *((f"channel_{c}", x) for c in CHANNELS for x in ("hour_sin", "hour_cos", "touch", "returning", "log_value")),
    *((f"incentive_{i}", x) for i in INCENTIVES for x in (*_SIGNALS, *_STAGES, "returning", "previous_abandonments")),
    *(
        (f"delay_{d}", x)
        for d in DELAY_LABELS
        for x in (*_SIGNALS, *_STAGES, "returning", "touch", "hours_since_abandonment", "device_mobile")
    ),
)
_FACTOR = {name: i for i, name in enumerate(ACTION_FACTORS)}
_CONTEXT = {name: i for i, name in enumerate(FEATURE_NAMES)}
_I_FACTOR = np.array([_FACTOR[a] for a, _ in INTERACTIONS])
_I_CONTEXT = np.array([_CONTEXT[c] for _, c in INTERACTIONS])
# a behaviour signal crosses an action as "seen at all": one price sort says as much about the
# reason as five, and a count would make its effect grow with every repeat
_I_SEEN = np.array([c in _SIGNALS for _, c in INTERACTIONS])
DESIGN_NAMES = (*FEATURE_NAMES, *ACTION_FACTORS, *(f"{a}*{c}" for a, c in INTERACTIONS))
C_GRID = (0.01, 0.1, 1.0)  # inverse L2 strength on the standardised design, tried in order
# The prior on a main effect (the context's own features, an action factor alone) is this many
# times wider than on an interaction: main effects are few and each is seen on every row, and a
# shared prior would shrink a real interaction into its main effect (an incentive that helps the
# price-sensitive would look like one that helps everyone a little).
MAIN_PRIOR_SCALE = 3.0
N_MAIN = len(FEATURE_NAMES) + len(ACTION_FACTORS)
MIN_ROWS_TO_TUNE = 1_000  # fewer rows: the middle of C_GRID without a validation split
CHUNK = 1 << 15  # context rows per block when scoring many
DRAWS = 32  # posterior draws kept with the model (Thompson sampling's bank)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def design(X: np.ndarray, rows: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """The unstandardised design of context ``X[rows[i]]`` taking ``actions[i]`` (float32)."""
    context = X[rows]
    factors = _FACTOR_VALUES[actions]
    out = np.empty((len(rows), len(DESIGN_NAMES)), dtype=np.float32)
    n, k = context.shape[1], factors.shape[1]
    out[:, :n] = context
    out[:, n : n + k] = factors
    crossed = context[:, _I_CONTEXT]
    crossed[:, _I_SEEN] = crossed[:, _I_SEEN] > 0
    out[:, n + k :] = factors[:, _I_FACTOR] * crossed
    return out


class FactorModel(BaseEstimator):
    """Estimator contract: ``__init__`` stores parameters, ``fit`` validates and sets ``*_``."""

    def __init__(self, seed: int = 0, C: float | None = None, max_rows: int | None = 100_000, max_iter: int = 300):
        self.seed = seed
        self.C = C  # None: chosen from C_GRID on the time-ordered last tenth
        self.max_rows = max_rows
        self.max_iter = max_iter

    def fit(self, X_context, actions, rewards) -> FactorModel:
        """``rewards`` are 0 / 1, or between them for a decision whose outcome is not known yet
        (its chance of still being recovered, channel_models.learning.censoring): such a row
        counts as a recovery with that weight and a loss with the rest."""
        X = np.asarray(X_context, dtype=np.float32)
        actions = np.asarray(actions, dtype=np.intp)
        y = np.asarray(rewards, dtype=np.float64)
        if X.ndim != 2 or len(X) == 0 or X.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"X_context must be (n, {len(FEATURE_NAMES)}), got shape {X.shape}")
        if actions.shape != (len(X),) or y.shape != (len(X),):
            raise ValueError("need one action and one reward per row")
        if not np.isfinite(X).all():
            raise ValueError("X_context has NaN or infinite values")
        if actions.min() < 0 or actions.max() >= len(ACTIONS):
            raise ValueError(f"actions must be indices into ACTIONS (0..{len(ACTIONS) - 1})")
        if not ((y >= 0.0) & (y <= 1.0)).all():
            raise ValueError("rewards must be within [0, 1] (recovered within the attribution window, or its chance)")
        rows = np.arange(len(X))
        if self.max_rows is not None and len(rows) > self.max_rows:
            rows = np.sort(np.random.default_rng(self.seed).choice(rows, self.max_rows, replace=False))
        self.rows_seen_, self.rows_fitted_ = len(X), len(rows)
        self.base_rate_ = float(y.mean())
        D = design(X, rows, actions[rows])
        self.mean_ = D.mean(axis=0, dtype=np.float64)
        spread = D.std(axis=0, dtype=np.float64)
        self.prior_scale_ = np.ones(D.shape[1])
        self.prior_scale_[:N_MAIN] = MAIN_PRIOR_SCALE
        # a column scaled up by k needs a k times smaller coefficient: its prior is k times wider
        self.scale_ = np.where(spread > 1e-9, spread, 1.0) / self.prior_scale_
        Z = ((D - self.mean_) / self.scale_).astype(np.float32)
        target = y[rows]
        self.C_ = self._choose_C(Z, target) if self.C is None else float(self.C)
        self.coef_, self.intercept_, self.n_iter_ = self._fit(Z, target, self.C_)
        self.coef_draws_, self.intercept_draws_ = self._posterior_draws(Z, target)
        return self

    def _posterior_draws(self, Z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``DRAWS`` draws of (coefficients, intercept) from the Laplace approximation: covariance
        the inverse of Z' W Z + I / C (W: p (1 - p) at the mode; the intercept's prior flat)."""
        p = _sigmoid(Z @ self.coef_.astype(np.float32) + self.intercept_).astype(np.float64)
        design = np.hstack([Z, np.ones((len(Z), 1), dtype=np.float32)])
        weighted = design * np.sqrt(p * (1 - p))[:, None].astype(np.float32)
        with limited_threads(1):
            hessian = (weighted.T @ weighted).astype(np.float64)
        prior = np.full(design.shape[1], 1.0 / self.C_)
        prior[-1] = 1e-6
        hessian[np.diag_indices_from(hessian)] += prior
        # Cholesky of the precision: draws = mode + L^-T z have covariance (L L^T)^-1
        lower = np.linalg.cholesky(hessian)
        z = np.random.default_rng([self.seed, 7]).standard_normal((design.shape[1], DRAWS))
        offsets = np.linalg.solve(lower.T, z).T
        return self.coef_[None, :] + offsets[:, :-1], self.intercept_ + offsets[:, -1]

    def _fit(self, Z: np.ndarray, y: np.ndarray, C: float) -> tuple[np.ndarray, float, int]:
        if len(np.unique(y)) < 2:  # one outcome only: the base rate, nothing else to learn
            rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
            return np.zeros(Z.shape[1]), float(np.log(rate / (1 - rate))), 0
        # C is the Gaussian prior's variance per standardised coefficient: a fixed prior, which
        # the data outweighs as it grows (the posterior mode of a Bayesian logistic regression)
        model = LogisticRegression(C=C, max_iter=self.max_iter, solver="lbfgs")
        partial = np.flatnonzero((y > 0.0) & (y < 1.0))
        weight = None
        if len(partial):  # a partial outcome: a recovery weighted by its chance, a loss by the rest
            Z = np.concatenate([Z, Z[partial]])
            weight = np.concatenate([np.where((y > 0.0) & (y < 1.0), y, 1.0), 1.0 - y[partial]])
            y = np.concatenate([(y > 0.0).astype(np.float64), np.zeros(len(partial))])
        with limited_threads(1):
            model.fit(Z, y, sample_weight=weight)
        return model.coef_[0].astype(np.float64), float(model.intercept_[0]), int(model.n_iter_[0])

    def _choose_C(self, Z: np.ndarray, y: np.ndarray) -> float:
        if len(y) < MIN_ROWS_TO_TUNE:
            return C_GRID[len(C_GRID) // 2]
        cut = len(y) - len(y) // 10
        losses = []
        for C in C_GRID:
            coef, intercept, _ = self._fit(Z[:cut], y[:cut], C)
            losses.append(_log_loss(y[cut:], _sigmoid(Z[cut:] @ coef + intercept)))
        return C_GRID[int(np.argmin(losses))]

    # --- prediction ------------------------------------------------------------------------

    def _checked(self, X_context) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise ValueError("FactorModel is not fitted yet: call fit first")
        X = np.asarray(X_context, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"expected {len(FEATURE_NAMES)} context features per row, got shape {X.shape}")
        return X

    def _weights(self, coef=None, intercept=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """(context weights, per-action constant, interaction matrix (interactions x actions),
        intercept) on the raw design: standardisation folded in (of the mode, or of a draw)."""
        w = (self.coef_ if coef is None else coef) / self.scale_
        n, k = len(FEATURE_NAMES), len(ACTION_FACTORS)
        per_action = _FACTOR_VALUES.astype(np.float64) @ w[n : n + k]
        crossed = w[n + k :, None] * _FACTOR_VALUES.T[_I_FACTOR].astype(np.float64)
        return w[:n], per_action, crossed, float((self.intercept_ if intercept is None else intercept) - self.mean_ @ w)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_draw_cache", None)  # derived: rebuilt after loading, never stored
        return state

    @property
    def has_posterior(self) -> bool:
        """Whether posterior draws were kept (versions stored before they were have none)."""
        return hasattr(self, "coef_draws_")

    def _draw_weights(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The draws' weights stacked: context (F, K), per action (K, 60), crossed
        (interactions, K * 60), intercepts (K,); computed once per loaded model."""
        cached = getattr(self, "_draw_cache", None)
        if cached is None:
            parts = [self._weights(c, b) for c, b in zip(self.coef_draws_, self.intercept_draws_, strict=True)]
            cached = (  # float32: the draws are noise of their own, and scoring a slice costs half
                np.stack([p[0] for p in parts], axis=1).astype(np.float32),
                np.stack([p[1] for p in parts]).astype(np.float32),
                np.concatenate([p[2] for p in parts], axis=1).astype(np.float32),
                np.array([p[3] for p in parts], dtype=np.float32),
            )
            self._draw_cache = cached
        return cached

    def draw_logits(self, X: np.ndarray) -> np.ndarray:
        """``(n, DRAWS, 60)`` log-odds (float32) of every action for every context row under every
        posterior draw, by the same decomposition as ``all_logits``; callers score many rows in
        blocks (a row costs DRAWS x 60 values)."""
        X = self._checked(X)
        w_context, per_action, crossed, intercepts = self._draw_weights()
        chosen = X[:, _I_CONTEXT].astype(np.float32)
        chosen[:, _I_SEEN] = chosen[:, _I_SEEN] > 0
        base = X.astype(np.float32) @ w_context + intercepts  # (rows, K)
        crossed_part = (chosen @ crossed).reshape(len(X), len(intercepts), len(ACTIONS))
        return base[:, :, None] + per_action[None] + crossed_part

    def all_logits(self, X: np.ndarray) -> np.ndarray:
        """``(n, 60)`` log-odds of every action for every context row. The model is linear in its
        design, so an action's score is the context's part, the action's constant and the crossed
        context columns times a (interactions x actions) matrix: one small product per block of
        rows, not a design row per (context, action) pair."""
        w_context, per_action, crossed, intercept = self._weights()
        out = np.empty((len(X), len(ACTIONS)), dtype=np.float64)
        for start in range(0, len(X), CHUNK):
            block = X[start : start + CHUNK]
            chosen = block[:, _I_CONTEXT].astype(np.float64)
            chosen[:, _I_SEEN] = chosen[:, _I_SEEN] > 0
            base = block.astype(np.float64) @ w_context + intercept
            out[start : start + CHUNK] = base[:, None] + per_action[None, :] + chosen @ crossed
        return out

    def predict(self, X_context, actions) -> np.ndarray:
        X = self._checked(X_context)
        return self.predict_pairs(X, np.arange(len(X)), actions)

    def predict_pairs(self, X_context, rows, actions) -> np.ndarray:
        """P(reward) of context ``X_context[rows[i]]`` taking ``actions[i]``, for every i."""
        X = self._checked(X_context)
        rows, actions = np.asarray(rows, dtype=np.intp), np.asarray(actions, dtype=np.intp)
        if actions.shape != rows.shape or rows.ndim != 1:
            raise ValueError(f"need one action per row, got {actions.shape} for {rows.shape} rows")
        used, where = np.unique(rows, return_inverse=True)
        return _sigmoid(self.all_logits(X[used])[where, actions])

    def score_actions(self, x_row, action_indices) -> np.ndarray:
        """P(reward) of every action in ``action_indices`` for one context (the online path)."""
        X = self._checked(np.reshape(x_row, (1, -1)))
        return _sigmoid(self.all_logits(X)[0, np.asarray(action_indices, dtype=np.intp)])

    def terms(self, top: int | None = None) -> list[tuple[str, float]]:
        """(design column, change in log-odds per standard deviation of it), largest first."""
        effect = self.coef_ * self.prior_scale_
        order = np.argsort(-np.abs(effect))[:top]
        return [(DESIGN_NAMES[i], float(effect[i])) for i in order]
