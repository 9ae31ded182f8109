"""Acceptance criterion 3: no policy ever chooses what the mask forbids, exploration included."""

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from channel_models.actions import ACTIONS
from channel_models.compliance.action_mask import NO_INCENTIVE_BUCKETS, action_mask
from channel_models.compliance.eligibility import blocked_because
from channel_models.compliance.send_window import held_until
from channel_models.context import PlanContext, Reachability
from channel_models.learning.features import FEATURE_NAMES
from channel_models.learning.learned_policy import LearnedPolicy
from channel_models.learning.reward_model import RewardModel
from channel_models.registry.model_set import LoadedModel, ModelSet
from channel_models.rules.exploration import ExploringPolicy
from channel_models.rules.fixed_flow import FixedFlowPolicy
from channel_models.rules.rule_policy import RulePolicy
from channel_models.vocabulary import CHANNELS, INCENTIVES
from tests.utils.planner_builders import ABANDONED

SIGNALS = ("shipping_page_view", "price_sort", "coupon_attempt", "add_remove", "payment_failed", "slow_page")
ZONES = (
    "America/New_York",
    "America/Los_Angeles",
    "Europe/Berlin",
    "Asia/Tokyo",
    "Australia/Sydney",
    None,
    "Not/AZone",
)
HOUR = 60  # minutes


class GivenPropensity:
    """A propensity model that scores every cart ``p``: the test picks the bucket directly."""

    def __init__(self, p):
        self.p = p
        self.bucket_edges_ = (0.2, 0.4, 0.6, 0.8)

    def predict_proba(self, X):
        return np.tile([1 - self.p, self.p], (len(X), 1))


@pytest.fixture(scope="module")
def reward_model():
    # random data with some action and context effects, so the greedy choice moves around
    rng = np.random.default_rng(3)
    n = 4000
    X = rng.normal(size=(n, len(FEATURE_NAMES)))
    actions = rng.integers(0, len(ACTIONS), n)
    logit = -1.0 + 0.8 * np.sin(actions) + 0.5 * X[:, 0] * (actions % 3 == 2)
    return RewardModel(seed=0, max_iter=20, n_threads=1).fit(X, actions, rng.random(n) < 1 / (1 + np.exp(-logit)))


consent = st.sampled_from(["granted", "granted", "granted", None, "revoked"])
reachability = st.fixed_dictionaries(
    {
        channel: st.builds(Reachability, captured=st.sampled_from([True, True, True, False]), consent=consent)
        for channel in CHANNELS
    }
)
cap_hours = st.dictionaries(
    st.sampled_from(["email_hours", "sms_hours", "push_hours", "retargeting_hours"]),
    st.sampled_from([0.0, 4.0, 16.0, 24.0, 48.0]),
)


@st.composite
def contexts(draw):
    # Skewed towards contexts that get past the stop rules, while every stop path still comes up.
    max_touches = draw(st.integers(1, 5))
    touch = draw(st.integers(1, max_touches + draw(st.sampled_from([0, 0, 0, 1]))))
    deadline = draw(st.sampled_from([2 * HOUR, 30 * HOUR, 50 * HOUR] + [7 * 24 * HOUR] * 3)) + draw(st.integers(0, 120))
    now = draw(st.integers(0, min(deadline, 60 * HOUR)))
    if draw(st.integers(0, 9)) == 9:
        now = deadline + draw(st.integers(1, HOUR))
    country = draw(st.sampled_from([None, "US", "FR", "DE"]))
    ago = st.integers(0, 48 * HOUR).map(lambda m: ABANDONED + timedelta(minutes=now - m))
    return PlanContext(
        touch=touch,
        max_touches=max_touches,
        now=ABANDONED + timedelta(minutes=now),
        abandoned_at=ABANDONED,
        deadline=ABANDONED + timedelta(minutes=deadline),
        cart_value=draw(st.floats(1, 2000)),
        item_count=draw(st.integers(1, 9)),
        stage=draw(st.sampled_from(["cart", "checkout", "shipping", "payment"])),
        orders=draw(st.integers(0, 10)),
        total_spent=draw(st.floats(0, 5000)),
        signal_counts=draw(st.dictionaries(st.sampled_from(SIGNALS), st.integers(0, 4))),
        configured=draw(
            st.sampled_from([CHANNELS] * 3 + [("email",), ("email", "sms"), ("sms", "push", "retargeting")])
        ),
        reachability=draw(reachability),
        email_requires_consent=draw(st.booleans()),
        previous_channels=tuple(draw(st.lists(st.sampled_from(CHANNELS), min_size=touch - 1, max_size=touch - 1))),
        excluded=tuple(draw(st.lists(st.sampled_from(CHANNELS), unique=True, max_size=1))),
        incentives_available=tuple(draw(st.lists(st.sampled_from(INCENTIVES), unique=True))),
        timezone=draw(st.sampled_from(ZONES)),
        country=country,
        province=draw(st.sampled_from([None, "FL", "CA"])) if country == "US" else None,
        sent_history=tuple(draw(st.lists(st.tuples(st.sampled_from(CHANNELS), ago), max_size=4))),
        journey_history=tuple(draw(st.lists(st.tuples(st.just("sms"), ago), max_size=3))),
        cap_hours=draw(cap_hours),
    )


def assert_respects_mask(ctx, decision, learned):
    if decision.stop:
        assert decision.channel is None
        assert decision.send_at is None
        assert decision.incentive is None
        assert decision.action is None
        return
    mask = action_mask(ctx, decision.bucket)
    # the message itself: a permitted channel, when it may leave, before the deadline
    assert blocked_because(ctx, decision.channel, decision.send_at) is None
    assert ctx.now <= decision.send_at <= ctx.deadline
    assert held_until(ctx, decision.channel, decision.send_at)[0] == decision.send_at
    if decision.incentive is not None:
        assert decision.incentive in ctx.incentives_available
        assert decision.bucket not in NO_INCENTIVE_BUCKETS
    # its place in the action space
    if learned:  # the bandit's own choices are always actions, sent at the action's held time
        assert decision.action is not None
        assert decision.allowed_actions == mask.allowed
        assert decision.send_at == mask.send_at(decision.action)[0]
    if decision.action is not None:
        chosen = ACTIONS[decision.action]
        assert decision.action in mask.allowed
        assert decision.action in decision.allowed_actions
        assert set(decision.allowed_actions) <= set(mask.allowed)
        assert (chosen.channel, chosen.incentive) == (decision.channel, decision.incentive)
        assert 0 < decision.action_propensity <= 1


epsilons = st.one_of(st.sampled_from([0.05, 0.3]), st.floats(0.01, 1.0))  # some keep, some explore


@settings(max_examples=250, deadline=None)
@given(ctx=contexts(), epsilon=epsilons, seed=st.integers(0, 2**31), p=st.floats(0.01, 0.99))
def test_no_policy_chooses_a_masked_action(reward_model, ctx, epsilon, seed, p):
    models = ModelSet(propensity=LoadedModel(1, 1, GivenPropensity(p)), policy=LoadedModel(2, 1, reward_model))
    policies = {
        "rules": (RulePolicy(), False),
        "explore": (ExploringPolicy(RulePolicy(), epsilon, seed), False),
        "learned": (LearnedPolicy(models, epsilon=epsilon, seed=seed), True),
        "learned, rule prior": (LearnedPolicy(ModelSet(policy=models.policy), epsilon=epsilon, seed=seed), True),
        "fixed": (FixedFlowPolicy("email@1h,push@4h,email@1d,sms@30h,email@3d"), False),
    }
    for name, (policy, learned) in policies.items():
        decision = policy.plan(ctx)
        event(f"{name}: {'stop' if decision.stop else 'incentive' if decision.incentive else 'send'}")
        assert_respects_mask(ctx, decision, learned)
        if name == "explore" and not decision.stop and decision.action is not None:
            event("explored" if decision.explanation[-1].startswith("exploration: ") else "kept")


def test_fixed_flow_logs_an_allowed_action_right_before_the_deadline():
    # the 1 h step goes out at 13:00, 59 min after planning, which nearest_delay calls "1h"; but
    # an action "1h" planned at 12:01 would leave at 13:01, after the 13:00 deadline
    ctx = PlanContext(
        touch=1,
        max_touches=1,
        now=ABANDONED + timedelta(minutes=1),
        abandoned_at=ABANDONED,
        deadline=ABANDONED + timedelta(hours=1),
        cart_value=10.0,
        item_count=1,
        stage="cart",
        configured=CHANNELS,
        reachability={"email": Reachability(captured=True, consent="granted")},
    )
    decision = FixedFlowPolicy("email@1h").plan(ctx)
    assert not decision.stop
    assert decision.action in action_mask(ctx, decision.bucket).allowed
