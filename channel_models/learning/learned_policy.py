"""The learned recovery policy (``"bandit-v<version>"``): the reward model picks the action.

For one touch it:

1. assesses the cart - abandonment reason from the reason classifier when one is Active, else the
   rule prior (channel_models.rules.reasons); conversion propensity and its bucket from the propensity
   model when Active (its quantile ``bucket_edges_``), else the cold-start score
   (channel_models.rules.propensity);
2. masks the actions (channel_models.compliance.action_mask) - consent, capture, quiet hours, caps, the
   deadline, and no incentive for High / Very high buckets;
3. scores every allowed action with the reward model and ranks them by the objective
   (channel_models.economics): ``recoveries`` - P(recovered); ``revenue`` - P x cart value x
   (1 - the incentive's cost); ``margin`` - P x cart value x (gross margin - the incentive's
   cost) - the channel's send cost;
4. offers an incentive only when the best incentive action adds at least ``min_incentive_lift``
   to the estimated recovery rate of the best action without one (and, for revenue, still earns
   more after its cost), so margin is not given away to shoppers who would buy anyway;
5. explores with probability epsilon and logs the exact probability of what it did. An exploring
   draw is, half the time, Thompson sampling - one of the reward model's posterior draws
   (FactorModel.coef_draws_) picked at random, and the action that draw ranks first - and
   otherwise uniform over the allowed actions. So exploration goes where the model is unsure
   which action is best, not to actions it already knows are poor, while every allowed action
   keeps a chance (off-policy estimates need it); the probability is exact because the draws are
   a fixed bank kept with the model. A reward model without draws (trees, or a version stored
   before) explores uniformly.

``action_probs(frame)`` applies the same choice to logged decision rows (vectorised), giving the
policy's probability of every action on each row for off-policy evaluation. A row's allowed
actions there are the logged ones, minus incentives when this policy's bucket for the row is
High / Very high: actions the logging policy could not take have no data to be judged on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.special import expit

from channel_models.actions import ACTIONS
from channel_models.compliance.action_mask import NO_INCENTIVE_BUCKETS, action_mask
from channel_models.context import PlanContext, TouchDecision
from channel_models.economics import REWARDS, Economics
from channel_models.learning.action_matrices import allowed_matrix, score_matrix
from channel_models.learning.features import encode_frame, encode_row, snapshot
from channel_models.learning.rule_scores import rule_propensity
from channel_models.rules.exploration import check_epsilon, epsilon_greedy, exploration_draws
from channel_models.rules.propensity import (
    DEFAULT_EDGES,
    bucket_for,
    self_recovery_propensity,
)
from channel_models.rules.reasons import infer_reason
from channel_models.vocabulary import BUCKETS

if TYPE_CHECKING:
    from channel_models.registry.model_set import ModelSet

N_ACTIONS = len(ACTIONS)
PLAIN = np.array([a.incentive is None for a in ACTIONS])  # actions without an incentive
HIGH_BUCKETS = [BUCKETS.index(b) for b in NO_INCENTIVE_BUCKETS]
POSTERIOR_SHARE = 0.5  # of exploring draws: Thompson sampling from the posterior; the rest uniform
BLOCK = 2_048  # rows scored under every posterior draw at once


@dataclass(frozen=True)
class Assessment:
    reason: str
    reason_confidence: float
    propensity: float
    bucket: str


def assess(ctx: PlanContext, x_row: np.ndarray, reason_model: Any = None, propensity_model: Any = None) -> Assessment:
    """Reason and propensity of one cart: the Active models' view, else the rule priors'."""
    if reason_model is not None:
        reason, confidence = reason_model.predict_reason(x_row)
    else:
        reason, confidence = infer_reason(ctx.signal_counts, ctx.stage)
    if propensity_model is not None:
        p = float(propensity_model.predict_proba(np.reshape(x_row, (1, -1)))[0, 1])
        bucket = bucket_for(min(1.0, max(0.0, p)), propensity_model.bucket_edges_)
    else:
        p = self_recovery_propensity(ctx)
        bucket = bucket_for(p)
    return Assessment(reason, float(confidence), p, bucket)


def choose(p: np.ndarray, value: np.ndarray, allowed: np.ndarray, lift: float) -> tuple[np.ndarray, ...]:
    """Greedy action per row of ``(n, 60)`` recovery probabilities and objective ``value``.

    Returns ``(greedy, best_plain, best_incentive, gives_incentive)``; rows need an allowed action.
    argmax keeps the lowest index among ties, on every path, so plan() and action_probs() agree.
    """
    rows = np.arange(len(p))
    plain_ok, incentive_ok = allowed & PLAIN, allowed & ~PLAIN
    best_plain = np.argmax(np.where(plain_ok, value, -np.inf), axis=1)
    best_incentive = np.argmax(np.where(incentive_ok, value, -np.inf), axis=1)
    has_plain, has_incentive = plain_ok.any(axis=1), incentive_ok.any(axis=1)
    adds = p[rows, best_incentive] - p[rows, best_plain]
    beats = (adds >= lift) & (value[rows, best_incentive] > value[rows, best_plain])
    gives = has_incentive & (~has_plain | beats)
    return np.where(gives, best_incentive, best_plain), best_plain, best_incentive, gives


class LearnedPolicy:
    def __init__(
        self,
        models: ModelSet,
        epsilon: float = 0.1,
        min_incentive_lift: float = 0.02,
        reward: str = "recoveries",
        seed: int = 0,
        economics: Economics | None = None,
    ):
        self.models = models
        self.epsilon = epsilon
        self.min_incentive_lift = min_incentive_lift
        self.reward = reward
        self.seed = seed
        self.economics = economics or Economics()

    # --- shared by plan() and action_probs() ---------------------------------------------------

    def check_params(self, fitted: bool = True) -> None:
        """The parameters are valid (and, with ``fitted``, a policy model is there to decide)."""
        if fitted and (self.models is None or self.models.policy is None):
            raise ValueError("LearnedPolicy needs an Active policy model (models.policy)")
        check_epsilon(self.epsilon)
        if self.reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {self.reward!r}")
        self.economics.check()

    def _model(self, kind: str) -> Any:
        loaded = getattr(self.models, kind)
        return None if loaded is None else loaded.model

    def objective(self, p: np.ndarray, cart_value: np.ndarray) -> np.ndarray:
        """``(n, 60)`` objective from ``(n, 60)`` recovery probabilities."""
        return self.economics.objective(p, cart_value, self.reward)

    def exploration_weights(self, X: np.ndarray, allowed: np.ndarray, cart_value: np.ndarray) -> np.ndarray | None:
        """``(n, 60)`` distribution of an exploring draw on each row: POSTERIOR_SHARE on the share
        of posterior draws under which each action ranks first, the rest uniform over the allowed
        actions; None when the reward model keeps no posterior draws (explore uniformly)."""
        model = self._model("policy")
        if not getattr(model, "has_posterior", False):
            return None
        k = allowed.sum(axis=1, keepdims=True)
        shares = np.zeros(allowed.shape)
        for start in range(0, len(X), BLOCK):
            logits = model.draw_logits(X[start : start + BLOCK])
            rows, draws, _ = logits.shape
            p = expit(logits.astype(np.float64)).reshape(rows * draws, N_ACTIONS)
            ok = np.repeat(allowed[start : start + BLOCK], draws, axis=0)
            value = self.objective(p, np.repeat(cart_value[start : start + BLOCK], draws))
            best, *_ = choose(p, np.where(ok, value, -np.inf), ok, self.min_incentive_lift)
            np.add.at(shares[start : start + BLOCK], (np.repeat(np.arange(rows), draws), best), 1.0 / draws)
        uniform = np.where(allowed, 1.0 / np.maximum(k, 1), 0.0)
        return np.where(k > 0, (1 - POSTERIOR_SHARE) * uniform + POSTERIOR_SHARE * shares, 0.0)

    @property
    def name(self) -> str:
        policy = self.models.policy
        return f"bandit-v{policy.version}" if policy is not None else "bandit"

    # --- one touch -----------------------------------------------------------------------------

    def plan(self, ctx: PlanContext) -> TouchDecision:
        self.check_params()
        if ctx.touch < 1 or ctx.max_touches < 0:
            raise ValueError(f"touch must be >= 1 and max_touches >= 0, got {ctx.touch} and {ctx.max_touches}")
        if any(getattr(ctx, n).tzinfo is None for n in ("now", "abandoned_at", "deadline")):
            raise ValueError("PlanContext times must be timezone-aware")
        x = encode_row(snapshot(ctx))
        cart = assess(ctx, x, self._model("reason"), self._model("propensity"))
        mask = action_mask(ctx, cart.bucket)
        channel_allowed, channel_blocked = mask.channels()
        explanation = [
            f"reason {cart.reason} (confidence {cart.reason_confidence:.2f})",
            f"propensity {cart.propensity:.2f} ({cart.bucket})",
        ]
        common: dict[str, Any] = dict(
            reason=cart.reason,
            reason_confidence=cart.reason_confidence,
            propensity=cart.propensity,
            bucket=cart.bucket,
            allowed=channel_allowed,
            blocked=channel_blocked,
            policy=self.name,
            allowed_actions=mask.allowed,
            model_versions={
                kind: loaded.version_id
                for kind in ("reason", "propensity", "policy")
                if (loaded := getattr(self.models, kind)) is not None
            },
        )
        stop_reason = None
        if ctx.touch > ctx.max_touches:
            stop_reason = f"touch {ctx.touch} exceeds max_touches {ctx.max_touches}"
        elif ctx.now > ctx.deadline:
            stop_reason = "attribution window already closed"
        elif not mask.allowed:
            stop_reason = "no permitted action: " + "; ".join(f"{k} {why}" for k, why in mask.blocked.items())
        if stop_reason is not None:
            return TouchDecision(
                stop=True,
                stop_reason=stop_reason,
                channel=None,
                send_at=None,
                incentive=None,
                explanation=(*explanation, f"stop: {stop_reason}"),
                **common,
            )

        allowed = np.zeros((1, N_ACTIONS), dtype=bool)
        allowed[0, list(mask.allowed)] = True
        p = np.full((1, N_ACTIONS), np.nan)
        p[0, list(mask.allowed)] = self._model("policy").score_actions(x, mask.allowed)
        value = self.objective(p, np.array([ctx.cart_value]))
        greedy, plain, incentive, gives = (int(v[0]) for v in choose(p, value, allowed, self.min_incentive_lift))
        epsilon = float(self.epsilon)
        guided = self.exploration_weights(x.reshape(1, -1), allowed, np.array([ctx.cart_value])) if epsilon else None
        weights = None if guided is None else guided[0, list(mask.allowed)]
        draws = exploration_draws(ctx, self.seed)
        action, probability, explored = epsilon_greedy(greedy, mask.allowed, epsilon, draws, weights)
        send_at, hold_why = mask.send_at(action)
        chosen = ACTIONS[action]

        ranked = sorted(mask.allowed, key=lambda a: (-value[0, a], a))[:3]
        unit = {"recoveries": "P(recover)", "revenue": "expected net revenue", "margin": "expected margin"}[self.reward]
        explanation.append(
            f"top actions by {unit}: " + ", ".join(f"{ACTIONS[a].label} {value[0, a]:.3f}" for a in ranked)
        )
        explanation.append(self._incentive_line(p[0], plain, incentive, gives, allowed[0]))
        if explored:
            how = "uniformly" if weights is None else "from the reward model's posterior mixed with a uniform draw"
            explanation.append(
                f"exploration: {chosen.label} drawn {how} over "
                f"{len(mask.allowed)} allowed actions (probability {probability:.3f})"
            )
        else:
            explanation.append(f"chose {chosen.label}, the best estimate (probability {probability:.3f})")
        return TouchDecision(
            stop=False,
            stop_reason=None,
            channel=chosen.channel,
            send_at=send_at,
            incentive=chosen.incentive,
            explanation=(*explanation, *hold_why),
            action=action,
            action_propensity=probability,
            **common,
        )

    def _incentive_line(self, p, plain: int, incentive: int, gives: int, allowed) -> str:
        if not (allowed & ~PLAIN).any():
            return "no incentive: none allowed for this cart"
        adds = p[incentive] - p[plain]
        versus = f"{ACTIONS[incentive].label} adds {adds:+.3f} recovery rate over {ACTIONS[plain].label}"
        if gives:
            return f"incentive {ACTIONS[incentive].incentive}: {versus} (>= {self.min_incentive_lift:g})"
        if adds < self.min_incentive_lift:
            return f"no incentive: {versus} (< {self.min_incentive_lift:g})"
        return f"no incentive: {versus}, but earns less after its cost"

    # --- logged rows ---------------------------------------------------------------------------

    def frame_buckets_high(self, frame: pd.DataFrame, X: np.ndarray) -> np.ndarray:
        """Whether this policy puts each row in a High / Very high bucket (no incentive)."""
        model = self._model("propensity")
        if model is not None:
            p = np.clip(model.predict_proba(X)[:, 1], 0.0, 1.0)
            index = np.searchsorted(np.asarray(model.bucket_edges_), p, side="right")  # bisect_right
        else:
            index = np.searchsorted(np.asarray(DEFAULT_EDGES), rule_propensity(frame), side="right")
        return np.isin(index, HIGH_BUCKETS)

    def frame_scores(self, frame: pd.DataFrame, X: np.ndarray | None = None) -> np.ndarray:
        """``(n, 60)`` P(recover) of every logged allowed action (NaN where not allowed)."""
        self.check_params()
        X = encode_frame(frame) if X is None else X
        return score_matrix(self._model("policy"), X, allowed_matrix(frame))

    def action_probs(
        self,
        frame: pd.DataFrame,
        scores: np.ndarray | None = None,
        X: np.ndarray | None = None,
        high: np.ndarray | None = None,
    ) -> np.ndarray:
        """``(n, 60)`` probability this policy gives each action on each logged decision row.
        ``scores`` (frame_scores), ``X`` (encode_frame) and ``high`` (frame_buckets_high) may be
        passed in when already computed for this frame."""
        self.check_params()
        X = encode_frame(frame) if X is None else X
        allowed = allowed_matrix(frame)
        allowed[self.frame_buckets_high(frame, X) if high is None else high] &= PLAIN
        p = self.frame_scores(frame, X) if scores is None else scores
        p = np.where(allowed, p, np.nan)
        values = frame["value"] if "value" in frame else frame["cart_value"]
        value = self.objective(p, values.to_numpy(dtype=np.float64))
        greedy, *_ = choose(np.nan_to_num(p), np.where(allowed, value, -np.inf), allowed, self.min_incentive_lift)
        k = allowed.sum(axis=1, keepdims=True)
        guided = self.exploration_weights(X, allowed, values.to_numpy(dtype=np.float64)) if self.epsilon else None
        if guided is None:
            probs = np.where(allowed, self.epsilon / np.maximum(k, 1), 0.0)
        else:
            probs = self.epsilon * guided
        has = k[:, 0] > 0
        probs[np.flatnonzero(has), greedy[has]] += 1.0 - self.epsilon
        return probs
