"""Quiet hours in the recipient's time zone: a message planned inside them is held, never dropped.

The rule for a channel comes from channel_models.compliance.rule_packs (most specific pack wins). Times are
judged on the recipient's wall clock, so "08:00" stays 08:00 local on a daylight-saving day and
moves in UTC. Two wall-clock oddities, handled through zoneinfo and ``fold``:

* a window that opens inside a skipped hour (spring forward) opens the instant the clocks jump
  past it, the first moment the wall clock shows a later time;
* a wall time that occurs twice (fall back) opens at its first occurrence; an instant in the
  repeated hour is judged by what the clock shows then.

Zones are assumed never to step back into a window after it closed for the night (no zone
changes its clocks between 20:00 and 22:00), so the next opening is always a window start.
Pure functions: no I/O; public holidays come from the ``holidays`` package's bundled data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from channel_models.compliance.rule_packs import WEEKDAYS, ChannelRule, channel_rule

MAX_HOLD_DAYS = 14  # a pack leaves at least one weekday open, holidays never fill two weeks

# ISO 3166-2 departments the holidays package only knows by their region code: Bas-Rhin and
# Haut-Rhin keep Alsace's extra holidays (Good Friday, 26 December).
HOLIDAY_SUBDIVISION_ALIASES = {("FR", "67"): "6AE", ("FR", "68"): "6AE"}


def recipient_zone(zone: str | None, fallback_zone: str = "UTC") -> ZoneInfo:
    """The recipient's zone; an unknown or malformed name falls back (a typo must not block)."""
    if zone:
        try:
            return ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(fallback_zone)


@lru_cache(maxsize=256)
def _holidays(country: str, province: str, year: int) -> dict[date, str]:
    subdiv = HOLIDAY_SUBDIVISION_ALIASES.get((country, province), province) or None
    try:
        return dict(holidays.country_holidays(country, subdiv=subdiv, years=year))
    except NotImplementedError:  # the package knows neither the country nor the subdivision
        pass
    if subdiv is None:
        return {}
    # Unknown subdivision: the national holidays still apply.
    return dict(holidays.country_holidays(country, years=year))


def closed_day_reason(rule: ChannelRule, day: date, country: str | None, province: str | None) -> str | None:
    """Why ``rule`` keeps ``day`` closed ("Sunday", "public holiday (National Day)") or None."""
    if day.weekday() in rule.closed_weekdays:
        return WEEKDAYS[day.weekday()].capitalize()
    if rule.closed_on_holidays and country:
        country_code = country.strip().upper()
        province_code = (province or "").strip().upper().removeprefix(f"{country_code}-")
        name = _holidays(country_code, province_code, day.year).get(day)
        if name is not None:
            return f"public holiday ({name})"
    return None


def _quiet_reason(rule: ChannelRule, local: datetime, country: str | None, province: str | None) -> str | None:
    closed = closed_day_reason(rule, local.date(), country, province)
    if closed is not None:
        return f"{local:%Y-%m-%d} is a {closed}"
    wall = local.time().replace(tzinfo=None)
    if not rule.start <= wall < rule.end:
        return f"{local:%H:%M} local is outside {rule.start:%H:%M}-{rule.end:%H:%M}"
    return None


def _aware(at: datetime, name: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def is_quiet(
    channel: str,
    at: datetime,
    zone: str | None,
    country: str | None = None,
    province: str | None = None,
    fallback_zone: str = "UTC",
) -> bool:
    """True when ``channel`` may not send at ``at`` to this recipient."""
    _aware(at, "at")
    rule = channel_rule(channel, country, province)
    if rule is None:
        return False
    local = at.astimezone(recipient_zone(zone, fallback_zone))
    return _quiet_reason(rule, local, country, province) is not None


def _clock_change(before: datetime, after: datetime, tz: ZoneInfo) -> datetime:
    """The instant in (before, after] where the zone's UTC offset changes, to the second."""
    low, high = int(before.timestamp()), int(after.timestamp())
    old_offset = before.astimezone(tz).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == old_offset:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _opening(day: date, start: time, tz: ZoneInfo, not_before: datetime) -> datetime | None:
    """First instant >= not_before at which the wall clock on ``day`` reaches ``start``."""
    wall = datetime.combine(day, start)
    instants = sorted({wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)})
    real = [u for u in instants if u.astimezone(tz).replace(tzinfo=None) == wall]
    if real:
        # fold=0 is the first occurrence of a repeated wall time, so this is the earliest.
        return next((u for u in real if u >= not_before), None)
    # ``start`` was skipped: the window opens when the clocks jump past it.
    jump = _clock_change(instants[0], instants[-1], tz)
    return jump if jump >= not_before else None


def next_allowed_time(
    channel: str,
    planned: datetime,
    zone: str | None,
    country: str | None = None,
    province: str | None = None,
    fallback_zone: str = "UTC",
) -> datetime:
    """``planned`` when allowed, else the first allowed instant after it (aware, UTC)."""
    _aware(planned, "planned")
    rule = channel_rule(channel, country, province)
    if rule is None:
        return planned
    tz = recipient_zone(zone, fallback_zone)
    local = planned.astimezone(tz)
    if _quiet_reason(rule, local, country, province) is None:
        return planned
    day = local.date()
    for _ in range(MAX_HOLD_DAYS):
        if closed_day_reason(rule, day, country, province) is None:
            opening = _opening(day, rule.start, tz, planned)
            if opening is not None:
                return opening
        day += timedelta(days=1)
    raise RuntimeError(f"{rule.label}: no open window within {MAX_HOLD_DAYS} days of {planned}")


def explain(
    channel: str,
    planned: datetime,
    zone: str | None,
    country: str | None = None,
    province: str | None = None,
    fallback_zone: str = "UTC",
) -> str:
    """One line for the decision log: allowed, or held until when, and under which rule."""
    _aware(planned, "planned")
    rule = channel_rule(channel, country, province)
    if rule is None:
        return f"{channel}: no quiet hours"
    tz = recipient_zone(zone, fallback_zone)
    where = tz.key if tz.key == zone else f"{tz.key} (recipient zone unknown)"
    under = f"{rule.label} {rule.describe()}"
    local = planned.astimezone(tz)
    why = _quiet_reason(rule, local, country, province)
    if why is None:
        return f"{channel} allowed at {local:%H:%M} {where} ({under})"
    until = next_allowed_time(channel, planned, zone, country, province, fallback_zone)
    opens = until.astimezone(tz)
    return f"held until {opens:%H:%M} {where} on {opens:%a %Y-%m-%d}: {why} ({under})"
