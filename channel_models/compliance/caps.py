"""Per-customer frequency caps across all carts, like Klaviyo's Smart Sending.

Each channel has its own cap: a message is held while the customer received one on the *same*
channel, from any cart, within the last N hours (e-mail 16 h, SMS 24 h, push 24 h; retargeting
0 h: an audience event lands in no inbox). Channels do not block each other: an SMS an hour ago
does not hold an e-mail. A cap of 0 turns it off. A send exactly N hours ago no longer blocks.

On top of that a rule pack may limit how often one cart's journey uses a channel in 24 h (the
Florida-style "three on the same subject"; channel_models.compliance.rule_packs.journey_limit gives it), which
``per_day_limit`` applies to ``journey_history``, the cart's own sends.

Only sends at or before the moment being checked count: a history entry later than ``at`` is
another touch's business. The hour defaults are parameters so they can become settings
(CR_EMAIL_CAP_HOURS, CR_SMS_CAP_HOURS, CR_PUSH_CAP_HOURS, CR_RETARGETING_CAP_HOURS).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from channel_models.compliance.quiet_hours import explain, next_allowed_time
from channel_models.compliance.rule_packs import journey_limit
from channel_models.vocabulary import CHANNELS

EMAIL_CAP_HOURS = 16.0  # Klaviyo's e-mail Smart Sending default
SMS_CAP_HOURS = 24.0  # Klaviyo's SMS Smart Sending default
PUSH_CAP_HOURS = 24.0
RETARGETING_CAP_HOURS = 0.0
JOURNEY_LIMIT_WINDOW = timedelta(hours=24)

ONE = {"email": "an e-mail", "sms": "an SMS", "push": "a push notification", "retargeting": "a retargeting event"}
MANY = {"email": "e-mails", "sms": "SMS", "push": "push notifications", "retargeting": "retargeting events"}

History = Sequence[tuple[str, datetime]]


def _checked(channel: str, at: datetime, hours: dict[str, float], limit: int | None) -> None:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be timezone-aware")
    for name, value in hours.items():
        if value < 0:
            raise ValueError(f"{name}_hours must be >= 0, got {value}")
    if limit is not None and limit < 1:
        raise ValueError(f"per_day_limit must be >= 1 or None, got {limit}")


def _blocks(
    channel: str,
    at: datetime,
    sent_history: History,
    hours: float,
    per_day_limit: int | None,
    journey_history: History,
) -> list[tuple[datetime, str]]:
    """(when it lifts, why) for every cap that blocks ``channel`` at ``at``."""
    blocks: list[tuple[datetime, str]] = []
    cap = timedelta(hours=hours)
    if cap > timedelta(0):
        recent = [s for c, s in sent_history if c == channel and s <= at and at - s < cap]
        if recent:
            last = max(recent)
            ago = (at - last).total_seconds() / 3600
            blocks.append((last + cap, f"{ONE[channel]} went to this customer {ago:.1f} h ago (cap {hours:g} h)"))
    if per_day_limit is not None:
        window = JOURNEY_LIMIT_WINDOW
        today = sorted(s for c, s in journey_history if c == channel and s <= at and at - s < window)
        if len(today) >= per_day_limit:
            # It lifts when enough of them age out to leave room for one more.
            lifts = today[len(today) - per_day_limit] + window
            blocks.append(
                (lifts, f"{len(today)} {MANY[channel]} for this cart in the last 24 h (limit {per_day_limit} per 24 h)")
            )
    return blocks


def cap_block(
    channel: str,
    at: datetime,
    sent_history: History,
    *,
    email_hours: float = EMAIL_CAP_HOURS,
    sms_hours: float = SMS_CAP_HOURS,
    push_hours: float = PUSH_CAP_HOURS,
    retargeting_hours: float = RETARGETING_CAP_HOURS,
    per_day_limit: int | None = None,
    journey_history: History = (),
) -> str | None:
    """None when ``channel`` may send at ``at``, else why not (for the decision log)."""
    hours = dict(email=email_hours, sms=sms_hours, push=push_hours, retargeting=retargeting_hours)
    _checked(channel, at, hours, per_day_limit)
    blocks = _blocks(channel, at, sent_history, hours[channel], per_day_limit, journey_history)
    return "; ".join(why for _, why in blocks) if blocks else None


def cap_lifts_at(
    channel: str,
    at: datetime,
    sent_history: History,
    *,
    email_hours: float = EMAIL_CAP_HOURS,
    sms_hours: float = SMS_CAP_HOURS,
    push_hours: float = PUSH_CAP_HOURS,
    retargeting_hours: float = RETARGETING_CAP_HOURS,
    per_day_limit: int | None = None,
    journey_history: History = (),
) -> datetime | None:
    """None when ``cap_block`` allows ``at``; else the earliest later instant it allows."""
    hours = dict(email=email_hours, sms=sms_hours, push=push_hours, retargeting=retargeting_hours)
    _checked(channel, at, hours, per_day_limit)
    moment = at
    # Each round jumps past every cap blocking now (the time in between is blocked throughout);
    # sends between the old and new moment may block again, so repeat. It ends: moments only
    # grow and each is some send plus a cap or the 24 h window.
    while blocks := _blocks(channel, moment, sent_history, hours[channel], per_day_limit, journey_history):
        moment = max(lifts for lifts, _ in blocks)
    return None if moment == at else moment


def earliest_send_time(
    channel: str,
    planned: datetime,
    *,
    zone: str | None,
    country: str | None = None,
    province: str | None = None,
    sent_history: History = (),
    journey_history: History = (),
    fallback_zone: str = "UTC",
    **cap_hours: float,
) -> tuple[datetime, tuple[str, ...]]:
    """The first instant >= ``planned`` outside quiet hours and caps, with why it moved.

    Holding for quiet hours can run into a cap and waiting out a cap can end at night, so the
    two are applied in turn until neither moves the time. ``cap_hours`` takes the ``*_hours``
    keywords of cap_block; the per-cart limit comes from the recipient's rule pack.
    """
    limit = journey_limit(channel, country, province)
    moment, why = planned, []
    while True:
        held = next_allowed_time(channel, moment, zone, country, province, fallback_zone)
        if held != moment:
            why.append(explain(channel, moment, zone, country, province, fallback_zone))
            moment = held
        caps: dict[str, Any] = dict(cap_hours, per_day_limit=limit, journey_history=journey_history)
        lifts = cap_lifts_at(channel, moment, sent_history, **caps)
        if lifts is None:
            return moment, tuple(why)
        why.append(f"held until {lifts:%Y-%m-%d %H:%M} UTC: {cap_block(channel, moment, sent_history, **caps)}")
        moment = lifts
