"""The rule policy: when it stops, when it sends (delays, quiet hours, caps), and the decision it records."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from channel_models.context import Reachability
from channel_models.rules.rule_policy import RulePolicy
from channel_models.vocabulary import CHANNELS
from tests.utils.planner_builders import ABANDONED, HOURS, POLICY, make_ctx, reachable_everywhere, second_touch

# --- stopping ---------------------------------------------------------------------------------


def test_stops_after_max_touches():
    decision = POLICY.plan(make_ctx(touch=4, max_touches=3))
    assert decision.stop
    assert decision.channel is None
    assert decision.send_at is None
    assert decision.stop_reason == "touch 4 exceeds max_touches 3"
    assert decision.incentive is None


def test_stops_when_no_channel_is_permitted_and_says_why():
    reach = {
        "email": Reachability(captured=True, consent="revoked"),
        "sms": Reachability(captured=True, consent=None),
        "push": Reachability(captured=False),
    }
    decision = POLICY.plan(make_ctx(reachability=reach))
    assert decision.stop
    assert decision.channel is None
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
    assert decision.stop
    assert decision.stop_reason == "attribution window already closed"


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


# --- decision record --------------------------------------------------------------------------


def test_decision_records_everything_the_log_needs():
    ctx = make_ctx(
        stage="shipping",
        signal_counts={"shipping_page_view": 1},
        reachability={
            **reachable_everywhere(),
            "sms": Reachability(captured=True, consent=None),
        },
    )
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
    from datetime import datetime

    from channel_models.context import PlanContext, Reachability
    from channel_models.rules.rule_policy import RulePolicy

    night = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)  # 01:00 in New York, the spring-forward day
    ctx = PlanContext(
        touch=1,
        max_touches=1,
        now=night,
        abandoned_at=night,
        deadline=datetime(2026, 3, 13, tzinfo=UTC),
        cart_value=300.0,
        item_count=1,
        stage="payment",
        configured=("sms",),
        reachability={"sms": Reachability(captured=True, consent="granted")},
        timezone="America/New_York",
        country="US",
        province="FL",
    )
    decision = RulePolicy().plan(ctx)
    assert decision.channel == "sms"
    assert decision.send_at == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)  # 08:00 EDT
    assert any("held until 08:00" in line for line in decision.explanation)


def test_an_email_cap_moves_the_touch_after_the_cap():
    from datetime import datetime, timedelta

    from channel_models.context import PlanContext, Reachability
    from channel_models.rules.rule_policy import RulePolicy

    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    ctx = PlanContext(
        touch=1,
        max_touches=1,
        now=now,
        abandoned_at=now,
        deadline=now + timedelta(days=5),
        cart_value=50.0,
        item_count=1,
        stage="checkout",
        configured=("email",),
        reachability={"email": Reachability(captured=True)},
        sent_history=(("email", now - timedelta(hours=4)),),
        cap_hours={"email_hours": 16},
    )
    decision = RulePolicy().plan(ctx)
    assert decision.channel == "email"
    assert decision.send_at == now + timedelta(hours=12)
