from dataclasses import replace
from datetime import UTC, datetime, timedelta

from channel_models.actions import ACTIONS, action_index
from channel_models.compliance.action_mask import (
    AFTER_DEADLINE,
    action_mask,
    allowed_actions,
    held_send_at,
)
from channel_models.context import Reachability
from channel_models.rules.rule_policy import RulePolicy
from tests.utils.planner_builders import ABANDONED, make_ctx, reachable_everywhere

UTC = UTC
NOW = ABANDONED + timedelta(minutes=10)  # make_ctx's planning time: Monday 12:10 UTC


def plain(mask):
    return {(ACTIONS[a].channel, ACTIONS[a].delay_hours) for a in mask.allowed if ACTIONS[a].incentive is None}


def test_everything_reachable_allows_all_but_a_late_sms_and_unconfigured_incentives():
    mask = action_mask(make_ctx(), "Low")
    # 48 h after planning is 48 h 10 min after abandonment: past the SMS window
    assert len(mask.allowed) == 19
    assert ("sms", 48.0) not in plain(mask)
    assert ("sms", 24.0) in plain(mask)
    assert mask.blocked == {
        "sms/48h": "SMS only within 48 h of abandonment",
        "free_shipping": "no free shipping code configured",
        "discount": "no discount code configured",
    }
    assert mask.allowed == tuple(sorted(mask.allowed))


def test_incentives_only_when_configured_and_never_for_high_buckets():
    ctx = make_ctx(incentives_available=("discount",))
    low = action_mask(ctx, "Low")
    assert {ACTIONS[a].incentive for a in low.allowed} == {None, "discount"}
    assert len(low.allowed) == 38
    for bucket in ("High", "Very high"):
        high = action_mask(ctx, bucket)
        assert {ACTIONS[a].incentive for a in high.allowed} == {None}
        assert high.blocked["discount"] == f"propensity {bucket}: likely to buy anyway"
    off = action_mask(ctx, "Very low", incentives_allowed=False)
    assert {ACTIONS[a].incentive for a in off.allowed} == {None}
    assert off.blocked["discount"] == "this policy offers no incentives"


def test_no_incentive_to_a_shopper_who_has_had_the_caps_worth():
    ctx = make_ctx(incentives_available=("discount", "free_shipping"), incentive_cap=2, incentive_cap_days=14)
    assert len(action_mask(replace(ctx, incentives_received=1), "Low").allowed) == 57  # one more is fine
    capped = action_mask(replace(ctx, incentives_received=2), "Low")
    assert {ACTIONS[a].incentive for a in capped.allowed} == {None}
    assert capped.blocked["discount"] == "2 incentive(s) sent to this shopper in the last 14 days (cap 2)"
    assert (
        action_mask(replace(ctx, incentives_received=5, incentive_cap=0), "Low").allowed
        == action_mask(ctx, "Low").allowed
    )  # 0: no cap


def test_a_channel_without_consent_is_masked_at_every_delay_with_its_reason():
    reach = {**reachable_everywhere(), "sms": Reachability(captured=True, consent=None)}
    mask = action_mask(make_ctx(reachability=reach), "Moderate")
    assert not any(ACTIONS[a].channel == "sms" for a in mask.allowed)
    assert mask.blocked["sms"] == "no explicit SMS consent"
    allowed, blocked = mask.channels()
    assert allowed == {"email": True, "sms": False, "push": True, "retargeting": True}
    assert blocked == {"sms": "no explicit SMS consent"}


def test_delays_that_pass_the_deadline_are_masked():
    mask = action_mask(make_ctx(deadline=NOW + timedelta(hours=2)), "Low")
    assert {delay for _, delay in plain(mask)} == {0.25, 1.0}
    assert mask.blocked["email/4h"] == AFTER_DEADLINE
    assert mask.blocked["push/48h"] == AFTER_DEADLINE


def test_quiet_hours_hold_the_send_time():
    # 12:25 UTC is 21:25 in Tokyo: SMS waits for 08:00 local (23:00 UTC)
    ctx = make_ctx(timezone="Asia/Tokyo")
    mask = action_mask(ctx, "Low")
    at, why = mask.send_at(action_index("sms", 0.25, None))
    assert at == datetime(2025, 3, 3, 23, 0, tzinfo=UTC)
    assert any("held until 08:00" in line for line in why)
    assert mask.send_at(action_index("sms", 24.0, None))[0] == datetime(2025, 3, 4, 23, 0, tzinfo=UTC)
    assert mask.send_at(action_index("email", 0.25, None))[0] == NOW + timedelta(minutes=15)
    for action in mask.allowed:
        assert held_send_at(ctx, action) == mask.send_at(action)


def test_a_held_time_is_checked_against_the_channel_rules_again():
    # SMS at 4 h is planned 47 h after abandonment (06:00 in New York), but held to 08:00 local,
    # 49 h after abandonment: out of the SMS window, so masked although the planned time was in it
    ctx = make_ctx(timezone="America/New_York", now=ABANDONED + timedelta(hours=43))
    mask = action_mask(ctx, "Low")
    assert not any(ACTIONS[a].channel == "sms" for a in mask.allowed)
    assert mask.blocked["sms"] == "SMS only within 48 h of abandonment"
    assert ("push", 4.0) in plain(mask)


def test_a_hold_past_the_deadline_masks_the_channel_and_says_why_per_delay():
    ctx = make_ctx(timezone="Asia/Tokyo", deadline=ABANDONED + timedelta(hours=10))
    mask = action_mask(ctx, "Low")
    assert not any(ACTIONS[a].channel == "sms" for a in mask.allowed)
    reasons = mask.blocked["sms"].split("; 24h: ")
    assert reasons[0].startswith("15m: held past the attribution deadline (held until 08:00")
    assert reasons[1] == AFTER_DEADLINE + "; 48h: SMS only within 48 h of abandonment"
    assert {delay for channel, delay in plain(mask) if channel == "email"} == {0.25, 1.0, 4.0}


def test_frequency_caps_hold_the_channel_until_the_cap_lifts():
    ctx = make_ctx(sent_history=(("email", NOW - timedelta(hours=1)),))
    mask = action_mask(ctx, "Low")
    for delay in (0.25, 1.0, 4.0):
        at, why = mask.send_at(action_index("email", delay, None))
        assert at == NOW + timedelta(hours=15)
        assert "cap 16 h" in why[-1]
    assert mask.send_at(action_index("email", 24.0, None))[0] == NOW + timedelta(hours=24)


def test_allowed_actions_is_the_plain_view_of_the_mask():
    ctx = make_ctx(incentives_available=("free_shipping",), timezone="Asia/Tokyo")
    mask = action_mask(ctx, "Very low")
    assert allowed_actions(ctx, "Very low") == (list(mask.allowed), mask.blocked)


def test_snap_takes_the_nearest_allowed_delay_of_the_channel_and_incentive():
    mask = action_mask(make_ctx(), "Low")
    assert mask.snap("email", None, NOW + timedelta(minutes=50)) == action_index("email", 1.0, None)
    assert mask.snap("email", None, NOW) == action_index("email", 0.25, None)
    assert mask.snap("push", None, NOW + timedelta(hours=30)) == action_index("push", 24.0, None)
    # 47 h is nearest 48 h, which is masked for SMS: the nearest allowed is 24 h
    assert mask.snap("sms", None, NOW + timedelta(hours=47)) == action_index("sms", 24.0, None)
    assert mask.snap("email", "discount", NOW) is None  # not configured
    reach = {**reachable_everywhere(), "push": Reachability(captured=False)}
    assert action_mask(make_ctx(reachability=reach), "Low").snap("push", None, NOW) is None


def test_the_rule_prior_logs_its_choice_as_an_allowed_action():
    ctx = make_ctx(
        touch=2, now=ABANDONED + timedelta(hours=2), incentives_available=("discount",), signal_counts={"price_sort": 3}
    )
    decision = RulePolicy().plan(ctx)
    mask = action_mask(ctx, decision.bucket)
    assert decision.allowed_actions == mask.allowed
    chosen = ACTIONS[decision.action]
    assert (chosen.channel, chosen.incentive) == (decision.channel, decision.incentive) == ("email", "discount")
    # 24 h after abandonment is 22 h after planning: the 24 h bucket
    assert chosen.delay_hours == 24.0
