"""Hard channel masks: which channels may carry this touch at all, and why the others may not.

Every channel in CHANNELS is checked against these rules in order; the first rule it fails names
why it is blocked (the text goes to the decision log and the reports, so it is plain English):

1. not configured - "no delivery URL configured"
2. excluded - "failed permanently for this cart" (the provider rejected the address earlier)
3. not captured - "no e-mail address captured" / "no valid phone number" / "no push token" /
   "no audience identifier"
4. consent -
   email: revoked -> "unsubscribed"; when the shop requires e-mail opt-in, anything but "granted"
   -> "no e-mail consent (opt-in required)"; otherwise unknown consent is allowed.
   sms: must be explicitly "granted", never assumed -> "no explicit SMS consent".
   push: must be "granted" (the device opted in) -> "no push opt-in".
   retargeting: must be "granted" (ads consent) -> "no ads consent".
5. SMS compliance - at most one SMS per abandoned cart -> "one SMS per cart already sent", and only
   within 48 h of abandonment -> "SMS only within 48 h of abandonment". The window is checked at
   the planned send time when one is given, since the message leaves then, not now.

The planner chooses only among allowed channels: disallowed ones are masked, never down-weighted.
Quiet hours and per-customer frequency caps are enforced at send time, not here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from channel_models.context import PlanContext, Reachability
from channel_models.vocabulary import CHANNELS

SMS_WINDOW = timedelta(hours=48)

NOT_CAPTURED = {
    "email": "no e-mail address captured",
    "sms": "no valid phone number",
    "push": "no push token",
    "retargeting": "no audience identifier",
}
NO_CONSENT = {
    "sms": "no explicit SMS consent",
    "push": "no push opt-in",
    "retargeting": "no ads consent",
}


def _consent_problem(ctx: PlanContext, channel: str, consent: str | None) -> str | None:
    if channel == "email":
        if consent == "revoked":
            return "unsubscribed"
        if ctx.email_requires_consent and consent != "granted":
            return "no e-mail consent (opt-in required)"
        return None
    # Every other channel is opt-in only: unknown or anything but "granted" blocks it.
    return None if consent == "granted" else NO_CONSENT[channel]


def _sms_problem(ctx: PlanContext, send_at: datetime) -> str | None:
    if "sms" in ctx.previous_channels:
        return "one SMS per cart already sent"
    if send_at - ctx.abandoned_at > SMS_WINDOW:
        return "SMS only within 48 h of abandonment"
    return None


def blocked_because(ctx: PlanContext, channel: str, send_at: datetime | None = None) -> str | None:
    """Why ``channel`` may not carry this touch, or None when it may."""
    if channel not in ctx.configured:
        return "no delivery URL configured"
    if channel in ctx.excluded:
        return "failed permanently for this cart"
    reach = ctx.reachability.get(channel) or Reachability()
    if not reach.captured:
        return NOT_CAPTURED[channel]
    problem = _consent_problem(ctx, channel, reach.consent)
    if problem is None and channel == "sms":
        problem = _sms_problem(ctx, send_at if send_at is not None else ctx.now)
    return problem


def channel_masks(ctx: PlanContext, send_at: datetime | None = None) -> tuple[dict[str, bool], dict[str, str]]:
    """Return ``(allowed, blocked)``: allowed for every channel, blocked only for masked ones."""
    allowed: dict[str, bool] = {}
    blocked: dict[str, str] = {}
    for channel in CHANNELS:
        why = blocked_because(ctx, channel, send_at)
        allowed[channel] = why is None
        if why is not None:
            blocked[channel] = why
    return allowed, blocked
