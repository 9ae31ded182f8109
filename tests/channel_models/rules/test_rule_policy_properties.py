"""Properties of the rule planner over random contexts and whole simulated journeys."""

from dataclasses import replace
from datetime import timedelta

from hypothesis import event, given, settings
from hypothesis import strategies as st

from channel_models.compliance.eligibility import channel_masks
from channel_models.compliance.send_window import send_times
from channel_models.context import PlanContext, Reachability
from channel_models.rules.reasons import infer_reason
from channel_models.rules.rule_policy import RulePolicy
from channel_models.rules.timing import plan_send_time, touch_delay
from channel_models.vocabulary import BUCKETS, CHANNELS, INCENTIVES
from tests.utils.planner_builders import ABANDONED

POLICY = RulePolicy()
SIGNALS = (
    "shipping_page_view",
    "price_sort",
    "discount_filter",
    "coupon_attempt",
    "add_remove",
    "comparison_view",
    "product_view",
    "payment_failed",
    "slow_page",
)

# Skewed towards contexts a real shop produces (most channels reachable, touch near the journey's
# range) so most examples get past the stop rules, while every stop path still comes up.
consent = st.sampled_from(["granted", "granted", "granted", None, "revoked", "pending"])
reachability = st.fixed_dictionaries(
    {
        channel: st.builds(Reachability, captured=st.sampled_from([True, True, True, False]), consent=consent)
        for channel in CHANNELS
    }
)
subsets = st.lists(st.sampled_from(CHANNELS), unique=True).map(tuple)
MINUTES_PER_DAY = 24 * 60


def rarely(draw) -> bool:
    # Hypothesis favours small values, so the rare branch is the largest one.
    return draw(st.integers(0, 9)) == 9


@st.composite
def contexts(draw):
    max_touches = 0 if rarely(draw) else draw(st.integers(1, 5))
    touch = draw(st.integers(1, max(1, max_touches)))
    if rarely(draw):
        touch = max_touches + draw(st.integers(1, 2))
    deadline_minutes = draw(st.integers(MINUTES_PER_DAY, 14 * MINUTES_PER_DAY))
    if rarely(draw):
        deadline_minutes = draw(st.integers(0, MINUTES_PER_DAY))
    now_minutes = draw(st.integers(0, deadline_minutes))
    if rarely(draw):
        now_minutes = deadline_minutes + draw(st.integers(1, MINUTES_PER_DAY))
    return PlanContext(
        touch=touch,
        max_touches=max_touches,
        now=ABANDONED + timedelta(minutes=now_minutes),
        abandoned_at=ABANDONED,
        deadline=ABANDONED + timedelta(minutes=deadline_minutes),
        cart_value=draw(st.floats(0, 5000, allow_nan=False)),
        item_count=draw(st.integers(1, 20)),
        stage=draw(st.sampled_from(["cart", "checkout", "shipping", "payment"])),
        orders=draw(st.integers(0, 40)),
        total_spent=draw(st.floats(0, 20000, allow_nan=False)),
        previous_abandonments=draw(st.integers(0, 10)),
        signal_counts=draw(st.dictionaries(st.sampled_from(SIGNALS), st.integers(0, 6))),
        configured=draw(st.one_of(st.just(CHANNELS), subsets)),
        reachability=draw(reachability),
        email_requires_consent=draw(st.booleans()),
        previous_channels=tuple(draw(st.lists(st.sampled_from(CHANNELS), min_size=touch - 1, max_size=touch - 1))),
        excluded=draw(st.lists(st.sampled_from(CHANNELS), unique=True, max_size=1).map(tuple)),
        incentives_available=draw(st.lists(st.sampled_from(INCENTIVES), unique=True).map(tuple)),
    )


def nominal_send_at(ctx):
    reason, _ = infer_reason(ctx.signal_counts, ctx.stage)
    delay, _ = touch_delay(ctx.touch, ctx.stage, reason, ctx.signal_counts)
    return max(ctx.now, ctx.abandoned_at + delay)


@settings(max_examples=600, deadline=None)
@given(contexts())
def test_decisions_respect_masks_time_and_caps(ctx):
    decision = POLICY.plan(ctx)
    allowed_now, _ = channel_masks(ctx)
    # Run with --hypothesis-show-statistics to see how often each path is taken.
    path = decision.stop_reason[:25] if decision.stop else f"{decision.channel} {decision.incentive}"
    event(path)
    assert decision.bucket in BUCKETS
    assert 0 < decision.propensity < 1
    assert 0 <= decision.reason_confidence <= 1
    assert decision.allowed.keys() == set(CHANNELS)
    assert {ch for ch, ok in decision.allowed.items() if not ok} == set(decision.blocked)

    if decision.stop:
        assert decision.channel is None
        assert decision.send_at is None
        assert decision.incentive is None
        assert decision.stop_reason
        assert ctx.touch > ctx.max_touches or not any(decision.allowed.values()) or nominal_send_at(ctx) > ctx.deadline
        return
    # quiet hours and caps only ever move the send time later, never earlier
    assert decision.send_at >= plan_send_time(ctx, decision.reason)[0]

    assert ctx.touch <= ctx.max_touches
    assert decision.channel in CHANNELS
    assert allowed_now[decision.channel]
    assert decision.allowed[decision.channel]
    assert ctx.now <= decision.send_at <= ctx.deadline
    if decision.channel == "sms":
        assert POLICY.is_high_value(ctx) or not decision.allowed["email"]  # SMS is reserved
        assert "sms" not in ctx.previous_channels
        assert decision.send_at - ctx.abandoned_at <= timedelta(hours=48)
    if decision.incentive is not None:
        assert ctx.touch > 1
        assert decision.bucket not in ("High", "Very high")
        assert decision.incentive in ctx.incentives_available


@settings(max_examples=300, deadline=None)
@given(contexts())
def test_does_not_stop_when_a_touch_is_possible(ctx):
    decision = POLICY.plan(ctx)
    send_at = nominal_send_at(ctx)
    if ctx.touch > ctx.max_touches or send_at > ctx.deadline:
        return
    allowed, blocked = channel_masks(ctx, send_at)
    # a channel that quiet hours or caps hold past the deadline is masked like any other rule
    if send_times(ctx, send_at, allowed, blocked):
        assert not decision.stop


@settings(max_examples=200, deadline=None)
@given(contexts())
def test_same_context_same_decision(ctx):
    reordered = replace(ctx, signal_counts=dict(reversed(list(ctx.signal_counts.items()))))
    assert POLICY.plan(ctx) == POLICY.plan(ctx) == RulePolicy().plan(reordered)


@settings(max_examples=300, deadline=None)
@given(contexts(), st.lists(st.sampled_from(CHANNELS), max_size=3))
def test_a_whole_journey_sends_at_most_one_sms_within_48_hours(ctx, failures):
    """Plan touch after touch as the workflow does: advance to each send time, remember channels."""
    ctx = replace(ctx, touch=1, now=ABANDONED, previous_channels=(), excluded=())
    failures = list(failures)
    sent = []
    for _ in range(12):  # a journey is bounded; a loop here would be a planner bug
        decision = POLICY.plan(ctx)
        if decision.stop:
            break
        if failures and failures[0] == decision.channel:  # failed permanently: re-plan this touch
            failures.pop(0)
            ctx = replace(ctx, now=decision.send_at, excluded=ctx.excluded + (decision.channel,))
            continue
        sent.append((decision.channel, decision.send_at))
        ctx = replace(
            ctx,
            touch=ctx.touch + 1,
            now=decision.send_at,
            previous_channels=ctx.previous_channels + (decision.channel,),
        )
    else:
        raise AssertionError("journey did not stop")
    assert len(sent) <= max(ctx.max_touches, 0)
    sms = [at for channel, at in sent if channel == "sms"]
    assert len(sms) <= 1
    assert all(at - ABANDONED <= timedelta(hours=48) for at in sms)
    assert all(at <= ctx.deadline for _, at in sent)
    assert [at for _, at in sent] == sorted(at for _, at in sent)
