"""When a touch goes out, counted from the moment the cart was abandoned.

Delays by touch:

* touch 1 - 1 h; 30 min for high intent (they reached the payment step, or the reason is
  technical: they were ready to buy); 15 min after a failed payment (help while they still care).
* touch 2 - 24 h (the next day, when the first reminder has been seen and ignored).
* touch 3 - 72 h; every further touch doubles the wait (144 h, 288 h, ...) so late reminders
  thin out instead of nagging.

``send_at = max(now, abandoned_at + delay)``: a journey that was held up sends at once.
A follow-up (touch >= 2) whose time would land after the attribution deadline is pulled back to
6 h before the deadline (time to act while it still counts), but only if that keeps it at least
12 h after the previous touch's slot; otherwise, or when ``now`` is past the deadline, there is no
time left and the planner stops. Quiet hours are applied at send time (held, not dropped).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from channel_models.context import PlanContext

FIRST_TOUCH = timedelta(hours=1)
HIGH_INTENT_FIRST_TOUCH = timedelta(minutes=30)
PAYMENT_FAILED_FIRST_TOUCH = timedelta(minutes=15)
SECOND_TOUCH = timedelta(hours=24)
THIRD_TOUCH = timedelta(hours=72)
LAST_CALL_LEAD = timedelta(hours=6)
MIN_GAP = timedelta(hours=12)


def touch_delay(touch: int, stage: str, reason: str, signal_counts: Mapping[str, int]) -> tuple[timedelta, str]:
    """Delay after abandonment for ``touch`` and the reason for it, for the decision log."""
    if touch <= 1:
        if signal_counts.get("payment_failed", 0) > 0:
            return PAYMENT_FAILED_FIRST_TOUCH, "15 min after abandonment: a payment failed"
        if stage == "payment" or reason == "technical":
            why = "reached payment" if stage == "payment" else "technical trouble"
            return HIGH_INTENT_FIRST_TOUCH, f"30 min after abandonment: high intent ({why})"
        return FIRST_TOUCH, "1 h after abandonment: first reminder"
    if touch == 2:
        return SECOND_TOUCH, "24 h after abandonment: next-day follow-up"
    delay = THIRD_TOUCH * 2 ** (touch - 3)
    return delay, f"{delay.total_seconds() / 3600:g} h after abandonment: late touches thin out"


def plan_send_time(ctx: PlanContext, reason: str) -> tuple[datetime | None, str]:
    """Return ``(send_at, why)``; send_at is None when the touch cannot land before the deadline."""
    if ctx.now > ctx.deadline:
        return None, "attribution window already closed"
    delay, why = touch_delay(ctx.touch, ctx.stage, reason, ctx.signal_counts)
    slot = ctx.abandoned_at + delay
    if slot > ctx.deadline:
        if ctx.touch < 2:
            return None, f"planned send time ({why}) falls after the attribution deadline"
        previous, _ = touch_delay(ctx.touch - 1, ctx.stage, reason, ctx.signal_counts)
        pulled_back = ctx.deadline - LAST_CALL_LEAD
        if pulled_back - (ctx.abandoned_at + previous) < MIN_GAP:
            return None, "no room for another touch before the attribution deadline"
        slot, why = pulled_back, "6 h before the attribution deadline (last call)"
    send_at = max(ctx.now, slot)
    if send_at > slot:
        why += "; sending now, the slot has passed"
    return send_at, why
