"""Regional sending rules as data: quiet hours and per-cart daily limits, per channel.

A pack is keyed "default", by country ("US", "FR") or by country and subdivision ("US-FL"). For
each channel the most specific pack that names the channel wins: an SMS to Florida uses "US-FL",
one to Texas "US", a push anywhere "default"; e-mail and retargeting have no quiet hours. A
country may widen our courtesy default (France allows SMS until 22:00), but a subdivision pack
must only tighten its country's (a test holds this): federal law still applies in a state.

A channel rule has:
  label               what the decision log calls it
  window              ("HH:MM", "HH:MM"): local wall-clock hours when sending is allowed,
                      [start, end)
  closed_weekdays     weekday names on which the channel sends nothing at all
  closed_on_holidays  the recipient's public holidays (country, and subdivision when known) too
  per_day_limit       at most this many sends on this channel per 24 h about one cart (the laws'
                      "same subject matter"); used by channel_models.compliance.caps.cap_block

The windows are half-open: "08:00-21:00" lets a message out at 20:59 but holds one at 21:00, the
safe reading of "after 9 p.m.".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from channel_models.vocabulary import CHANNELS

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

RULE_PACKS: dict[str, dict[str, dict]] = {
    # Our own courtesy default: no SMS or push at night, wherever the recipient is.
    "default": {
        "sms": {"label": "default SMS window", "window": ("08:00", "21:00")},
        "push": {"label": "default push window", "window": ("08:00", "21:00")},
    },
    # TCPA, 47 CFR 64.1200(c)(1): no telephone solicitation before 8 a.m. or after 9 p.m. local
    # time at the called party's location; the FCC treats text messages as calls.
    "US": {
        "sms": {"label": "US federal SMS window", "window": ("08:00", "21:00")},
    },
    # Florida Telemarketing Act, Fla. Stat. 501.616(6)(a)-(b), as amended by CS/SB 1120 (2021,
    # ch. 2021-185; the Telephone Solicitation Act 501.059 was amended again by HB 761 in 2023):
    # no commercial solicitation calls or texts before 8 a.m. or after 8 p.m. in the called
    # person's time zone, and no more than three on the same subject in 24 hours.
    "US-FL": {
        "sms": {"label": "Florida SMS window", "window": ("08:00", "20:00"), "per_day_limit": 3},
    },
    # Oklahoma Telephone Solicitation Act of 2022 (HB 3168, 15 O.S. 775C.1 ff., in force
    # 1 Nov 2022): telephonic sales calls, texts included, only 8 a.m.-8 p.m., at most three in
    # 24 hours on the same matter.
    "US-OK": {
        "sms": {"label": "Oklahoma SMS window", "window": ("08:00", "20:00"), "per_day_limit": 3},
    },
    # Maryland Stop the Spam Calls Act of 2023 (SB 90, Commercial Law Article, in force
    # 1 Jan 2024): solicitations only 8 a.m.-8 p.m. in the called party's time zone, at most
    # three calls or texts per 24 hours on the same subject.
    "US-MD": {
        "sms": {"label": "Maryland SMS window", "window": ("08:00", "20:00"), "per_day_limit": 3},
    },
    # France: SMS prospection needs prior consent (CPCE L34-5, Code de la consommation; CNIL);
    # the sending hours come from the operators' SMS code of conduct (Federation Francaise des
    # Telecoms / AF2M), not from statute: none on Sundays or public holidays, none at night. The
    # issue fixes the night at 22:00-08:00 (some guides say 20:00): tighten here if counsel asks.
    "FR": {
        "sms": {
            "label": "France SMS window",
            "window": ("08:00", "22:00"),
            "closed_weekdays": ("sunday",),
            "closed_on_holidays": True,
        },
    },
}


@dataclass(frozen=True)
class ChannelRule:
    pack: str
    label: str
    start: time
    end: time
    closed_weekdays: frozenset[int] = frozenset()  # datetime.weekday() numbers, Monday = 0
    closed_on_holidays: bool = False
    per_day_limit: int | None = None

    def describe(self) -> str:
        """The window in words, e.g. "08:00-22:00, not on Sundays or public holidays"."""
        text = f"{self.start:%H:%M}-{self.end:%H:%M}"
        closed = [f"{WEEKDAYS[day].capitalize()}s" for day in sorted(self.closed_weekdays)]
        if self.closed_on_holidays:
            closed.append("public holidays")
        if closed:
            text += ", not on " + " or ".join(closed)
        return text


def _parse_rule(pack: str, channel: str, raw: dict) -> ChannelRule:
    if channel not in CHANNELS:
        raise ValueError(f"rule pack {pack}: unknown channel {channel!r}")
    start, end = (time.fromisoformat(value) for value in raw["window"])
    if not start < end:
        raise ValueError(f"rule pack {pack} {channel}: window must open before it closes")
    unknown = set(raw.get("closed_weekdays", ())) - set(WEEKDAYS)
    if unknown:
        raise ValueError(f"rule pack {pack} {channel}: unknown weekdays {sorted(unknown)}")
    closed = frozenset(WEEKDAYS.index(day) for day in raw.get("closed_weekdays", ()))
    if len(closed) == len(WEEKDAYS):
        raise ValueError(f"rule pack {pack} {channel}: closed every day of the week")
    limit = raw.get("per_day_limit")
    if limit is not None and limit < 1:
        raise ValueError(f"rule pack {pack} {channel}: per_day_limit must be at least 1")
    return ChannelRule(
        pack=pack,
        label=raw["label"],
        start=start,
        end=end,
        closed_weekdays=closed,
        closed_on_holidays=bool(raw.get("closed_on_holidays", False)),
        per_day_limit=limit,
    )


def load_rule_packs(raw_packs: dict[str, dict[str, dict]]) -> dict[str, dict[str, ChannelRule]]:
    """Parse and check pack data once; a malformed pack fails at import, not mid-journey."""
    return {
        pack: {channel: _parse_rule(pack, channel, raw) for channel, raw in rules.items()}
        for pack, rules in raw_packs.items()
    }


RULES = load_rule_packs(RULE_PACKS)


def pack_keys(country: str | None, province: str | None) -> tuple[str, ...]:
    """Keys to try, most specific first: ("US-FL", "US", "default")."""
    keys: list[str] = []
    country = (country or "").strip().upper()
    province = (province or "").strip().upper()
    if country and province:
        # Accept "FL" as well as the full ISO 3166-2 "US-FL".
        province = province.removeprefix(f"{country}-")
        keys.append(f"{country}-{province}")
    if country:
        keys.append(country)
    keys.append("default")
    return tuple(keys)


def channel_rule(channel: str, country: str | None = None, province: str | None = None) -> ChannelRule | None:
    """The rule that governs ``channel`` for this recipient, or None (no quiet hours)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    for key in pack_keys(country, province):
        rule = RULES.get(key, {}).get(channel)
        if rule is not None:
            return rule
    return None


def journey_limit(channel: str, country: str | None = None, province: str | None = None) -> int | None:
    """How many sends on ``channel`` one cart may make in 24 h here, or None for no limit."""
    rule = channel_rule(channel, country, province)
    return rule.per_day_limit if rule is not None else None
