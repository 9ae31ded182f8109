"""The cart's report reason and bucket (services/reports): plan_touch keeps the first decision's,
record_outcome replaces them with the attributed touch's decision, on a real SQLite database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session

from activities.planning import PlanningActivities
from activities.recording import RecordingActivities
from channel_models.rules.rule_policy import RulePolicy
from services.core.events import CartEvent, Contact
from services.core.settings import Settings
from services.ingest.intake import store_event
from services.store.carts import cart_key
from services.store.tables import Cart, Decision, Message
from workflows.types import OutcomeRecord, PlanRequest

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SHOP = "report-shop"


class ScriptedPolicy:
    """The rule planner's decision with the reason and bucket each call is told to give."""

    def __init__(self, *plans: tuple[str, str]):
        self.plans, self.rules = list(plans), RulePolicy()

    def plan(self, ctx):
        reason, bucket = self.plans.pop(0)
        return replace(self.rules.plan(ctx), reason=reason, bucket=bucket)


def settings(tmp_path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path,
        email_url="mailto://localhost?to={to}",
        email_from="s@example.com",
        shop_address="1 Road",
        secret_key="k" * 32,
    )


def planned_cart(engine, cfg, token: str, *plans) -> str:
    event = CartEvent(
        cart_id=token,
        contact=Contact(customer_id=f"cust-{token}", email=f"{token}@example.com"),
        total_value=Decimal("42.00"),
    )
    store_event(engine, cfg, SHOP, "generic", event, NOW)
    key = cart_key(SHOP, token)
    planning = PlanningActivities(engine, cfg, policy=ScriptedPolicy(*plans))
    deadline = NOW + timedelta(days=5)
    for touch in range(1, len(plans) + 1):
        plan = planning.plan_touch(PlanRequest(key, touch, 3, NOW.timestamp(), NOW.timestamp(), deadline.timestamp()))
        with Session(engine) as session:  # the touch went out
            session.add(
                Message(
                    idempotency_key=f"recovery/{SHOP}/{key}/{touch}",
                    cart_id=key,
                    decision_id=plan.decision_id,
                    touch=touch,
                    channel="email",
                    status="sent",
                    created_at=NOW,
                    sent_at=NOW,
                )
            )
            session.commit()
    return key


def report_columns(engine, key: str) -> tuple[str | None, str | None]:
    with Session(engine) as session:
        cart = session.get(Cart, key)
        return cart.reason, cart.bucket


def test_planning_keeps_the_first_decisions_reason_and_the_outcome_the_attributed_ones(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key = planned_cart(sqlite_engine, cfg, "c-1", ("price", "Low"), ("shipping_cost", "High"))
    assert report_columns(sqlite_engine, key) == ("price", "Low")  # the second decision changed nothing

    recording = RecordingActivities(sqlite_engine)
    recording.record_outcome(OutcomeRecord(key, "recovered", NOW.timestamp(), attributed_touch=2, touches_sent=2))
    assert report_columns(sqlite_engine, key) == ("shipping_cost", "High")


def test_an_outcome_without_attribution_keeps_the_first_decisions(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key = planned_cart(sqlite_engine, cfg, "c-2", ("indecision", "Moderate"), ("price", "Very low"))
    RecordingActivities(sqlite_engine).record_outcome(
        OutcomeRecord(key, "not_recovered", NOW.timestamp(), touches_sent=2)
    )
    assert report_columns(sqlite_engine, key) == ("indecision", "Moderate")


def test_an_outcome_fills_the_columns_of_a_cart_planned_before_they_existed(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key = planned_cart(sqlite_engine, cfg, "c-3", ("technical", "High"))
    with Session(sqlite_engine) as session:
        cart = session.get(Cart, key)
        cart.reason = cart.bucket = None
        session.add(cart)
        session.add(
            Decision(
                cart_id=key,
                touch=2,
                decided_at=NOW,
                policy="rules-v1",
                reason="price",
                reason_confidence=0.5,
                propensity=0.5,
                bucket="Low",
                stop=True,
            )
        )
        session.commit()
    RecordingActivities(sqlite_engine).record_outcome(OutcomeRecord(key, "cancelled", NOW.timestamp(), touches_sent=1))
    assert report_columns(sqlite_engine, key) == ("technical", "High")  # the first decision, by id
