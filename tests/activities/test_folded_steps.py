"""Folded journey steps: a sent touch's step plans the next touch, the first plan records the
abandonment (workflows/cart_recovery.py, FOLDED_STEPS) - against a real SQLite database."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from activities.planning import PlanningActivities
from activities.sending import SendingActivities
from services.core.clock import utc
from services.store.tables import Cart, Decision
from tests.activities.test_sending import NOW, cart_with_decision, messages, request, revoke_email, settings
from tests.utils.doubles import FakeDelivery
from workflows.types import AbandonmentRecord, PlanRequest

HOUR = 3600.0


def next_touch(key: str, now: float) -> PlanRequest:
    abandoned = NOW.timestamp() - HOUR
    return PlanRequest(key, 2, 3, now, abandoned, abandoned + 120 * HOUR)


def decisions(engine, touch: int) -> list[Decision]:
    with Session(engine) as session:
        return list(session.exec(select(Decision).where(Decision.touch == touch)))


class BrokenPlanner:
    def plan(self, ctx):
        raise RuntimeError("model file unreadable")


def test_a_sent_touch_plans_the_next_one_as_of_the_time_it_left(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    delivery = FakeDelivery()
    acts = SendingActivities(sqlite_engine, cfg, delivery=delivery, planning=PlanningActivities(sqlite_engine, cfg))
    stale = NOW.timestamp() - 2 * HOUR  # when the workflow scheduled it; the send ran later
    result = ActivityEnvironment().run(
        acts.send_touch, replace(request(key, decision), then_plan=next_touch(key, stale))
    )
    assert result.status == "sent" and len(delivery.sent) == 1
    [planned] = decisions(sqlite_engine, 2)
    assert result.next_plan is not None and result.next_plan.decision_id == planned.id
    assert utc(planned.decided_at) == NOW  # the send's time, not the schedule's
    again = ActivityEnvironment().run(
        acts.send_touch, replace(request(key, decision), then_plan=next_touch(key, stale))
    )
    assert again.status == "already_sent" and again.next_plan is not None and len(delivery.sent) == 1


def test_a_send_whose_next_plan_fails_is_still_sent_and_leaves_the_plan_to_the_journey(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    planning = PlanningActivities(sqlite_engine, cfg, policy=BrokenPlanner())
    acts = SendingActivities(sqlite_engine, cfg, delivery=FakeDelivery(), planning=planning)
    result = ActivityEnvironment().run(
        acts.send_touch, replace(request(key, decision), then_plan=next_touch(key, NOW.timestamp()))
    )
    assert (result.status, result.next_plan) == ("sent", None)
    assert [m.status for m in messages(sqlite_engine)] == ["sent"] and decisions(sqlite_engine, 2) == []


def test_a_touch_held_at_send_time_plans_nothing_next(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    revoke_email(sqlite_engine, cfg)
    acts = SendingActivities(
        sqlite_engine, cfg, delivery=FakeDelivery(), planning=PlanningActivities(sqlite_engine, cfg)
    )
    result = ActivityEnvironment().run(
        acts.send_touch, replace(request(key, decision), then_plan=next_touch(key, NOW.timestamp()))
    )
    assert (result.status, result.next_plan) == ("skipped", None) and decisions(sqlite_engine, 2) == []


def test_the_first_plan_records_the_abandonment_in_its_transaction(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, _ = cart_with_decision(sqlite_engine, cfg)
    abandoned = NOW - timedelta(minutes=30)
    req = PlanRequest(
        key,
        1,
        3,
        NOW.timestamp(),
        abandoned.timestamp(),
        (abandoned + timedelta(hours=120)).timestamp(),
        abandonment=AbandonmentRecord(key, abandoned.timestamp(), False),
    )
    plan = ActivityEnvironment().run(PlanningActivities(sqlite_engine, cfg).plan_touch, req)
    with Session(sqlite_engine) as session:
        cart = session.get(Cart, key)
        assert cart is not None and utc(cart.abandoned_at) == abandoned and cart.holdout is False
        assert cart.journey_state == ("stopped" if plan.stop else "touch 1 planned")
