from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channel_models.compliance.caps import cap_block, cap_lifts_at, earliest_send_time
from channel_models.compliance.rule_packs import journey_limit
from channel_models.vocabulary import CHANNELS

UTC = UTC
AT = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)
H = timedelta(hours=1)
DEFAULT_HOURS = {"email": 16, "sms": 24, "push": 24}


@pytest.mark.parametrize("channel, hours", DEFAULT_HOURS.items())
def test_each_channel_cap_window(channel, hours):
    just_inside = [(channel, AT - hours * H + timedelta(seconds=1))]
    assert cap_block(channel, AT, just_inside) is not None
    assert cap_block(channel, AT, [(channel, AT - hours * H)]) is None  # exactly at the cap
    assert cap_block(channel, AT, [(channel, AT - hours * H - timedelta(seconds=1))]) is None
    assert cap_block(channel, AT, [(channel, AT)]) is not None  # sent this very moment


def test_reason_names_channel_age_and_cap():
    history = [("email", AT - timedelta(hours=3, minutes=12))]
    assert cap_block("email", AT, history) == "an e-mail went to this customer 3.2 h ago (cap 16 h)"
    assert cap_block("sms", AT, [("sms", AT - 2 * H)]) == ("an SMS went to this customer 2.0 h ago (cap 24 h)")
    # The most recent send is the one reported and the one that decides when the cap lifts.
    two = [("push", AT - 20 * H), ("push", AT - 1 * H)]
    assert cap_block("push", AT, two) == ("a push notification went to this customer 1.0 h ago (cap 24 h)")
    assert cap_lifts_at("push", AT, two) == AT + 23 * H


def test_retargeting_has_no_cap_by_default():
    assert cap_block("retargeting", AT, [("retargeting", AT)]) is None
    assert cap_block("retargeting", AT, [("retargeting", AT - H)], retargeting_hours=6) is not None


@pytest.mark.parametrize("channel", CHANNELS)
def test_other_channels_do_not_block(channel):
    others = [(other, AT - timedelta(minutes=5)) for other in CHANNELS if other != channel]
    assert cap_block(channel, AT, others) is None
    assert cap_lifts_at(channel, AT, others) is None


def test_hours_are_parameters():
    history = [("email", AT - 5 * H)]
    assert cap_block("email", AT, history) is not None
    assert cap_block("email", AT, history, email_hours=4) is None
    assert cap_block("email", AT, history, email_hours=0) is None  # 0 turns the cap off
    assert cap_block("sms", AT, [("sms", AT - 30 * H)], sms_hours=48) is not None
    assert cap_block("push", AT, [("push", AT - 0.5 * H)], push_hours=0.25) is None


def test_later_sends_do_not_block_an_earlier_moment():
    assert cap_block("email", AT, [("email", AT + H)]) is None


def test_florida_three_per_day_for_one_cart():
    assert journey_limit("sms", "US", "FL") == 3
    assert journey_limit("email", "US", "FL") is None
    assert journey_limit("sms", "US", None) is None
    assert journey_limit("sms", "FR", None) is None
    limit = journey_limit("sms", "US", "FL")
    cart = [("sms", AT - 20 * H), ("sms", AT - 10 * H), ("sms", AT - 2 * H)]
    # sms_hours=0 isolates the per-cart limit from the customer-wide cap.
    assert cap_block("sms", AT, [], sms_hours=0, per_day_limit=limit, journey_history=cart) == (
        "3 SMS for this cart in the last 24 h (limit 3 per 24 h)"
    )
    assert cap_block("sms", AT, [], sms_hours=0, per_day_limit=limit, journey_history=cart[1:]) is None
    assert (
        cap_block("sms", AT, [], sms_hours=0, per_day_limit=limit, journey_history=[("sms", AT - 24 * H)] + cart[1:])
        is None
    )  # aged out
    # Other channels of the cart do not count toward the SMS limit.
    mixed = [("email", AT - 3 * H)] + cart[1:]
    assert cap_block("sms", AT, [], sms_hours=0, per_day_limit=limit, journey_history=mixed) is None
    # It lifts when the oldest of the three is 24 h old.
    lifts = cap_lifts_at("sms", AT, [], sms_hours=0, per_day_limit=limit, journey_history=cart)
    assert lifts == AT + 4 * H
    # Without the rule pack's limit nothing blocks.
    assert cap_block("sms", AT, [], sms_hours=0, journey_history=cart) is None


def test_both_caps_reported_together():
    cart = [("sms", AT - 3 * H), ("sms", AT - 2 * H), ("sms", AT - 1 * H)]
    why = cap_block("sms", AT, cart, per_day_limit=3, journey_history=cart)
    assert why == (
        "an SMS went to this customer 1.0 h ago (cap 24 h); 3 SMS for this cart in the last 24 h (limit 3 per 24 h)"
    )
    assert cap_lifts_at("sms", AT, cart, per_day_limit=3, journey_history=cart) == AT + 23 * H


def test_lifts_at_follows_chained_sends():
    # Blocked until AT+6h by the first e-mail; by then the one sent at AT+3h blocks until AT+19h.
    history = [("email", AT - 10 * H), ("email", AT + 3 * H)]
    lifts = cap_lifts_at("email", AT, history)
    assert lifts == AT + 19 * H
    assert cap_block("email", lifts, history) is None
    assert cap_block("email", AT + 6 * H, history) is not None


def test_lifts_at_is_none_when_allowed():
    assert cap_lifts_at("email", AT, []) is None
    assert cap_lifts_at("email", AT, [("email", AT - 16 * H)]) is None


def test_bad_input():
    with pytest.raises(ValueError, match="unknown channel"):
        cap_block("fax", AT, [])
    with pytest.raises(ValueError, match="timezone-aware"):
        cap_block("email", datetime(2026, 6, 10), [])
    with pytest.raises(ValueError, match="email_hours must be >= 0"):
        cap_lifts_at("email", AT, [], email_hours=-1)
    with pytest.raises(ValueError, match="per_day_limit"):
        cap_block("sms", AT, [], per_day_limit=0)


SENDS = st.lists(
    st.tuples(st.sampled_from(CHANNELS), st.integers(min_value=-48 * 60, max_value=48 * 60)),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(
    channel=st.sampled_from(CHANNELS),
    customer=SENDS,
    cart=SENDS,
    limit=st.one_of(st.none(), st.integers(min_value=1, max_value=3)),
    fraction=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_lifts_at_agrees_with_cap_block(channel, customer, cart, limit, fraction):
    sent = [(ch, AT + timedelta(minutes=m)) for ch, m in customer]
    journey = [(ch, AT + timedelta(minutes=m)) for ch, m in cart]
    kwargs = dict(per_day_limit=limit, journey_history=journey)
    why = cap_block(channel, AT, sent, **kwargs)
    lifts = cap_lifts_at(channel, AT, sent, **kwargs)
    assert (why is None) == (lifts is None)
    if lifts is not None:
        assert lifts > AT
        assert cap_block(channel, lifts, sent, **kwargs) is None
        assert cap_block(channel, lifts - timedelta(seconds=1), sent, **kwargs) is not None
        between = min(AT + (lifts - AT) * fraction, lifts - timedelta(microseconds=1))
        assert cap_block(channel, between, sent, **kwargs) is not None


NEW_YORK = ZoneInfo("America/New_York")


def new_york(*fields):
    return datetime(*fields, tzinfo=NEW_YORK).astimezone(UTC)


def test_earliest_send_time_cap_then_quiet_hours():
    planned = new_york(2026, 6, 10, 19, 30)
    sent = [("sms", planned - 23 * H)]  # the cap lifts at 20:30, after Florida's 20:00 close
    at, why = earliest_send_time(
        "sms", planned, zone="America/New_York", country="US", province="FL", sent_history=sent
    )
    assert at == new_york(2026, 6, 11, 8, 0)
    assert len(why) == 2
    assert why[0].startswith("held until 2026-06-11 00:30 UTC: an SMS went to this customer")
    assert why[1].startswith("held until 08:00 America/New_York on Thu 2026-06-11")


def test_earliest_send_time_quiet_hours_then_cap():
    planned = new_york(2026, 6, 10, 22, 0)
    sent = [("sms", new_york(2026, 6, 10, 9, 0))]  # blocks until 09:00 next morning
    at, why = earliest_send_time("sms", planned, zone="America/New_York", country="US", sent_history=sent)
    assert at == new_york(2026, 6, 11, 9, 0)
    assert len(why) == 2


def test_earliest_send_time_uses_rule_pack_limit_and_hour_settings():
    planned = new_york(2026, 6, 10, 12, 0)
    cart = [("sms", planned - 3 * H), ("sms", planned - 2 * H), ("sms", planned - 1 * H)]
    at, _ = earliest_send_time(
        "sms", planned, zone="America/New_York", country="US", province="FL", journey_history=cart, sms_hours=0
    )
    assert at == planned + 21 * H  # 09:00 next day: the oldest of the three turns 24 h
    at, why = earliest_send_time(
        "sms", planned, zone="America/New_York", country="US", journey_history=cart, sms_hours=0
    )
    assert (at, why) == (planned, ())  # no per-cart limit outside the 8 p.m. states
