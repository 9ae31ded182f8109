"""Epsilon-greedy exploration around any policy, with the exact probability of every choice logged.

With probability ``1 - epsilon`` the base policy's choice stands; with probability ``epsilon`` the
touch takes an action drawn uniformly from the K allowed actions (channel_models.compliance.action_mask). The
probability the decision logs for its action is therefore exact:
``(1 - epsilon) * [action == base choice] + epsilon / K``, which is what lets off-policy
estimators (channel_models.learning.training.evaluation) weigh logged outcomes without bias.

Draws are deterministic: they come from a keyed hash (BLAKE2b, not Python's per-process salted
``hash()``) of the seed, the cart's abandonment time, the touch number and the planning time, so
a replayed or retried plan decides the same, and different workers agree.

A base that stops is not explored: "stop" is not an action, and sending a touch the base declined
could break a limit the base enforces (max touches, the deadline).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from channel_models.actions import ACTIONS
from channel_models.compliance.action_mask import ActionMask, action_mask
from channel_models.context import PlanContext, TouchDecision

_SCALE = float(2**64)


def _micros(moment) -> int:
    # the instant, not its representation: the same moment in two time zones draws the same
    return round(moment.timestamp() * 1_000_000)


def exploration_draws(ctx: PlanContext, seed: int) -> tuple[float, float]:
    """Two uniforms in [0, 1): whether to explore, and which allowed action to take."""
    key = f"{int(seed)}|{_micros(ctx.abandoned_at)}|{int(ctx.touch)}|{_micros(ctx.now)}"
    digest = hashlib.blake2b(key.encode(), digest_size=16, person=b"cr-explore").digest()
    return int.from_bytes(digest[:8], "big") / _SCALE, int.from_bytes(digest[8:], "big") / _SCALE


def check_epsilon(epsilon: float) -> float:
    if not 0.0 <= epsilon <= 1.0:  # also rejects NaN
        raise ValueError(f"epsilon must be within [0, 1], got {epsilon}")
    return float(epsilon)


def epsilon_greedy(
    greedy: int,
    allowed: tuple[int, ...],
    epsilon: float,
    draws: tuple[float, float],
    weights: Sequence[float] | np.ndarray | None = None,
) -> tuple[int, float, bool]:
    """``(action, its exact probability, explored)``; ``greedy`` must be one of ``allowed``.
    ``weights`` (one per allowed action, summing to 1): the exploring draw's distribution, uniform
    when None."""
    if greedy not in allowed:
        raise ValueError(f"greedy action {greedy} is not allowed")
    k = len(allowed)
    explore, pick = draws
    explored = explore < epsilon
    if weights is None:
        index = min(int(pick * k), k - 1)
    else:
        cumulative = np.cumsum(weights)
        index = min(int(np.searchsorted(cumulative, pick * cumulative[-1], side="right")), k - 1)
    action = allowed[index] if explored else greedy
    share = 1.0 / k if weights is None else float(weights[allowed.index(action)])
    return action, (1.0 - epsilon) * (action == greedy) + epsilon * share, explored


def base_action(decision: TouchDecision, mask: ActionMask) -> int | None:
    """The allowed action a policy's decision corresponds to: its own when it names an allowed one,
    else the allowed action of its channel and incentive nearest its send time; None when none is."""
    if decision.action in mask.allowed:
        return decision.action
    if decision.channel is not None and decision.send_at is not None:
        return mask.snap(decision.channel, decision.incentive, decision.send_at)
    return None


class ExploringPolicy:
    """``base`` with epsilon-greedy exploration; policy name ``"<base>+explore"``."""

    def __init__(self, base, epsilon: float = 0.1, seed: int = 0, incentives: bool = True):
        self.base = base
        self.epsilon = epsilon
        self.seed = seed
        self.incentives = incentives  # whether exploration may try incentives the mask allows

    def plan(self, ctx: PlanContext) -> TouchDecision:
        epsilon = check_epsilon(self.epsilon)
        decision = self.base.plan(ctx)
        name = f"{decision.policy}+explore"
        if decision.stop:
            return replace(decision, policy=name)
        mask = action_mask(ctx, decision.bucket, self.incentives)
        allowed = mask.allowed
        greedy = base_action(decision, mask)
        draws = exploration_draws(ctx, self.seed)
        if greedy is not None:
            action, probability, _ = epsilon_greedy(greedy, allowed, epsilon, draws)
        elif allowed and draws[0] < epsilon:
            # The base's choice is no action of the space (no delay bucket of its channel is
            # allowed): it is followed with probability 1 - epsilon and logged without an action.
            action = allowed[min(int(draws[1] * len(allowed)), len(allowed) - 1)]
            probability = epsilon / len(allowed)
        else:
            keep = 1.0 - epsilon if allowed else 1.0
            return replace(decision, policy=name, action=None, allowed_actions=allowed, action_propensity=keep)

        if action == greedy:
            line = f"exploration: kept the {decision.policy} choice (probability {probability:.3f})"
            return replace(
                decision,
                policy=name,
                action=action,
                allowed_actions=allowed,
                action_propensity=probability,
                explanation=(*decision.explanation, line),
            )
        chosen = ACTIONS[action]
        send_at, hold_why = mask.send_at(action)
        channel_allowed, channel_blocked = mask.channels()
        explanation = (
            f"reason {decision.reason} (confidence {decision.reason_confidence:.2f})",
            f"propensity {decision.propensity:.2f} ({decision.bucket})",
            f"exploration: {chosen.label} drawn uniformly from {len(allowed)} allowed actions "
            f"instead of the {decision.policy} choice (probability {probability:.3f})",
            *hold_why,
        )
        return replace(
            decision,
            policy=name,
            channel=chosen.channel,
            send_at=send_at,
            incentive=chosen.incentive,
            allowed=channel_allowed,
            blocked=channel_blocked,
            action=action,
            allowed_actions=allowed,
            action_propensity=probability,
            explanation=explanation,
        )
