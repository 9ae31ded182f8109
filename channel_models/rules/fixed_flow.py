"""A fixed flow, the baseline most shops start with: "e-mail at 4 h, e-mail at 24 h".

``CR_POLICY=fixed`` plans touch k as step k of ``CR_FIXED_FLOW`` (``channel@delay`` after
abandonment, e.g. ``email@4h,sms@30m,email@2d``) under the same hard masks as every policy: a step
whose channel is masked, or which cannot go out before the attribution deadline, stops the journey
(a fixed flow has no fallback). No reason-specific incentive, no exploration: propensity 1.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from channel_models.compliance.action_mask import action_mask
from channel_models.compliance.eligibility import channel_masks
from channel_models.compliance.send_window import send_times
from channel_models.context import PlanContext, TouchDecision
from channel_models.rules.propensity import bucket_for, self_recovery_propensity
from channel_models.rules.reasons import infer_reason
from channel_models.vocabulary import CHANNELS

_STEP = re.compile(r"^\s*(?P<channel>[a-z]+)\s*@\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>m|h|d)\s*$")
_UNIT = {"m": 60, "h": 3600, "d": 86400}


def parse_fixed_flow(text: str) -> tuple[tuple[str, timedelta], ...]:
    """``"email@4h,email@24h"`` -> ((email, 4 h), (email, 24 h)); ValueError names a bad step."""
    steps: list[tuple[str, timedelta]] = []
    for raw in text.split(","):
        match = _STEP.match(raw)
        if not match:
            raise ValueError(
                f"fixed flow step {raw.strip()!r} is not channel@delay such as email@4h, sms@30m or email@2d"
            )
        channel = match["channel"]
        if channel not in CHANNELS:
            raise ValueError(f"fixed flow step {raw.strip()!r}: channel must be one of {', '.join(CHANNELS)}")
        delay = timedelta(seconds=float(match["amount"]) * _UNIT[match["unit"]])
        if steps and delay <= steps[-1][1]:
            raise ValueError(f"fixed flow step {raw.strip()!r} must come after the step before it")
        steps.append((channel, delay))
    return tuple(steps)


class FixedFlowPolicy:
    def __init__(self, flow: str = "email@4h,email@24h"):
        self.flow = flow

    def plan(self, ctx: PlanContext) -> TouchDecision:
        steps = parse_fixed_flow(self.flow)
        reason, confidence = infer_reason(ctx.signal_counts, ctx.stage)
        propensity = self_recovery_propensity(ctx)
        common: dict[str, Any] = dict(
            reason=reason,
            reason_confidence=confidence,
            propensity=propensity,
            bucket=bucket_for(propensity),
            policy="fixed-v1",
            action_propensity=1.0,
        )
        stop_reason, send_at, channel = None, None, None
        allowed, blocked = channel_masks(ctx)
        if ctx.touch > min(len(steps), ctx.max_touches):
            stop_reason = f"the fixed flow has {len(steps)} steps"
        else:
            channel, delay = steps[ctx.touch - 1]
            planned = max(ctx.now, ctx.abandoned_at + delay)
            allowed, blocked = channel_masks(ctx, planned)
            held = send_times(ctx, planned, allowed, blocked) if planned <= ctx.deadline else {}
            if planned > ctx.deadline:
                stop_reason = "the step falls after the attribution deadline"
            elif channel not in held:
                stop_reason = f"{channel} {blocked.get(channel, 'not allowed')}"
            else:
                send_at = held[channel][0]
        if stop_reason or channel is None or send_at is None:  # both are set unless there is a stop_reason
            return TouchDecision(
                stop=True,
                stop_reason=stop_reason,
                channel=None,
                send_at=None,
                incentive=None,
                allowed=allowed,
                blocked=blocked,
                explanation=(f"stop: {stop_reason}",),
                **common,
            )
        # logged as the allowed action nearest the step's time, so the log never holds an action the
        # mask forbids; a step with no allowed delay bucket is followed but logs no action
        action = action_mask(ctx, common["bucket"], incentives_allowed=False).snap(channel, None, send_at)
        return TouchDecision(
            stop=False,
            stop_reason=None,
            channel=channel,
            send_at=send_at,
            incentive=None,
            allowed=allowed,
            blocked=blocked,
            action=action,
            allowed_actions=(action,) if action is not None else (),
            explanation=(f"fixed flow step {ctx.touch}: {channel} at {steps[ctx.touch - 1][1]} after abandonment",),
            **common,
        )
