"""Nightly training: fit a candidate per model kind, evaluate it on a later time slice, and decide
whether it may replace the active version.

Each kind's frame is ordered by its own time column and cut at the time of its 80th-percentile
row (a policy's decisions by when their journey started, so a cart's touches stay together): the
candidate is fitted on the earlier rows and judged on the later ones, never on a random split of
the same days (tomorrow's carts are what it will face). The evaluated model is the one promoted,
so what was measured is what runs. A candidate is promoted only when its kind is past the
learning thresholds and it beats the active version - or the rule prior when none is active:

* propensity - on carts that got no message: AUC higher, and calibration error (ECE) <= 0.05 beyond
  the error chance alone gives on that many carts (``ece_noise``: the expected ECE of a perfectly
  calibrated model on this slice). ECE only grows with noise: with 600 evaluation carts a perfect
  model already shows about 0.04, so a bare 0.05 bar would hold back every small shop's model;
* reason - on labelled reasons: log loss lower (the rule prior's (reason, confidence) becomes a
  distribution: the confidence on its reason, the rest shared evenly);
* policy - ``channel_models.learning.training.policy.train_policy`` judges it (off-policy, paired DR).

With an Active version of any kind, the run also judges that version against the rule prior on
the newest slice (the policy: against the rule prior's shadow actions logged beside its own,
off-policy); worse than the rules sets ``metrics["active_quality_fell"]``, which model_status
turns into Alert with the rule prior deciding until a better version is promoted.

A kind whose data does not exist yet (no holdout carts, fewer than two reasons among the
labels, no decisions) is skipped: it returns no candidate, and ``progress`` says why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from channel_models.economics import Economics
from channel_models.learning.censoring import Pending
from channel_models.learning.features import encode_frame
from channel_models.learning.frames import frame_facts, label_features, time_split
from channel_models.learning.propensity_model import PropensityModel
from channel_models.learning.reason_model import ReasonClassifier
from channel_models.learning.rule_scores import rule_propensity, rule_reason_proba
from channel_models.learning.training.evaluation import auc, brier, calibration_error
from channel_models.registry.model_status import DataFacts, Thresholds, thresholds_remaining
from channel_models.vocabulary import REASONS

MAX_ECE = 0.05
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Candidate:
    kind: str
    model: Any
    metrics: dict[str, Any]
    promote: bool
    why: str
    data_from: datetime
    data_to: datetime
    eval_from: datetime
    eval_to: datetime
    rows_train: int
    rows_eval: int


def _when(frame: pd.DataFrame, column: str) -> tuple[datetime, datetime]:
    return frame[column].iloc[0].to_pydatetime(warn=False), frame[column].iloc[-1].to_pydatetime(warn=False)


def _candidate(kind, model, metrics, promote, why, train, evaluate, column) -> Candidate:
    (data_from, data_to), (eval_from, eval_to) = _when(train, column), _when(evaluate, column)
    return Candidate(
        kind, model, metrics, promote, why, data_from, data_to, eval_from, eval_to, len(train), len(evaluate)
    )


def _calibration_noise(p: np.ndarray, bins: int = 10) -> float:
    """Expected ``calibration_error`` if outcomes were drawn from ``p`` itself: per bin, the observed rate misses
    the mean prediction by E|N(0, sum p(1-p) / n^2)| = sigma * sqrt(2 / pi), weighted by bin size."""
    index = np.minimum((p * bins).astype(int), bins - 1)
    noise = 0.0
    for b in np.unique(index):
        inside = p[index == b]
        noise += len(inside) / len(p) * np.sqrt((inside * (1 - inside)).sum()) / len(inside) * np.sqrt(2 / np.pi)
    return float(noise)


def _propensity_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"auc": auc(y, p), "ece": calibration_error(y, p), "brier": brier(y, p)}


AUC_CONFIDENCE = 0.9  # one-sided: a propensity model must rank the later carts better than this surely
BOOTSTRAP_ROUNDS = 300


def _auc_gain_low(y: np.ndarray, p: np.ndarray, p_base: np.ndarray, seed: int) -> float:
    """The one-sided AUC_CONFIDENCE lower bound of AUC(p) - AUC(p_base) on these carts, by a paired
    bootstrap: with a hundred later holdout carts and a dozen recoveries an AUC moves by +-0.1 from
    chance alone, so a bare "higher" promoted noise (measured across drawn worlds: models promoted
    that way made the rule prior's decisions worse, docs/PERFORMANCE.md)."""
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(BOOTSTRAP_ROUNDS):
        rows = rng.integers(0, len(y), len(y))
        if 0 < y[rows].sum() < len(rows):
            gains.append(auc(y[rows], p[rows]) - auc(y[rows], p_base[rows]))
    return float(np.quantile(gains, 1 - AUC_CONFIDENCE)) if gains else float("-inf")


def _proba_over_reasons(model: Any, X: np.ndarray) -> np.ndarray:
    """A classifier's probabilities in REASONS order (reasons it never saw get 0)."""
    proba, out = model.predict_proba(X), np.zeros((len(X), len(REASONS)))
    for j, reason in enumerate(model.classes_):
        out[:, REASONS.index(str(reason))] = proba[:, j]
    return out


def _reason_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    truth = np.array([REASONS.index(r) for r in y])
    picked = np.clip(proba[np.arange(len(y)), truth], 1e-15, 1.0)
    return {"log_loss": float(-np.log(picked).mean()), "accuracy": float((proba.argmax(axis=1) == truth).mean())}


def _active_model(active: Any, kind: str) -> Any:
    return active.get(kind) if isinstance(active, Mapping) else getattr(active, kind, None)


def _past_thresholds(kind, facts_by_kind, frames_facts, thresholds, now) -> tuple[bool, str]:
    facts = (facts_by_kind or {}).get(kind) or frames_facts
    remaining = thresholds_remaining(kind, facts, thresholds, now)
    missing = [f"{value:g} {name}" for name, value in remaining.items() if value > 0]
    return (not missing), ("still learning, needs " + ", ".join(missing)) if missing else ""


def _train_propensity(carts, seed, baseline, gate) -> Candidate | str:
    if carts.empty:
        return "no carts with an outcome yet"
    # the holdout only: a treated cart that got no message is mostly one whose shopper ordered
    # before the first send was due - kept, it would make "came back" partly its own cause
    pool = carts[carts["holdout"].astype(bool)]
    if pool.empty:
        return "no holdout carts yet"
    try:
        train, evaluate = time_split(pool, "abandoned_at")
        model = PropensityModel(seed=seed).fit(encode_frame(train), train["recovered"].to_numpy(bool))
    except ValueError as err:
        return str(err)
    recent = carts[carts["abandoned_at"] >= evaluate["abandoned_at"].iloc[0]]
    model.set_bucket_edges(model.predict_proba(encode_frame(recent))[:, 1])
    y = evaluate["recovered"].to_numpy(bool).astype(float)
    if y.all() or not y.any():
        why = "the evaluation slice has a single outcome"
        return _candidate("propensity", model, {}, False, why, train, evaluate, "abandoned_at")
    X = encode_frame(evaluate)
    p = model.predict_proba(X)[:, 1]
    metrics: dict[str, Any] = _propensity_metrics(y, p)
    name = f"version {baseline.version}" if baseline is not None else "the rule prior"
    p_base = baseline.model.predict_proba(X)[:, 1] if baseline is not None else rule_propensity(evaluate)
    metrics |= {f"baseline_{k}": v for k, v in _propensity_metrics(y, p_base).items()}
    metrics["ece_noise"] = _calibration_noise(p)
    metrics["auc_gain_low"] = _auc_gain_low(y, p, p_base, seed)
    metrics["bucket_edges"] = list(model.bucket_edges_)
    if baseline is not None:
        # the Active version against the rule prior on the newest carts: when the rule score now
        # ranks them better, the model's quality fell (model_status: Alert, the rule prior decides)
        rule_auc = _propensity_metrics(y, rule_propensity(evaluate))["auc"]
        metrics["active_quality_fell"] = bool(metrics["baseline_auc"] < rule_auc)
    past, learning = gate("propensity")
    limit = MAX_ECE + metrics["ece_noise"]
    better = metrics["auc_gain_low"] > 0 and metrics["ece"] <= limit
    why = (
        f"AUC {metrics['auc']:.3f} vs {metrics['baseline_auc']:.3f} for {name} "
        f"(gain's {AUC_CONFIDENCE:.0%} lower bound {metrics['auc_gain_low']:+.3f}), ECE {metrics['ece']:.3f} "
        f"(limit {limit:.3f}: {MAX_ECE} + {metrics['ece_noise']:.3f} chance)"
    )
    why += f"; {learning}" if not past else ""
    return _candidate("propensity", model, metrics, past and better, why, train, evaluate, "abandoned_at")


def _train_reason(labels, seed, baseline, gate) -> Candidate | str:
    if labels.empty:
        return "no labelled reasons yet"
    try:
        train, evaluate = time_split(label_features(labels), "labelled_at")
        model = ReasonClassifier(seed=seed).fit(encode_frame(train), train["label"].to_numpy(object))
    except ValueError as err:
        return str(err)
    y = evaluate["label"].to_numpy(object)
    X = encode_frame(evaluate)
    metrics = _reason_metrics(y, _proba_over_reasons(model, X))
    name = f"version {baseline.version}" if baseline is not None else "the rule prior"
    p_base = _proba_over_reasons(baseline.model, X) if baseline is not None else rule_reason_proba(evaluate)
    metrics |= {f"baseline_{k}": v for k, v in _reason_metrics(y, p_base).items()}
    if baseline is not None:  # as for the propensity: the Active version now worse than the rules
        rule_loss = _reason_metrics(y, rule_reason_proba(evaluate))["log_loss"]
        metrics["active_quality_fell"] = bool(metrics["baseline_log_loss"] > rule_loss)
    past, learning = gate("reason")
    better = metrics["log_loss"] < metrics["baseline_log_loss"]
    why = (
        f"log loss {metrics['log_loss']:.3f} vs {metrics['baseline_log_loss']:.3f} for {name}, accuracy "
        f"{metrics['accuracy']:.3f} vs {metrics['baseline_accuracy']:.3f}"
    )
    why += f"; {learning}" if not past else ""
    return _candidate("reason", model, metrics, past and better, why, train, evaluate, "labelled_at")


def _train_policy(decisions, seed, active, gate, **policy_params) -> Candidate | str:
    """``propensity_model`` in policy_params: the one the policy will run beside (it masks
    incentives by bucket) - this run's promoted candidate, else the active version, else None."""
    if decisions.empty:
        return "no logged decisions yet"
    # imported here: the policy trainer pulls in the bandit, which propensity/reason training never needs
    from channel_models.learning.training.policy import train_policy

    # a cart's decisions stay on one side of the cut (its later touches are not "the future" of
    # its own first touch), sliced by when its journey started
    decisions = decisions.assign(journey_started_at=decisions.groupby("cart_id")["decided_at"].transform("min"))
    try:
        train, evaluate = time_split(decisions, "journey_started_at")
    except ValueError as err:
        return str(err)
    train, evaluate = train.drop(columns="journey_started_at"), evaluate.drop(columns="journey_started_at")
    train, evaluate = train.sort_values("decided_at", kind="stable"), evaluate.sort_values("decided_at", kind="stable")
    result = train_policy(train, evaluate, seed=seed, active=active, **policy_params)
    if result.model is None:
        return result.why
    past, learning = gate("policy")
    why = result.why + (f"; {learning}" if not past else "")
    promote = past and result.promote
    return _candidate("policy", result.model, dict(result.metrics), promote, why, train, evaluate, "decided_at")


def _propensity_beside(candidates: list[Candidate], active: Any) -> Any:
    promoted = [c.model for c in candidates if c.kind == "propensity" and c.promote]
    loaded = _active_model(active, "propensity")
    return promoted[0] if promoted else getattr(loaded, "model", None)


def train_models(
    decisions: pd.DataFrame,
    carts: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    now: datetime,
    seed: int,
    thresholds: Thresholds,
    active: Any = None,
    epsilon: float,
    min_incentive_lift: float,
    reward: str,
    promotion_confidence: float = 0.9,
    reward_model: str = "factor",
    facts_by_kind: Mapping[str, DataFacts] | None = None,
    progress: Progress | None = None,
    pending: Pending | None = None,
    economics: Economics | None = None,
) -> list[Candidate]:
    """One candidate per kind that has data, in the order propensity, reason, policy.

    ``active``: a ModelSet or a {kind: LoadedModel-like or None} mapping. ``facts_by_kind`` gates
    promotion; a kind without facts there is gated on ``frame_facts`` of these frames."""
    report = progress or (lambda step, done, total: None)
    derived = frame_facts(decisions, carts, labels, now)

    def gate(kind: str) -> tuple[bool, str]:
        return _past_thresholds(kind, facts_by_kind, derived, thresholds, now)

    steps = (
        ("propensity", lambda: _train_propensity(carts, seed, _active_model(active, "propensity"), gate)),
        ("reason", lambda: _train_reason(labels, seed, _active_model(active, "reason"), gate)),
        (
            "policy",
            lambda: _train_policy(
                decisions,
                seed,
                _active_model(active, "policy"),
                gate,
                epsilon=epsilon,
                min_incentive_lift=min_incentive_lift,
                reward=reward,
                confidence=promotion_confidence,
                reward_model=reward_model,
                propensity_model=_propensity_beside(candidates, active),
                pending=pending,
                economics=economics,
            ),
        ),
    )
    candidates: list[Candidate] = []
    for done, (kind, step) in enumerate(steps):
        report(f"training {kind}", done, len(steps))
        outcome = step()
        if isinstance(outcome, Candidate):
            candidates.append(outcome)
        else:
            report(f"{kind} skipped: {outcome}", done + 1, len(steps))
    report("trained", len(steps), len(steps))
    return candidates
