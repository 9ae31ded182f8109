from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channel_models.compliance.quiet_hours import explain, is_quiet, next_allowed_time
from channel_models.compliance.rule_packs import RULES, channel_rule, journey_limit, load_rule_packs
from channel_models.vocabulary import CHANNELS

UTC = UTC


def local(zone, *fields, fold=0):
    """A wall-clock time in ``zone`` as an aware UTC instant."""
    return datetime(*fields, tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


def utc(*fields):
    return datetime(*fields, tzinfo=UTC)


def day_before(day):
    previous = date(*day) - timedelta(days=1)
    return previous.year, previous.month, previous.day


# (zone, country, switch day, 08:00 local that day in UTC, 08:00 local the day before in UTC).
# Country None keeps Paris and Berlin on the default window: France closes SMS on Sundays.
DST_DAYS = [
    ("America/New_York", "US", (2026, 3, 8), utc(2026, 3, 8, 12), utc(2026, 3, 7, 13)),
    ("America/New_York", "US", (2026, 11, 1), utc(2026, 11, 1, 13), utc(2026, 10, 31, 12)),
    ("Europe/Paris", None, (2026, 3, 29), utc(2026, 3, 29, 6), utc(2026, 3, 28, 7)),
    ("Europe/Paris", None, (2026, 10, 25), utc(2026, 10, 25, 7), utc(2026, 10, 24, 6)),
    ("Europe/Berlin", "DE", (2026, 3, 29), utc(2026, 3, 29, 6), utc(2026, 3, 28, 7)),
    ("Europe/Berlin", "DE", (2026, 10, 25), utc(2026, 10, 25, 7), utc(2026, 10, 24, 6)),
]


@pytest.mark.parametrize("zone, country, day, opens, opened_day_before", DST_DAYS)
def test_early_morning_held_to_eight_local_on_dst_day(zone, country, day, opens, opened_day_before):
    planned = local(zone, *day, 7, 30)
    assert is_quiet("sms", planned, zone, country)
    assert next_allowed_time("sms", planned, zone, country) == opens
    before = local(zone, *day_before(day), 7, 30)
    assert next_allowed_time("sms", before, zone, country) == opened_day_before
    # Same wall clock, different offset: the hold really follows the switch.
    assert opens - opened_day_before != timedelta(days=1)


@pytest.mark.parametrize("zone, country, day, opens, opened_day_before", DST_DAYS)
def test_late_evening_held_across_the_switch(zone, country, day, opens, opened_day_before):
    evening_before = local(zone, *day_before(day), 21, 30)
    assert next_allowed_time("sms", evening_before, zone, country) == opens
    evening = local(zone, *day, 21, 30)
    held = next_allowed_time("sms", evening, zone, country)
    assert held.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == datetime(*day, 8) + timedelta(days=1)


@pytest.mark.parametrize(
    "zone, country, day, opens",
    [
        ("America/New_York", "US", (2026, 3, 8), utc(2026, 3, 8, 12)),
        ("Europe/Paris", None, (2026, 3, 29), utc(2026, 3, 29, 6)),
        ("Europe/Berlin", "DE", (2026, 3, 29), utc(2026, 3, 29, 6)),
    ],
)
@pytest.mark.parametrize("fold", [0, 1])
def test_nonexistent_spring_forward_time_is_held_to_eight(zone, country, day, opens, fold):
    planned = local(zone, *day, 2, 30, fold=fold)
    assert is_quiet("sms", planned, zone, country)
    assert next_allowed_time("sms", planned, zone, country) == opens


@pytest.mark.parametrize(
    "zone, country, day, opens",
    [
        ("America/New_York", "US", (2026, 11, 1), utc(2026, 11, 1, 13)),
        ("Europe/Paris", None, (2026, 10, 25), utc(2026, 10, 25, 7)),
        ("Europe/Berlin", "DE", (2026, 10, 25), utc(2026, 10, 25, 7)),
    ],
)
@pytest.mark.parametrize("fold", [0, 1])
def test_repeated_fall_back_time_is_held_to_eight(zone, country, day, opens, fold):
    hour = 1 if zone.startswith("America") else 2
    first, second = local(zone, *day, hour, 30, fold=0), local(zone, *day, hour, 30, fold=1)
    assert second - first == timedelta(hours=1)  # really the repeated hour
    planned = local(zone, *day, hour, 30, fold=fold)
    assert next_allowed_time("sms", planned, zone, country) == opens
    assert f"{hour:02d}:30 local is outside 08:00-21:00" in explain("sms", planned, zone, country)


@pytest.fixture
def night_pack(monkeypatch):
    """A made-up pack whose window opens at 02:30 (skipped in spring) or 01:30 (repeated in
    autumn) in New York, to reach the fold handling that real 08:00 windows never touch."""

    def install(start):
        pack = load_rule_packs({"ZZ": {"sms": {"label": "test", "window": (start, "21:00")}}})
        monkeypatch.setitem(RULES, "ZZ", pack["ZZ"])

    return install


def test_window_opening_in_skipped_hour_opens_at_the_jump(night_pack):
    night_pack("02:30")
    planned = local("America/New_York", 2026, 3, 8, 1, 0)
    # 02:00 EST became 03:00 EDT at 07:00 UTC: the first instant the clock shows >= 02:30.
    assert next_allowed_time("sms", planned, "America/New_York", "ZZ") == utc(2026, 3, 8, 7)
    assert is_quiet("sms", utc(2026, 3, 8, 6, 59), "America/New_York", "ZZ")


def test_window_opening_in_repeated_hour(night_pack):
    night_pack("01:30")
    zone = "America/New_York"
    early = local(zone, 2026, 11, 1, 1, 0)
    assert next_allowed_time("sms", early, zone, "ZZ") == utc(2026, 11, 1, 5, 30)  # EDT 01:30
    # 01:15 EST, after the clocks went back: the wall clock is before 01:30 again.
    again = local(zone, 2026, 11, 1, 1, 15, fold=1)
    assert is_quiet("sms", again, zone, "ZZ")
    assert next_allowed_time("sms", again, zone, "ZZ") == utc(2026, 11, 1, 6, 30)  # EST 01:30


def test_florida_holds_at_half_past_eight_where_federal_allows():
    planned = local("America/New_York", 2026, 6, 10, 20, 30)  # a Wednesday
    assert next_allowed_time("sms", planned, "America/New_York", "US", "NY") == planned
    held = next_allowed_time("sms", planned, "America/New_York", "US", "FL")
    assert held == local("America/New_York", 2026, 6, 11, 8, 0)
    assert next_allowed_time("sms", planned, "America/New_York", "us", "US-FL") == held
    assert "Florida SMS window 08:00-20:00" in explain("sms", planned, "America/New_York", "US", "FL")


@pytest.mark.parametrize("province, zone", [("OK", "America/Chicago"), ("MD", "America/New_York")])
def test_other_eight_pm_states(province, zone):
    planned = local(zone, 2026, 6, 10, 20, 0)
    assert is_quiet("sms", planned, zone, "US", province)
    assert not is_quiet("sms", planned, zone, "US", "TX")
    assert journey_limit("sms", "US", province) == 3


def test_federal_window_boundaries():
    zone = "America/Los_Angeles"
    assert is_quiet("sms", local(zone, 2026, 6, 10, 7, 59), zone, "US")
    assert not is_quiet("sms", local(zone, 2026, 6, 10, 8, 0), zone, "US")
    assert not is_quiet("sms", local(zone, 2026, 6, 10, 20, 59), zone, "US")
    assert is_quiet("sms", local(zone, 2026, 6, 10, 21, 0), zone, "US")


PARIS = "Europe/Paris"


@pytest.mark.parametrize(
    "planned, opens",
    [
        ((2026, 3, 15, 10, 0), (2026, 3, 16, 8, 0)),  # Sunday -> Monday
        ((2026, 7, 14, 10, 0), (2026, 7, 15, 8, 0)),  # Bastille Day, a Tuesday
        ((2026, 3, 14, 22, 30), (2026, 3, 16, 8, 0)),  # Saturday night, Sunday skipped
        ((2026, 4, 4, 22, 30), (2026, 4, 7, 8, 0)),  # Easter Sunday and Monday skipped
        ((2026, 3, 16, 7, 0), (2026, 3, 16, 8, 0)),  # Monday early
    ],
)
def test_france_sms(planned, opens):
    held = next_allowed_time("sms", local(PARIS, *planned), PARIS, "FR")
    assert held == local(PARIS, *opens)


def test_france_specifics():
    weekday_evening = local(PARIS, 2026, 3, 16, 21, 30)
    assert not is_quiet("sms", weekday_evening, PARIS, "FR")  # France allows SMS until 22:00
    assert is_quiet("sms", weekday_evening, PARIS, None)  # the default does not
    sunday = local(PARIS, 2026, 3, 15, 10, 0)
    assert not is_quiet("push", sunday, PARIS, "FR")  # push keeps the default window
    assert "is a public holiday (National Day)" in explain("sms", local(PARIS, 2026, 7, 14, 10, 0), PARIS, "FR")
    # 26 December is a holiday in Alsace (Bas-Rhin 67) only; 27 December 2026 is a Sunday.
    boxing_day = local(PARIS, 2026, 12, 26, 10, 0)
    assert not is_quiet("sms", boxing_day, PARIS, "FR")
    assert next_allowed_time("sms", boxing_day, PARIS, "FR", "67") == local(PARIS, 2026, 12, 28, 8)
    assert not is_quiet("sms", boxing_day, PARIS, "FR", "not-a-region")


@pytest.mark.parametrize("channel", ["email", "retargeting"])
def test_email_and_retargeting_have_no_quiet_hours(channel):
    night = local("America/New_York", 2026, 3, 15, 3, 0)
    assert not is_quiet(channel, night, "America/New_York", "FR")
    assert next_allowed_time(channel, night, "America/New_York", "US", "FL") == night
    assert explain(channel, night, "America/New_York", "US") == f"{channel}: no quiet hours"


def test_allowed_time_is_returned_unchanged_and_explained():
    planned = local("America/New_York", 2026, 6, 10, 12, 0)
    assert next_allowed_time("sms", planned, "America/New_York", "US") is planned
    assert explain("sms", planned, "America/New_York", "US") == (
        "sms allowed at 12:00 America/New_York (US federal SMS window 08:00-21:00)"
    )


def test_held_explanation():
    planned = local("America/New_York", 2026, 3, 7, 21, 30)
    assert explain("sms", planned, "America/New_York", "US") == (
        "held until 08:00 America/New_York on Sun 2026-03-08: 21:30 local is outside "
        "08:00-21:00 (US federal SMS window 08:00-21:00)"
    )


@pytest.mark.parametrize("zone", [None, "", "Mars/Olympus_Mons", "../etc/passwd"])
def test_unknown_zone_uses_fallback(zone):
    planned = utc(2026, 6, 10, 3, 0)  # 23:00 in New York, 03:00 UTC
    held = next_allowed_time("sms", planned, zone, "US", fallback_zone="America/New_York")
    assert held == local("America/New_York", 2026, 6, 10, 8, 0)
    assert next_allowed_time("sms", planned, zone, "US") == utc(2026, 6, 10, 8)
    assert "recipient zone unknown" in explain("sms", planned, zone, "US")


def test_bad_input():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_allowed_time("sms", datetime(2026, 6, 10, 3), "UTC", "US")
    with pytest.raises(ValueError, match="unknown channel"):
        is_quiet("fax", utc(2026, 6, 10, 3), "UTC")
    with pytest.raises(ValueError, match="window must open before it closes"):
        load_rule_packs({"XX": {"sms": {"label": "x", "window": ("21:00", "08:00")}}})
    with pytest.raises(ValueError, match="closed every day"):
        every_day = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        load_rule_packs({"XX": {"sms": {"label": "x", "window": ("08:00", "21:00"), "closed_weekdays": every_day}}})


def test_subdivision_packs_only_tighten_their_country():
    for key, rules in RULES.items():
        if "-" not in key:
            continue
        country = key.split("-")[0]
        for channel, rule in rules.items():
            parent = channel_rule(channel, country)
            if parent is None:
                continue
            assert parent.start <= rule.start, key
            assert rule.end <= parent.end, key
            assert parent.closed_weekdays <= rule.closed_weekdays, key
            assert rule.closed_on_holidays or not parent.closed_on_holidays, key
            if parent.per_day_limit is not None:
                assert rule.per_day_limit is not None
                assert rule.per_day_limit <= parent.per_day_limit, key


# Zones with DST, half-hour and 45-minute offsets, a half-hour DST shift (Lord Howe), a switch at
# midnight (Havana), no DST (Kolkata, Tokyo) and the date line.
ZONES = [
    "America/New_York",
    "America/Los_Angeles",
    "America/Havana",
    "America/St_Johns",
    "America/Santiago",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/London",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Tokyo",
    "Australia/Adelaide",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Africa/Casablanca",
    "UTC",
]
PLACES = [(None, None), ("US", None), ("US", "FL"), ("US", "MD"), ("FR", None), ("FR", "57"), ("DE", None)]
YEAR_2026 = st.integers(
    min_value=int(utc(2026, 1, 1).timestamp()), max_value=int(utc(2026, 12, 31, 23, 59).timestamp())
)


@settings(max_examples=400, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    place=st.sampled_from(PLACES),
    seconds=YEAR_2026,
    channel=st.sampled_from(CHANNELS),
    fraction=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_next_allowed_time_is_the_earliest_allowed_instant(zone, place, seconds, channel, fraction):
    country, province = place
    planned = datetime.fromtimestamp(seconds, UTC)
    result = next_allowed_time(channel, planned, zone, country, province)
    assert result.utcoffset() == timedelta(0)
    assert result >= planned
    assert not is_quiet(channel, result, zone, country, province)
    if result != planned:
        assert is_quiet(channel, planned, zone, country, province)
        assert is_quiet(channel, result - timedelta(minutes=1), zone, country, province)
        # (rounding to microseconds must not land on result itself)
        between = min(planned + (result - planned) * fraction, result - timedelta(microseconds=1))
        assert is_quiet(channel, between, zone, country, province)
