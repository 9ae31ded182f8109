"""The hard mask over the bandit's 60 actions: which (channel, delay, incentive) may carry a touch.

An action is allowed only when every rule below holds; the first rule it fails names why, in
plain English, for the decision log and the reports:

1. channel - channel_models.compliance.eligibility at the planned send time ``now + delay`` (the SMS 48 h
   window is judged when the message would leave, not now);
2. deadline - the planned time must not pass the attribution deadline, and neither may the time
   quiet hours and frequency caps hold it to (channel_models.compliance.send_window); a held time is checked
   against the channel rules again, since a hold can push an SMS out of its 48 h window;
3. incentive - only incentives whose code the shop configured (``ctx.incentives_available``),
   none to a shopper who has had the cap's incentives within its days (``ctx.incentives_capped``:
   abandoning again is not a way to collect codes), and none for the propensity buckets High /
   Very high (they would buy anyway: margin given away).
   A policy may also switch incentives off altogether (``incentives_allowed=False``).

Every policy chooses among ``ActionMask.allowed`` only: masked actions are removed, never just
down-weighted, so exploration cannot reach them either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from channel_models.actions import ACTIONS, DELAY_HOURS, DELAY_LABELS, INCENTIVE_OPTIONS, action_index
from channel_models.compliance.eligibility import channel_masks
from channel_models.compliance.send_window import held_until, send_times
from channel_models.context import PlanContext
from channel_models.vocabulary import CHANNELS, INCENTIVES

NO_INCENTIVE_BUCKETS = ("High", "Very high")
AFTER_DEADLINE = "would go out after the attribution deadline"

Held = tuple[datetime, tuple[str, ...]]


@dataclass(frozen=True)
class ActionMask:
    """The allowed actions of one context, why the rest are masked, and their held send times."""

    now: datetime
    allowed: tuple[int, ...]
    # "sms" (every delay of the channel) / "sms/48h" (one delay) / "discount" -> why it is masked
    blocked: dict[str, str]
    held: dict[tuple[str, float], Held] = field(default_factory=dict)  # (channel, delay) -> time, why

    def send_at(self, action: int) -> Held:
        """When ``action`` goes out (quiet hours and caps applied) and why it moved."""
        chosen = ACTIONS[action]
        return self.held[(chosen.channel, chosen.delay_hours)]

    def channels(self) -> tuple[dict[str, bool], dict[str, str]]:
        """Per-channel ``(allowed, blocked)`` as TouchDecision keeps them."""
        usable = {ACTIONS[a].channel for a in self.allowed}
        allowed = {channel: channel in usable for channel in CHANNELS}
        blocked = {c: self.blocked.get(c, "no allowed action") for c in CHANNELS if not allowed[c]}
        return allowed, blocked

    def snap(self, channel: str, incentive: str | None, send_at: datetime) -> int | None:
        """The allowed action of this channel and incentive whose delay is nearest ``send_at``.

        Rule-based policies pick an exact time; the bandit's log needs the action it corresponds
        to. Nearest on a log scale, like actions.nearest_delay, but only among allowed delays, so
        a logged action is never one the mask forbids. None when the channel has no allowed delay.
        """
        hours = max((send_at - self.now).total_seconds() / 3600, 1e-3)
        options = [a for a in self.allowed if ACTIONS[a].channel == channel and ACTIONS[a].incentive == incentive]
        if not options:
            return None
        # min keeps the first of equal distances: the shorter delay, as nearest_delay does
        return min(options, key=lambda a: abs(math.log(ACTIONS[a].delay_hours) - math.log(hours)))


def _incentive_problems(ctx: PlanContext, bucket: str, incentives_allowed: bool) -> dict[str, str]:
    problems = {}
    for incentive in INCENTIVES:
        if not incentives_allowed:
            problems[incentive] = "this policy offers no incentives"
        elif incentive not in ctx.incentives_available:
            problems[incentive] = f"no {incentive.replace('_', ' ')} code configured"
        elif ctx.incentives_capped:
            problems[incentive] = ctx.incentives_capped
        elif bucket in NO_INCENTIVE_BUCKETS:
            problems[incentive] = f"propensity {bucket}: likely to buy anyway"
    return problems


def _channel_summary(reasons: dict[float, str]) -> str:
    """One line for a channel masked at every delay: the reason, or the reason per delay."""
    if len(set(reasons.values())) == 1:
        return next(iter(reasons.values()))
    grouped: dict[str, list[str]] = {}
    for delay, why in reasons.items():
        grouped.setdefault(why, []).append(DELAY_LABELS[DELAY_HOURS.index(delay)])
    return "; ".join(f"{', '.join(labels)}: {why}" for why, labels in grouped.items())


def action_mask(ctx: PlanContext, bucket: str, incentives_allowed: bool = True) -> ActionMask:
    """The mask of the module docstring for this context and propensity bucket."""
    held: dict[tuple[str, float], Held] = {}
    masked: dict[str, dict[float, str]] = {channel: {} for channel in CHANNELS}
    for delay in DELAY_HOURS:
        planned = ctx.now + timedelta(hours=delay)
        allowed, blocked = channel_masks(ctx, planned)
        if planned > ctx.deadline:
            times = {}
            blocked.update({c: AFTER_DEADLINE for c, ok in allowed.items() if ok})
        else:
            times = send_times(ctx, planned, allowed, blocked)  # masks the ones held too late
        for channel in CHANNELS:
            if channel in times:
                held[(channel, delay)] = times[channel]
            else:
                masked[channel][delay] = blocked[channel]

    problems = _incentive_problems(ctx, bucket, incentives_allowed)
    incentives = [i for i in INCENTIVE_OPTIONS if i is None or i not in problems]
    allowed_actions = tuple(
        sorted(action_index(channel, delay, incentive) for channel, delay in held for incentive in incentives)
    )
    reasons: dict[str, str] = {}
    for channel, by_delay in masked.items():
        if len(by_delay) == len(DELAY_HOURS):
            reasons[channel] = _channel_summary(by_delay)
        else:
            for delay, why in by_delay.items():
                reasons[f"{channel}/{DELAY_LABELS[DELAY_HOURS.index(delay)]}"] = why
    reasons.update(problems)
    return ActionMask(now=ctx.now, allowed=allowed_actions, blocked=reasons, held=held)


def allowed_actions(ctx: PlanContext, bucket: str, incentives_allowed: bool = True) -> tuple[list[int], dict[str, str]]:
    """``(allowed action indices, blocked)``; blocked keys are a channel, "channel/delay" or an
    incentive, each with the plain-English reason it is masked."""
    mask = action_mask(ctx, bucket, incentives_allowed)
    return list(mask.allowed), dict(mask.blocked)


def held_send_at(ctx: PlanContext, action: int) -> Held:
    """When ``action`` would go out for this context: ``now + delay``, held by quiet hours and caps."""
    chosen = ACTIONS[action]
    return held_until(ctx, chosen.channel, ctx.now + chosen.delay)
