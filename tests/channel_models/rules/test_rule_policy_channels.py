"""The rule policy's choice of channel per touch, and of incentive by reason, propensity and touch."""

from dataclasses import replace

import pytest

from channel_models.rules.rule_policy import RulePolicy
from tests.utils.planner_builders import ABANDONED, HOURS, POLICY, make_ctx, only, second_touch

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
        touch=3,
        max_touches=4,
        now=ABANDONED + 25 * HOURS,
        cart_value=300.0,
        previous_channels=("email", "email"),
    )
    decision = POLICY.plan(late)  # it leaves at 72 h: past the SMS window although now is not
    assert decision.channel == "email"
    assert decision.blocked["sms"] == "SMS only within 48 h of abandonment"


# --- incentive --------------------------------------------------------------------------------

BOTH = ("free_shipping", "discount")
# A first-time shopper who stopped at the cart is "Very low"; a loyal one at payment is "High".
LOW_PROPENSITY = dict(stage="cart", cart_value=100.0, incentives_available=BOTH)
HIGH_PROPENSITY = dict(stage="payment", orders=5, total_spent=300.0, cart_value=40.0, incentives_available=BOTH)


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


def test_no_incentive_past_the_shoppers_cap():
    ctx = second_touch(signal_counts={"coupon_attempt": 2}, incentive_cap=1, **LOW_PROPENSITY)
    assert POLICY.plan(ctx).incentive == "discount"
    decision = POLICY.plan(replace(ctx, incentives_received=1))
    assert decision.incentive is None
    assert "no incentive: 1 incentive(s) sent to this shopper in the last 30 days (cap 1)" in decision.explanation


def test_last_touch_rescue_discount_for_low_propensity():
    ctx = make_ctx(touch=3, now=ABANDONED + 25 * HOURS, **LOW_PROPENSITY)
    assert POLICY.plan(ctx).incentive == "discount"
    assert POLICY.plan(replace(ctx, max_touches=4)).incentive is None  # not the last touch
    assert POLICY.plan(replace(ctx, incentives_available=("free_shipping",))).incentive is None
    # a shipping-cost shopper gets the discount when free shipping is not configured
    shipping = replace(ctx, signal_counts={"shipping_page_view": 4}, incentives_available=("discount",))
    assert POLICY.plan(shipping).reason == "shipping_cost"
    assert POLICY.plan(shipping).incentive == "discount"
    moderate = replace(ctx, stage="payment", orders=2, total_spent=100.0, cart_value=40.0)
    assert POLICY.plan(moderate).bucket == "Moderate"
    assert POLICY.plan(moderate).incentive is None
