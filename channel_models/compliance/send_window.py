"""Quiet hours and frequency caps on top of the channel masks, for planning and at send time.

Quiet hours and caps never drop a touch: they move it to the first instant both allow. A channel
whose held time falls after the attribution deadline is masked like any other rule.
"""

from __future__ import annotations

from datetime import datetime

from channel_models.compliance.caps import earliest_send_time
from channel_models.compliance.eligibility import blocked_because
from channel_models.context import PlanContext


def held_until(ctx: PlanContext, channel: str, planned: datetime) -> tuple[datetime, tuple[str, ...]]:
    """First instant >= planned outside the recipient's quiet hours and the frequency caps."""
    return earliest_send_time(
        channel,
        planned,
        zone=ctx.timezone,
        country=ctx.country,
        province=ctx.province,
        sent_history=ctx.sent_history,
        journey_history=ctx.journey_history,
        fallback_zone=ctx.fallback_timezone,
        **dict(ctx.cap_hours),
    )


def send_times(
    ctx: PlanContext, planned: datetime, allowed: dict[str, bool], blocked: dict[str, str]
) -> dict[str, tuple[datetime, tuple[str, ...]]]:
    """Held send time per permitted channel; masks (in place) the ones that cannot go out in time."""
    times = {}
    for channel, ok in allowed.items():
        if not ok:
            continue
        at, why = held_until(ctx, channel, planned)
        problem = blocked_because(ctx, channel, at) if at != planned else None
        if at > ctx.deadline:
            problem = f"held past the attribution deadline ({'; '.join(why)})"
        if problem:
            allowed[channel], blocked[channel] = False, problem
        else:
            times[channel] = (at, why)
    return times


def send_now_problem(ctx: PlanContext, channel: str, now: datetime) -> str | None:
    """Why `channel` may not be sent at `now` (re-checked at send time), or None."""
    problem = blocked_because(ctx, channel, now)
    if problem:
        return problem
    at, why = held_until(ctx, channel, now)
    return f"held: {'; '.join(why)}" if at > now else None
