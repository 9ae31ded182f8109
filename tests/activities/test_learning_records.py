"""What the journey records for learning, on SQLite and PostgreSQL: plan_touch logs the planner's
action, allowed actions, model versions and feature snapshot; record_abandonment keeps the
snapshot a holdout cart is judged by (a treated cart's is its first decision's); record_outcome labels a cart recovered by a
reason-specific message, unless the shopper answered the survey."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session, select

from activities.planning import PlanningActivities
from activities.recording import RecordingActivities
from channel_models.learning.features import FEATURE_NAMES, encode_row, snapshot
from channel_models.rules.rule_policy import POLICY_NAME, RulePolicy
from services.core.events import CartEvent, Contact
from services.core.settings import Settings
from services.ingest.intake import store_event
from services.model_ops.plan_context import build_plan_context
from services.store.carts import cart_key
from services.store.frames.feature_rows import feature_row
from services.store.frames.reason_labels import record_survey_answer
from services.store.frames.training_data import load_frames
from services.store.tables import Cart, Decision, Message, Outcome, ReasonLabel
from workflows.types import AbandonmentRecord, OutcomeRecord, PlanRequest

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SHOP = "learn-shop"
CFG = Settings(
    _env_file=None,
    email_url="mailto://localhost?to={to}",
    email_from="s@example.com",
    shop_address="1 Road",
    secret_key="k" * 32,
    feature_window_days=45,
)


class BanditLike:
    """The rule decision, told as a bandit would tell it."""

    def plan(self, ctx):
        return replace(
            RulePolicy().plan(ctx),
            action=14,
            allowed_actions=(2, 14, 20),
            model_versions={"policy": 7, "reason": 3},
            action_propensity=0.85,
            policy="bandit-v2",
            rule_action=20,
        )


def new_cart(engine, token="c-1", source="facebook") -> str:
    event = CartEvent(
        cart_id=token,
        contact=Contact(customer_id=f"cust-{token}", email=f"{token}@example.com"),
        total_value=Decimal("64.00"),
        stage="payment",
        device="Mobile",
        source=source,
    )
    store_event(engine, CFG, SHOP, "generic", event, NOW - timedelta(hours=1))
    return cart_key(SHOP, token)


def plan(engine, key, policy=None, touch=1):
    request = PlanRequest(key, touch, 3, NOW.timestamp(), NOW.timestamp(), (NOW + timedelta(days=5)).timestamp())
    return PlanningActivities(engine, CFG, policy=policy).plan_touch(request)


def test_plan_touch_logs_the_planners_bandit_view_and_snapshot(engine):
    key = new_cart(engine)
    planned = plan(engine, key, BanditLike())
    with Session(engine) as session:
        row = session.get(Decision, planned.decision_id)
    assert (row.policy, row.action, row.action_propensity) == ("bandit-v2", 14, 0.85)
    assert row.allowed_actions == [2, 14, 20]
    assert row.model_versions == {"policy": 7, "reason": 3}
    assert row.rule_action == 20  # the rule prior's shadow, what the policy is judged against
    assert (row.features["cart_value"], row.features["source"], row.features["device"]) == (64.0, "social", "mobile")
    assert encode_row(row.features).shape == (len(FEATURE_NAMES),)
    assert row.feature_row == feature_row(row.features)  # the flat copy training reads


def test_the_rule_prior_plans_by_default_and_its_decision_is_stored_as_it_made_it(engine):
    key = new_cart(engine)
    planned = plan(engine, key)
    with Session(engine) as session:
        row = session.get(Decision, planned.decision_id)
        ctx = build_plan_context(
            session,
            CFG,
            session.get(Cart, key),
            touch=1,
            max_touches=3,
            now=NOW,
            abandoned_at=NOW,
            deadline=NOW + timedelta(days=5),
        )
    expected = RulePolicy().plan(ctx)  # deterministic: the same context gives the same decision
    assert row.policy == POLICY_NAME == expected.policy
    assert (row.action, row.allowed_actions, row.model_versions) == (
        expected.action,
        list(expected.allowed_actions),
        {},
    )
    assert row.rule_action is None  # the rules decided: nothing to shadow
    assert row.features == snapshot(ctx)


def test_abandonment_keeps_a_holdout_carts_first_touch_snapshot(engine):
    key = new_cart(engine)
    RecordingActivities(engine, CFG).record_abandonment(AbandonmentRecord(key, NOW.timestamp(), True))
    with Session(engine) as session:
        cart = session.get(Cart, key)
    assert cart.holdout is True
    assert (cart.features["touch"], cart.features["hours_since_abandonment"], cart.features["cart_value"]) == (
        1,
        0.0,
        64.0,
    )
    assert cart.features["source"] == "social"
    assert cart.features["stage"] == "payment"
    assert cart.feature_row == feature_row(cart.features)


def test_a_treated_cart_is_judged_by_its_first_decisions_snapshot(engine):
    """Not built at abandonment too: the first touch is planned right after, from the same context."""
    key = new_cart(engine)
    recording = RecordingActivities(engine, CFG)
    recording.record_abandonment(AbandonmentRecord(key, NOW.timestamp(), False))
    with Session(engine) as session:
        assert session.get(Cart, key).features is None
    planned = plan(engine, key)
    recording.record_outcome(OutcomeRecord(key, "not_recovered", (NOW + timedelta(days=5)).timestamp()))
    with Session(engine) as session:
        first = session.get(Decision, planned.decision_id)
    assert (first.features["touch"], first.features["hours_since_abandonment"]) == (1, 0.0)
    carts = load_frames(engine).carts
    assert carts["cart_id"].tolist() == [key]
    assert carts["holdout"].tolist() == [False]
    assert (carts["cart_value"].tolist(), carts["source"].tolist()) == ([64.0], ["social"])


def test_without_settings_abandonment_keeps_no_snapshot(engine):
    key = new_cart(engine)
    RecordingActivities(engine).record_abandonment(AbandonmentRecord(key, NOW.timestamp(), True))
    with Session(engine) as session:
        cart = session.get(Cart, key)
    assert cart.holdout is True
    assert cart.features is None
    assert cart.feature_row is None


def test_a_holdout_cart_reaches_the_training_frame_through_its_snapshot(engine):
    key = new_cart(engine)
    recording = RecordingActivities(engine, CFG)
    recording.record_abandonment(AbandonmentRecord(key, NOW.timestamp(), True))
    recording.record_outcome(OutcomeRecord(key, "not_recovered", (NOW + timedelta(days=5)).timestamp(), holdout=True))
    carts = load_frames(engine).carts
    assert carts["cart_id"].tolist() == [key]
    assert carts["holdout"].tolist() == [True]
    assert carts["cart_value"].tolist() == [64.0]
    assert carts["source"].tolist() == ["social"]


# --- labels from recoveries --------------------------------------------------------------------
def sent(engine, key, touch, template, channel="email") -> None:
    plan_row = plan(engine, key, touch=touch)
    with Session(engine) as session:
        session.add(
            Message(
                idempotency_key=f"{key}/{touch}",
                cart_id=key,
                decision_id=plan_row.decision_id,
                touch=touch,
                channel=channel,
                template=template,
                status="sent",
                created_at=NOW,
                sent_at=NOW,
            )
        )
        session.commit()


def recovered(engine, key, touch=1, status="recovered") -> None:
    RecordingActivities(engine, CFG).record_outcome(
        OutcomeRecord(key, status, (NOW + timedelta(hours=3)).timestamp(), attributed_touch=touch, touches_sent=touch)
    )


def labels(engine) -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        return sorted((label.cart_id, label.reason, label.source) for label in session.exec(select(ReasonLabel)))


def test_a_recovery_labels_no_reason_the_shoppers_answer_stays_the_only_label(engine):
    """The recovering message's reason was the rule prior's own inference: a label from it would
    teach the classifier to copy the rules."""
    key = new_cart(engine)
    sent(engine, key, 1, "email/price@v3/A")
    recovered(engine, key)
    assert labels(engine) == []
    answered = new_cart(engine, "c-2")
    with Session(engine) as session:
        record_survey_answer(session, answered, "shipping_cost", NOW)
        session.commit()
    sent(engine, answered, 1, "email/price@v3/A")
    recovered(engine, answered)
    assert labels(engine) == [(answered, "shipping_cost", "survey")]


def test_the_outcome_keeps_the_recovering_touchs_incentive(engine):
    """The report counts what incentives cost from the outcome (services/reports/incentives.py)."""
    key = new_cart(engine)
    sent(engine, key, 1, "email/price@v3/A")
    sent(engine, key, 2, "email/price@v3/A")
    with Session(engine) as session:
        second = session.exec(select(Decision).where(Decision.cart_id == key, Decision.touch == 2)).one()
        second.incentive = "discount"
        session.add(second)
        session.commit()
    recovered(engine, key, touch=2)
    with Session(engine) as session:
        assert session.get(Outcome, key).attributed_incentive == "discount"
    other = new_cart(engine, "c-3")
    sent(engine, other, 1, "email/price@v3/A")
    recovered(engine, other, touch=1)
    with Session(engine) as session:
        assert session.get(Outcome, other).attributed_incentive is None
