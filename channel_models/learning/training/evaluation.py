"""Off-policy and model-quality estimates, each with a 95 % interval where it is an estimate.

A policy that was never run is valued on decisions another policy logged, by reweighting each
logged outcome with how much more (or less) likely the candidate was to take the logged action
than the logging policy was (``target / logged``, the logged probabilities being exact):

* ``snips`` - self-normalised inverse propensity scoring: sum(w r) / sum(w). Normalising by the
  weights' sum trades a small bias for far less variance when weights are large. Interval by the
  delta method: Var ~ Var(w (r - V)) / (n mean(w)^2). Deterministic (no resampling).
* ``doubly_robust`` - per row, the reward model's expected value under the candidate plus an
  importance-weighted correction of that model's error on the logged action:
  ``sum_a pi(a|x) q(x, a) + pi(a_i|x) / p_i (r_i - q(x, a_i))``. Unbiased when either the
  propensities or the reward model are right; interval = mean +- 1.96 sd / sqrt(n) of those terms.
* ``paired_difference`` - two policies' DR terms on the same rows, subtracted row by row: the rows'
  shared noise cancels, so the interval of the difference is much tighter than two separate ones.

Model quality on held-out rows: ``auc`` (ranking), ``calibration_error`` (ECE over 10 equal-width
bins: do predicted probabilities match observed rates), ``brier`` (mean squared error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    n: int

    def as_dict(self, prefix: str) -> dict[str, float | int]:
        return {prefix: self.value, f"{prefix}_low": self.low, f"{prefix}_high": self.high, f"{prefix}_n": self.n}


def _vector(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or len(array) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} has NaN or infinite values")
    return array


def _same_length(**arrays: np.ndarray) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"arrays must have one entry per logged row, got lengths {lengths}")


def _logged(props) -> np.ndarray:
    props = _vector(props, "logged_props")
    if (props <= 0).any() or (props > 1).any():
        raise ValueError("logged propensities must be within (0, 1]")
    return props


def mean_interval(terms) -> Estimate:
    """Mean of per-row terms +- 1.96 standard errors."""
    terms = _vector(terms, "terms")
    mean = float(terms.mean())
    half = Z95 * float(terms.std(ddof=1)) / math.sqrt(len(terms)) if len(terms) > 1 else math.inf
    return Estimate(mean, mean - half, mean + half, len(terms))


def snips(target_probs, logged_props, rewards) -> Estimate:
    """Self-normalised IPS value of the target policy; ``target_probs`` of each logged action."""
    target, props, rewards = _vector(target_probs, "target_probs"), _logged(logged_props), _vector(rewards, "rewards")
    _same_length(target_probs=target, logged_props=props, rewards=rewards)
    weights = target / props
    total = weights.sum()
    if total <= 0:
        # The target never takes any logged action: the log says nothing about it.
        return Estimate(math.nan, math.nan, math.nan, len(weights))
    value = float((weights * rewards).sum() / total)
    n = len(weights)
    spread = float(np.sqrt(np.mean((weights * (rewards - value)) ** 2))) / float(weights.mean())
    half = Z95 * spread / math.sqrt(n) if n > 1 else math.inf
    return Estimate(value, value - half, value + half, n)


def dr_terms(target_probs_all, q_hat_all, actions, logged_props, rewards) -> np.ndarray:
    """Per-row doubly robust terms; ``*_all`` are ``(n, n_actions)``, q may be NaN where the
    target's probability is 0 (actions never scored because they were not allowed)."""
    target = np.asarray(target_probs_all, dtype=np.float64)
    q = np.asarray(q_hat_all, dtype=np.float64)
    actions = np.asarray(actions, dtype=np.intp)
    props, rewards = _logged(logged_props), _vector(rewards, "rewards")
    if target.ndim != 2 or q.shape != target.shape:
        raise ValueError(f"target probabilities {target.shape} and q_hat {q.shape} must be (n, n_actions)")
    _same_length(target_probs=target, actions=actions, logged_props=props, rewards=rewards)
    if np.isnan(q[target > 0]).any():
        raise ValueError("q_hat is missing for an action the target policy may take")
    rows = np.arange(len(target))
    direct = np.where(target > 0, target * np.nan_to_num(q), 0.0).sum(axis=1)
    q_logged = np.nan_to_num(q[rows, actions])
    return direct + target[rows, actions] / props * (rewards - q_logged)


def doubly_robust(target_probs_all, q_hat_all, actions, logged_props, rewards) -> Estimate:
    return mean_interval(dr_terms(target_probs_all, q_hat_all, actions, logged_props, rewards))


def paired_difference(terms_a, terms_b) -> Estimate:
    """Value of policy a minus policy b from their per-row terms on the same logged rows."""
    a, b = _vector(terms_a, "terms_a"), _vector(terms_b, "terms_b")
    _same_length(terms_a=a, terms_b=b)
    return mean_interval(a - b)


def auc(y_true, scores) -> float:
    """ROC AUC; NaN when only one outcome occurs (nothing to rank)."""
    y = _vector(y_true, "y_true")
    if len(np.unique(y)) < 2:
        return math.nan
    return float(roc_auc_score(y, _vector(scores, "scores")))


def calibration_error(y_true, probs, bins: int = 10) -> float:
    """Expected calibration error: bin-size-weighted |observed rate - mean prediction|."""
    y, p = _vector(y_true, "y_true"), _vector(probs, "probs")
    _same_length(y_true=y, probs=p)
    index = np.minimum((np.clip(p, 0.0, 1.0) * bins).astype(np.intp), bins - 1)
    counts = np.bincount(index, minlength=bins)
    gap = np.abs(np.bincount(index, y, bins) - np.bincount(index, p, bins))
    return float(gap.sum() / counts.sum())


def brier(y_true, probs) -> float:
    y, p = _vector(y_true, "y_true"), _vector(probs, "probs")
    _same_length(y_true=y, probs=p)
    return float(np.mean((p - y) ** 2))


def policy_action_probs(policy_like, frame) -> np.ndarray:
    """``(n, n_actions)`` probabilities a candidate gives every action on each logged row.

    The candidate must be able to decide from the logged features alone (``action_probs``, as
    LearnedPolicy does); rule policies read the full planning context, which rows do not keep.
    """
    if not hasattr(policy_like, "action_probs"):
        raise TypeError(
            f"{type(policy_like).__name__} cannot be evaluated on logged rows: it has no action_probs(frame)"
        )
    return np.asarray(policy_like.action_probs(frame), dtype=np.float64)
