from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from planner_builders import ABANDONED, make_ctx, reachable_everywhere

from channel_models import CHANNELS, Reachability, RulePolicy

POLICY = RulePolicy()
HOURS = timedelta(hours=1)


def only(*channels, **overrides):
    """Context where just ``channels`` are configured."""
    return make_ctx(configured=channels, **overrides)


def second_touch(**overrides):
    return make_ctx(**{"touch": 2, "now": ABANDONED + 2 * HOURS, **overrides})


# --- stopping ---------------------------------------------------------------------------------


def test_stops_after_max_touches():
    decision = POLICY.plan(make_ctx(touch=4, max_touches=3))
    assert decision.stop and decision.channel is None and decision.send_at is None
    assert decision.stop_reason == "touch 4 exceeds max_touches 3"
    assert decision.incentive is None


def test_stops_when_no_channel_is_permitted_and_says_why():
    reach = {
        "email": Reachability(captured=True, consent="revoked"),
        "sms": Reachability(captured=True, consent=None),
        "push": Reachability(captured=False),
    }
    decision = POLICY.plan(make_ctx(reachability=reach))
    assert decision.stop and decision.channel is None
    assert decision.stop_reason == (
        "no permitted channel: email unsubscribed; sms no explicit SMS consent; "
        "push no push token; retargeting no audience identifier"
    )
    assert decision.allowed == {ch: False for ch in CHANNELS}


def test_stops_when_the_first_touch_would_land_after_the_deadline():
    decision = POLICY.plan(make_ctx(deadline=ABANDONED + timedelta(minutes=45)))
    assert decision.stop
    assert "after the attribution deadline" in decision.stop_reason


def test_stops_when_the_window_has_closed():
    ctx = make_ctx(touch=2, now=ABANDONED + timedelta(days=8))
    decision = POLICY.plan(ctx)
    assert decision.stop and decision.stop_reason == "attribution window already closed"


def test_late_touch_is_pulled_back_before_the_deadline():
    ctx = make_ctx(touch=3, now=ABANDONED + 25 * HOURS, deadline=ABANDONED + 60 * HOURS)
    decision = POLICY.plan(ctx)
    assert not decision.stop
    assert decision.send_at == ABANDONED + 54 * HOURS
    assert any("last call" in line for line in decision.explanation)


def test_late_touch_stops_when_pulling_back_leaves_no_gap():
    ctx = make_ctx(touch=3, now=ABANDONED + 25 * HOURS, deadline=ABANDONED + 40 * HOURS)
    decision = POLICY.plan(ctx)
    assert decision.stop
    assert decision.stop_reason == "no room for another touch before the attribution deadline"


# --- timing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, delay",
    [
        (dict(stage="checkout"), timedelta(hours=1)),
        (dict(stage="payment"), timedelta(minutes=30)),
        (dict(stage="checkout", signal_counts={"slow_page": 2}), timedelta(minutes=30)),
        (dict(stage="payment", signal_counts={"payment_failed": 1}), timedelta(minutes=15)),
        (dict(touch=2, now=ABANDONED + 2 * HOURS), timedelta(hours=24)),
        (dict(touch=3, now=ABANDONED + 25 * HOURS), timedelta(hours=72)),
        (dict(touch=4, max_touches=5, now=ABANDONED + 73 * HOURS), timedelta(hours=144)),
    ],
)
def test_delay_after_abandonment(overrides, delay):
    ctx = make_ctx(**{"now": ABANDONED + timedelta(minutes=1), **overrides})
    assert POLICY.plan(ctx).send_at == ABANDONED + delay


def test_a_late_journey_sends_at_once():
    now = ABANDONED + 5 * HOURS
    decision = POLICY.plan(make_ctx(now=now))
    assert decision.send_at == now


# --- channel ----------------------------------------------------------------------------------


def test_first_touch_prefers_email():
    decision = POLICY.plan(make_ctx(orders=4, total_spent=400.0, cart_value=500.0))
    assert decision.channel == "email"


def test_first_touch_falls_back_to_push_then_sms_then_retargeting():
    assert POLICY.plan(only("push", "sms", "retargeting")).channel == "push"
    fallback = POLICY.plan(only("sms", "retargeting", cart_value=500.0))
    assert fallback.channel == "sms"
    assert "channel sms: e-mail not allowed; SMS once per cart within 48 h" in fallback.explanation
    assert POLICY.plan(only("retargeting")).channel == "retargeting"


def test_sms_is_reserved_for_high_value_carts_when_email_is_allowed():
    low = second_touch(configured=("email", "sms"), previous_channels=("email",))
    assert POLICY.plan(low).channel == "email"
    high = replace(low, cart_value=150.0)
    assert POLICY.plan(high).channel == "sms"
    # twice the customer's average order counts as high value too
    relative = replace(low, cart_value=80.0, orders=2, total_spent=60.0)
    assert POLICY.plan(relative).channel == "sms"
    assert RulePolicy(high_value=200.0).plan(high).channel == "email"


def test_second_touch_nudges_returning_customers_by_push():
    ctx = second_touch(orders=3, total_spent=200.0, previous_channels=("email",))
    assert POLICY.plan(ctx).channel == "push"
    assert POLICY.plan(replace(ctx, orders=0, total_spent=0.0)).channel == "email"


def test_last_touch_uses_retargeting():
    ctx = make_ctx(touch=3, now=ABANDONED + 25 * HOURS, previous_channels=("email", "email"))
    assert POLICY.plan(ctx).channel == "retargeting"
    # not on a middle touch
    assert POLICY.plan(replace(ctx, max_touches=4)).channel == "email"


def test_high_value_last_touch_still_gets_its_one_sms_while_allowed():
    ctx = second_touch(max_touches=2, cart_value=300.0, previous_channels=("email",))
    assert POLICY.plan(ctx).channel == "sms"


def test_no_same_channel_twice_in_a_row_except_email():
    ctx = second_touch(orders=3, total_spent=200.0, previous_channels=("push",))
    decision = POLICY.plan(ctx)
    assert decision.channel == "email"
    assert "channel email: avoids push twice in a row" in decision.explanation
    # with no alternative the channel repeats rather than stopping
    assert POLICY.plan(replace(ctx, configured=("push",))).channel == "push"
    # e-mail may repeat
    first_timer = replace(ctx, orders=0, total_spent=0.0, previous_channels=("email",))
    assert POLICY.plan(first_timer).channel == "email"


def test_sms_is_not_sent_twice_nor_after_48_hours():
    ctx = second_touch(cart_value=300.0, previous_channels=("sms",))
    decision = POLICY.plan(ctx)
    assert decision.channel != "sms"
    assert decision.blocked["sms"] == "one SMS per cart already sent"
    late = make_ctx(
        touch=3, max_touches=4, now=ABANDONED + 25 * HOURS, cart_value=300.0,
        previous_channels=("email", "email"),
    )
    decision = POLICY.plan(late)  # it leaves at 72 h: past the SMS window although now is not
    assert decision.channel == "email"
    assert decision.blocked["sms"] == "SMS only within 48 h of abandonment"


# --- incentive --------------------------------------------------------------------------------

BOTH = ("free_shipping", "discount")
# A first-time shopper who stopped at the cart is "Very low"; a loyal one at payment is "High".
LOW_PROPENSITY = dict(stage="cart", cart_value=100.0, incentives_available=BOTH)
HIGH_PROPENSITY = dict(
    stage="payment", orders=5, total_spent=300.0, cart_value=40.0, incentives_available=BOTH
)


def test_never_an_incentive_on_the_first_touch():
    ctx = make_ctx(signal_counts={"coupon_attempt": 3}, **LOW_PROPENSITY)
    decision = POLICY.plan(ctx)
    assert decision.incentive is None
    assert "no incentive: first touch, a reminder often suffices" in decision.explanation


@pytest.mark.parametrize(
    "signals, incentive",
    [({"shipping_page_view": 3}, "free_shipping"), ({"coupon_attempt": 2}, "discount")],
)
def test_incentive_matches_the_reason(signals, incentive):
    assert POLICY.plan(second_touch(signal_counts=signals, **LOW_PROPENSITY)).incentive == incentive


def test_no_incentive_for_likely_buyers():
    decision = POLICY.plan(second_touch(signal_counts={"coupon_attempt": 2}, **HIGH_PROPENSITY))
    assert decision.bucket == "High"
    assert decision.incentive is None


def test_no_incentive_that_is_not_configured():
    ctx = second_touch(signal_counts={"shipping_page_view": 3}, **LOW_PROPENSITY)
    assert POLICY.plan(replace(ctx, incentives_available=("discount",))).incentive is None
    assert POLICY.plan(replace(ctx, incentives_available=())).incentive is None


def test_last_touch_rescue_discount_for_low_propensity():
    ctx = make_ctx(touch=3, now=ABANDONED + 25 * HOURS, **LOW_PROPENSITY)
    assert POLICY.plan(ctx).incentive == "discount"
    assert POLICY.plan(replace(ctx, max_touches=4)).incentive is None  # not the last touch
    assert POLICY.plan(replace(ctx, incentives_available=("free_shipping",))).incentive is None
    # a shipping-cost shopper gets the discount when free shipping is not configured
    shipping = replace(
        ctx, signal_counts={"shipping_page_view": 4}, incentives_available=("discount",)
    )
    assert POLICY.plan(shipping).reason == "shipping_cost"
    assert POLICY.plan(shipping).incentive == "discount"
    moderate = replace(ctx, stage="payment", orders=2, total_spent=100.0, cart_value=40.0)
    assert POLICY.plan(moderate).bucket == "Moderate"
    assert POLICY.plan(moderate).incentive is None


# --- decision record --------------------------------------------------------------------------


def test_decision_records_everything_the_log_needs():
    ctx = make_ctx(stage="shipping", signal_counts={"shipping_page_view": 1}, reachability={
        **reachable_everywhere(), "sms": Reachability(captured=True, consent=None),
    })
    decision = POLICY.plan(ctx)
    assert (decision.policy, decision.action_propensity) == ("rules-v1", 1.0)
    assert decision.reason == "shipping_cost"
    assert decision.blocked == {"sms": "no explicit SMS consent"}
    assert decision.explanation == (
        "reason shipping_cost (confidence 0.50)",
        f"propensity {decision.propensity:.2f} ({decision.bucket})",
        "channel email: first touch prefers e-mail (cheap, shows the items)",
        "time: 1 h after abandonment: first reminder",
        "no incentive: first touch, a reminder often suffices",
    )


def test_bucket_edges_are_a_parameter():
    ctx = make_ctx()
    assert RulePolicy(bucket_edges=(0.0, 0.0, 0.0, 0.0)).plan(ctx).bucket == "Very high"


def test_same_context_same_decision():
    ctx = second_touch(orders=1, total_spent=50.0, signal_counts={"price_sort": 1, "add_remove": 2})
    assert POLICY.plan(ctx) == POLICY.plan(ctx) == RulePolicy().plan(replace(ctx))


@pytest.mark.parametrize("overrides", [dict(touch=0), dict(max_touches=-1)])
def test_bad_touch_numbers_are_rejected(overrides):
    with pytest.raises(ValueError, match="touch must be >= 1"):
        POLICY.plan(make_ctx(**overrides))


def test_naive_datetimes_are_rejected():
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        POLICY.plan(make_ctx(now=datetime(2025, 3, 3, 13, 0)))


def test_sms_planned_at_night_is_held_to_the_morning_in_the_recipients_zone():
    from datetime import datetime, timezone

    from channel_models import PlanContext, Reachability, RulePolicy

    night = datetime(2026, 3, 8, 6, 0, tzinfo=timezone.utc)  # 01:00 in New York, the spring-forward day
    ctx = PlanContext(
        touch=1, max_touches=1, now=night, abandoned_at=night, deadline=datetime(2026, 3, 13, tzinfo=timezone.utc),
        cart_value=300.0, item_count=1, stage="payment", configured=("sms",),
        reachability={"sms": Reachability(captured=True, consent="granted")},
        timezone="America/New_York", country="US", province="FL",
    )
    decision = RulePolicy().plan(ctx)
    assert decision.channel == "sms"
    assert decision.send_at == datetime(2026, 3, 8, 12, 0, tzinfo=timezone.utc)  # 08:00 EDT
    assert any("held until 08:00" in line for line in decision.explanation)


def test_an_email_cap_moves_the_touch_after_the_cap():
    from datetime import datetime, timedelta, timezone

    from channel_models import PlanContext, Reachability, RulePolicy

    now = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
    ctx = PlanContext(
        touch=1, max_touches=1, now=now, abandoned_at=now, deadline=now + timedelta(days=5), cart_value=50.0,
        item_count=1, stage="checkout", configured=("email",),
        reachability={"email": Reachability(captured=True)},
        sent_history=(("email", now - timedelta(hours=4)),), cap_hours={"email_hours": 16},
    )
    decision = RulePolicy().plan(ctx)
    assert decision.channel == "email" and decision.send_at == now + timedelta(hours=12)
