from dataclasses import replace
from datetime import timedelta

import pytest

from channel_models.compliance.eligibility import channel_masks
from channel_models.context import Reachability
from channel_models.vocabulary import CHANNELS
from tests.utils.planner_builders import ABANDONED, make_ctx, reachable_everywhere


def with_reach(channel, **fields):
    reach = reachable_everywhere()
    reach[channel] = Reachability(**fields)
    return reach


def blocked_for(ctx):
    allowed, blocked = channel_masks(ctx)
    assert set(allowed) == set(CHANNELS)
    assert {ch for ch, ok in allowed.items() if not ok} == set(blocked)
    return blocked


def test_everything_allowed_when_every_rule_passes():
    allowed, blocked = channel_masks(make_ctx())
    assert allowed == {ch: True for ch in CHANNELS}
    assert blocked == {}


@pytest.mark.parametrize("channel", CHANNELS)
def test_not_configured(channel):
    ctx = make_ctx(configured=tuple(ch for ch in CHANNELS if ch != channel))
    assert blocked_for(ctx) == {channel: "no delivery URL configured"}


@pytest.mark.parametrize("channel", CHANNELS)
def test_excluded_after_permanent_failure(channel):
    ctx = make_ctx(excluded=(channel,))
    assert blocked_for(ctx) == {channel: "failed permanently for this cart"}


@pytest.mark.parametrize(
    "channel, why",
    [
        ("email", "no e-mail address captured"),
        ("sms", "no valid phone number"),
        ("push", "no push token"),
        ("retargeting", "no audience identifier"),
    ],
)
def test_not_captured(channel, why):
    ctx = make_ctx(reachability=with_reach(channel, captured=False, consent="granted"))
    assert blocked_for(ctx) == {channel: why}


def test_missing_reachability_counts_as_not_captured():
    assert blocked_for(make_ctx(reachability={}))["push"] == "no push token"


@pytest.mark.parametrize(
    "channel, consent, requires, why",
    [
        ("email", "revoked", False, "unsubscribed"),
        ("email", "revoked", True, "unsubscribed"),
        ("email", None, True, "no e-mail consent (opt-in required)"),
        ("sms", None, False, "no explicit SMS consent"),
        ("sms", "revoked", False, "no explicit SMS consent"),
        ("sms", "pending", False, "no explicit SMS consent"),
        ("push", None, False, "no push opt-in"),
        ("push", "revoked", False, "no push opt-in"),
        ("retargeting", None, False, "no ads consent"),
        ("retargeting", "revoked", False, "no ads consent"),
    ],
)
def test_consent(channel, consent, requires, why):
    ctx = make_ctx(
        reachability=with_reach(channel, captured=True, consent=consent),
        email_requires_consent=requires,
    )
    assert blocked_for(ctx) == {channel: why}


def test_unknown_email_consent_is_allowed_unless_the_shop_requires_opt_in():
    ctx = make_ctx(reachability=with_reach("email", captured=True, consent=None))
    assert blocked_for(ctx) == {}


def test_one_sms_per_cart():
    ctx = make_ctx(touch=3, previous_channels=("sms", "email"))
    assert blocked_for(ctx) == {"sms": "one SMS per cart already sent"}


def test_sms_only_within_48_hours():
    at_limit = make_ctx(now=ABANDONED + timedelta(hours=48))
    assert blocked_for(at_limit) == {}
    late = replace(at_limit, now=ABANDONED + timedelta(hours=48, seconds=1))
    assert blocked_for(late) == {"sms": "SMS only within 48 h of abandonment"}


def test_sms_window_is_checked_at_the_send_time_when_given():
    ctx = make_ctx()
    allowed, blocked = channel_masks(ctx, send_at=ABANDONED + timedelta(hours=72))
    assert not allowed["sms"]
    assert blocked == {"sms": "SMS only within 48 h of abandonment"}


def test_first_failing_rule_names_the_reason():
    # not configured beats excluded beats not captured beats consent beats the SMS cap
    reach = with_reach("sms", captured=False, consent=None)
    ctx = make_ctx(configured=("email",), excluded=("sms",), reachability=reach)
    assert blocked_for(ctx)["sms"] == "no delivery URL configured"
    ctx = replace(ctx, configured=CHANNELS)
    assert blocked_for(ctx)["sms"] == "failed permanently for this cart"
    ctx = replace(ctx, excluded=())
    assert blocked_for(ctx)["sms"] == "no valid phone number"
    no_consent = with_reach("sms", captured=True, consent=None)
    ctx = replace(ctx, reachability=no_consent, previous_channels=("sms",))
    assert blocked_for(ctx)["sms"] == "no explicit SMS consent"
    ctx = replace(ctx, reachability=reachable_everywhere())
    assert blocked_for(ctx)["sms"] == "one SMS per cart already sent"
