"""Fit a candidate policy model and decide, off-policy, whether it has earned promotion.

The RewardModel is fitted on the earlier ``train`` decisions and judged on the later ``evaluate``
decisions only (never a random split of the same days: tomorrow's carts are what it will face).
On the evaluation slice:

* the candidate LearnedPolicy (with the exploration it would run with, and greedy) is valued by
  doubly robust and SNIPS estimates from the logged propensities;
* the baseline is the active policy model, valued the same way on the same rows, or, when no
  policy model is Active, the logged behaviour itself (its on-policy mean reward);
* the paired difference candidate - baseline, row by row on the same rows (for the behaviour:
  DR term - logged reward), with its 95 % interval;
* AUC, calibration error (ECE) and Brier score of the reward model on the logged actions;
* with an active policy, that policy against the rule prior on the rows where the rule prior's
  shadow action was logged (``rule_action``, recorded while the learned policy decided): when the
  active policy's DR value is below the rules' with the same one-sided ``confidence``,
  ``metrics["active_quality_fell"]`` is set, which model_status turns into Alert with the rule
  prior deciding until a better version is promoted.

Promotion needs the difference's one-sided lower bound at ``confidence`` (default 90 %, setting
CR_PROMOTION_CONFIDENCE) above 0: a candidate that merely might be better is not trusted with real
carts. Not 95 %: with epsilon-greedy logs over ~40 allowed actions the estimate is wide, and on
the synthetic shop a candidate that recovered 2.4 points more than the rule prior when it ran
needed about 20,000 logged carts to clear 90 % and would have needed roughly twice that for 95 %
(docs/PERFORMANCE.md); shops wanting more certainty raise the setting. All DR terms share the candidate's reward model as q-hat
(any q keeps DR unbiased with exact propensities; one shared q makes the paired terms comparable).
With ``reward="revenue"`` or ``"margin"`` values and rewards are in money (channel_models.economics:
for margin the gross margin kept, net of the incentive and the channel's send cost); for revenue: recovered cart value net of the
incentive's cost, as LearnedPolicy optimises it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from channel_models.economics import Economics
from channel_models.learning.action_matrices import allowed_matrix, score_matrix
from channel_models.learning.censoring import Pending
from channel_models.learning.factor_model import FactorModel
from channel_models.learning.features import encode_frame
from channel_models.learning.learned_policy import LearnedPolicy
from channel_models.learning.reward_model import RewardModel
from channel_models.learning.training.evaluation import (
    Estimate,
    auc,
    brier,
    calibration_error,
    dr_terms,
    mean_interval,
    paired_difference,
    snips,
)
from channel_models.registry.model_set import LoadedModel, ModelSet

REQUIRED = ("action", "propensity", "reward", "allowed_actions", "value")
MIN_SHADOW_ROWS = 200  # fewer rows with the rules' shadow action: no verdict on the active policy


@dataclass(frozen=True)
class PolicyCandidate:
    model: FactorModel | RewardModel | None  # None: nothing could be learned (``why`` says what is missing)
    metrics: dict[str, Any]  # flat and JSON-ready (None where a figure is undefined)
    promote: bool
    why: str


def _checked(frame: pd.DataFrame, name: str) -> None:
    missing = [c for c in REQUIRED if c not in frame]
    if missing:
        raise ValueError(f"{name} frame lacks columns: {', '.join(missing)}")
    if frame.empty:
        raise ValueError(f"{name} frame has no decisions")
    if frame["propensity"].le(0).any():
        raise ValueError(f"{name} frame has decisions logged with propensity <= 0")


def _json(metrics: dict[str, Any]) -> dict[str, Any]:
    def clean(value):
        if isinstance(value, (float, np.floating)):
            return None if not math.isfinite(value) else float(value)
        if isinstance(value, np.integer):
            return int(value)
        return value

    return {key: clean(value) for key, value in metrics.items()}


def _policy(model: Any, propensity_model, **params) -> LearnedPolicy:
    propensity = None if propensity_model is None else LoadedModel(0, 0, propensity_model)
    policy = None if model is None else LoadedModel(0, 0, model)
    return LearnedPolicy(ModelSet(propensity=propensity, policy=policy), **params)


REWARD_MODELS = ("factor", "trees")


def _reward_model(kind: str, seed: int, tree_params: dict[str, Any] | None) -> FactorModel | RewardModel:
    """ "factor": FactorModel, a regularised logistic regression over the action's factors and their
    interactions with the context (the default); "trees": RewardModel, boosted trees
    (``tree_params`` passed on). Across ten drawn worlds the factor model's greedy policy recovered
    more than the trees' on fresh carts (docs/PERFORMANCE.md), although on the later slice its log
    loss was worse: the trees fit a cart's own chance of returning better, the factor model the
    difference between actions, which is what a policy is made of. Off-policy values could not
    choose between them at this volume (their intervals span tens of points)."""
    if kind == "factor":
        return FactorModel(seed=seed)
    if kind == "trees":
        return RewardModel(seed=seed, **(tree_params or {}))
    raise ValueError(f"reward_model must be one of {REWARD_MODELS}, got {kind!r}")


def one_sided_margin(difference: Estimate, confidence: float) -> tuple[float, float]:
    """(lower, upper) one-sided bounds of a difference at ``confidence``, from its 95 % interval."""
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must be within [0.5, 1), got {confidence}")
    se = (difference.high - difference.low) / (2 * NormalDist().inv_cdf(0.975))
    margin = NormalDist().inv_cdf(confidence) * se
    return difference.value - margin, difference.value + margin


def against_rules(
    evaluate: pd.DataFrame,
    active_probs: np.ndarray,
    q: np.ndarray,
    actions: np.ndarray,
    logged: np.ndarray,
    r: np.ndarray,
    confidence: float,
) -> dict[str, Any]:
    """The active policy's DR value against the rule prior's (its logged shadow action, taken with
    probability 1) on the same rows; ``active_quality_fell`` when the active is below the rules
    with one-sided ``confidence``."""
    rule = evaluate["rule_action"].to_numpy(np.int64) if "rule_action" in evaluate else np.full(len(evaluate), -1)
    rows = np.flatnonzero(rule >= 0)
    if len(rows) < MIN_SHADOW_ROWS:
        return {"rules_rows": int(len(rows))}
    rules_probs = np.zeros((len(rows), active_probs.shape[1]))
    rules_probs[np.arange(len(rows)), rule[rows]] = 1.0
    rules_terms = dr_terms(rules_probs, q[rows], actions[rows], logged[rows], r[rows])
    active_terms = dr_terms(active_probs[rows], q[rows], actions[rows], logged[rows], r[rows])
    difference = paired_difference(active_terms, rules_terms)
    upper = one_sided_margin(difference, confidence)[1]
    return {
        "rules_rows": int(len(rows)),
        **mean_interval(rules_terms).as_dict("rules_dr"),
        **difference.as_dict("active_vs_rules"),
        "active_vs_rules_upper": upper,
        "active_quality_fell": bool(upper < 0),
    }


def train_policy(
    train: pd.DataFrame,
    evaluate: pd.DataFrame,
    *,
    seed: int,
    active: Any = None,
    epsilon: float = 0.1,
    min_incentive_lift: float = 0.02,
    reward: str = "recoveries",
    propensity_model: Any = None,
    model_params: dict[str, Any] | None = None,
    reward_model: str = "factor",
    max_eval_rows: int | None = 100_000,
    confidence: float = 0.9,
    pending: Pending | None = None,
    economics: Economics | None = None,
) -> PolicyCandidate:
    """``active``: the Active policy's RewardModel (or LoadedModel of it, or anything with
    ``action_probs(frame, X=...)``); None compares with the logged behaviour.

    Past ``max_eval_rows`` evaluation decisions, a seeded uniform sample of them is scored:
    scoring costs rows x allowed actions x trees (seconds per 100,000 rows on one core), while
    the interval narrows only with the square root of the rows.

    ``pending``: decisions of carts whose attribution window is still open. The factor model then
    learns from them too, each with its chance of still being recovered (channel_models.learning.
    censoring: the first fit's estimate and how much of the usual delay has passed), refitted with
    the first fit's C; the evaluation stays on the later closed decisions."""
    _checked(train, "train")
    _checked(evaluate, "evaluate")
    rows_eval = len(evaluate)
    if max_eval_rows is not None and rows_eval > max_eval_rows:
        keep = np.sort(np.random.default_rng(seed).choice(rows_eval, max_eval_rows, replace=False))
        evaluate = evaluate.iloc[keep]
    outcomes = set(train["reward"].unique())
    if len(outcomes) < 2:
        # all lost or all recovered: no contrast between actions to learn from
        state = "recovered" if outcomes == {1.0} else "lost"
        return PolicyCandidate(
            None,
            {"rows_train": len(train), "rows_eval": rows_eval},
            False,
            f"every cart in the {len(train)} training decisions was {state}: nothing to learn yet",
        )
    params = dict(epsilon=epsilon, min_incentive_lift=min_incentive_lift, reward=reward, seed=seed, economics=economics)
    _policy(None, None, **params).check_params(fitted=False)  # fail before the costly fitting, not after
    started = time.perf_counter()
    model = _reward_model(reward_model, seed, model_params).fit(
        encode_frame(train), train["action"].to_numpy(dtype=np.intp), train["reward"].to_numpy(dtype=np.float64)
    )
    rows_pending = 0
    if pending is not None and pending.usable and isinstance(model, FactorModel):
        open_X = encode_frame(pending.decisions)
        open_actions = pending.decisions["action"].to_numpy(dtype=np.intp)
        partial = pending.rewards(model.predict(open_X, open_actions))
        rows_pending = len(partial)
        model = FactorModel(seed=seed, C=model.C_).fit(
            np.concatenate([encode_frame(train), open_X]),
            np.concatenate([train["action"].to_numpy(dtype=np.intp), open_actions]),
            np.concatenate([train["reward"].to_numpy(dtype=np.float64), partial]),
        )
    fitted = time.perf_counter()

    X = encode_frame(evaluate)
    actions = evaluate["action"].to_numpy(dtype=np.intp)
    logged = evaluate["propensity"].to_numpy(dtype=np.float64)
    recovered = evaluate["reward"].to_numpy(dtype=np.float64)
    value = evaluate["value"].to_numpy(dtype=np.float64)
    rows = np.arange(len(evaluate))
    p = score_matrix(model, X, allowed_matrix(evaluate))
    candidate = _policy(model, propensity_model, **params)
    greedy = _policy(model, propensity_model, **{**params, "epsilon": 0.0})
    q = candidate.objective(p, value)
    # the logged reward on the objective's scale (money for revenue and margin, as q is)
    r = candidate.economics.realised(recovered, value, actions, reward)

    metrics: dict[str, Any] = {
        "rows_train": len(train),
        "rows_eval": rows_eval,
        "rows_pending": rows_pending,
        "rows_scored": len(evaluate),
        "reward_model": reward_model,
        "top_terms": ", ".join(f"{name} {effect:+.3f}" for name, effect in model.terms(10))
        if isinstance(model, FactorModel)
        else None,
        "rows_fitted": model.rows_fitted_,
        "n_iter": model.n_iter_,
        "reward": reward,
        "epsilon": epsilon,
        "min_incentive_lift": min_incentive_lift,
    }
    terms = {}
    high = candidate.frame_buckets_high(evaluate, X)
    for name, policy in (("candidate", candidate), ("greedy", greedy)):
        probs = policy.action_probs(evaluate, scores=p, X=X, high=high)
        terms[name] = dr_terms(probs, q, actions, logged, r)
        metrics.update(mean_interval(terms[name]).as_dict(f"{name}_dr"))
        metrics.update(snips(probs[rows, actions], logged, r).as_dict(f"{name}_snips"))

    if active is None:
        baseline_kind, baseline_terms = "logged behaviour", r
    else:
        active = getattr(active, "model", active)
        active_policy = active if hasattr(active, "action_probs") else _policy(active, propensity_model, **params)
        baseline_kind = "active policy"
        active_probs = active_policy.action_probs(evaluate, X=X)
        baseline_terms = dr_terms(active_probs, q, actions, logged, r)
        metrics.update(against_rules(evaluate, active_probs, q, actions, logged, r, confidence))
    baseline: Estimate = mean_interval(baseline_terms)
    difference = paired_difference(terms["candidate"], baseline_terms)
    metrics["baseline_kind"] = baseline_kind
    metrics.update(baseline.as_dict("baseline"))
    metrics.update(difference.as_dict("difference"))

    predicted = p[rows, actions]
    metrics.update(
        auc=auc(recovered, predicted), ece=calibration_error(recovered, predicted), brier=brier(recovered, predicted)
    )
    metrics.update(fit_seconds=round(fitted - started, 3), evaluate_seconds=round(time.perf_counter() - fitted, 3))

    bound = one_sided_margin(difference, confidence)[0]
    metrics.update(difference_bound=bound, promotion_confidence=confidence)
    promote = bool(bound > 0)
    verdict = "promote" if promote else "keep the current policy"
    why = (
        f"{verdict}: candidate DR value {metrics['candidate_dr']:.4f} vs {baseline_kind} "
        f"{baseline.value:.4f}; difference {difference.value:+.4f} "
        f"(95 % CI {difference.low:+.4f} .. {difference.high:+.4f}) on {len(evaluate)} later decisions"
        + f"; one-sided {confidence:.0%} lower bound {bound:+.4f}"
        + ("" if promote else ", not above 0")
    )
    if metrics.get("active_quality_fell"):
        why += (
            f"; the active policy now does worse than the rule prior: DR {metrics['active_vs_rules']:+.4f} "
            f"against it on {metrics['rules_rows']} decisions"
        )
    return PolicyCandidate(model=model, metrics=_json(metrics), promote=promote, why=why)
