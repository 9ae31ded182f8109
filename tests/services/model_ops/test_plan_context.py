"""The planner's view of a cart (services/model_ops/plan_context.py) on SQLite and PostgreSQL: traffic
source, the customer's events in the feature window and per-channel engagement on earlier carts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session

from channel_models.learning.features import snapshot
from services.core.events import CartEvent, Contact, OrderEvent
from services.core.settings import Settings
from services.ingest.intake import store_event
from services.model_ops.plan_context import build_plan_context
from services.store.carts import cart_key
from services.store.tables import Cart, Decision, Message, Outcome

SHOP = "ctx-shop"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CFG = Settings(
    _env_file=None,
    feature_window_days=30,
    email_url="mailto://localhost?to={to}",
    email_from="s@example.com",
    shop_address="1 Road",
    secret_key="k" * 32,
)


def add_cart(engine, token, at, *, customer="cust-1", source=None, abandoned=True, **contact) -> str:
    event = CartEvent(
        cart_id=token,
        contact=Contact(customer_id=customer, **({"email": f"{customer}@example.com"} | contact)),
        total_value=Decimal("20"),
        source=source,
    )
    store_event(engine, CFG, SHOP, "generic", event, at)
    key = cart_key(SHOP, token)
    with Session(engine) as session:
        cart = session.get(Cart, key)
        cart.abandoned_at = at + timedelta(minutes=30) if abandoned else None
        session.add(cart)
        session.commit()
    return key


def add_order(engine, token, order_id, placed, value="15.00", customer="cust-1") -> None:
    event = OrderEvent(
        order_id=order_id,
        cart_id=token,
        contact=Contact(customer_id=customer),
        total_value=Decimal(value),
        placed_at=placed,
    )
    store_event(engine, CFG, SHOP, "generic", event, placed)


def add_decision(session, key, touch, channel, *, decided_at=NOW - 10 * DAY, incentive=None) -> Decision:
    decision = Decision(
        cart_id=key,
        touch=touch,
        decided_at=decided_at,
        policy="t",
        channel=channel,
        reason="price",
        reason_confidence=0.5,
        propensity=0.2,
        bucket="Low",
        incentive=incentive,
    )
    session.add(decision)
    session.flush()
    return decision


def add_message(
    engine, key, touch, channel, *, status="sent", clicked=None, sent_at=NOW - 10 * DAY, incentive=None
) -> None:
    with Session(engine) as session:
        decision = add_decision(session, key, touch, channel, incentive=incentive)
        session.add(
            Message(
                idempotency_key=f"{key}/{touch}",
                cart_id=key,
                decision_id=decision.id,
                touch=touch,
                channel=channel,
                status=status,
                created_at=sent_at,
                sent_at=sent_at,
                clicked_at=clicked,
            )
        )
        session.commit()


def recovered_by(engine, key, channel) -> None:
    with Session(engine) as session:
        session.add(Outcome(cart_id=key, status="recovered", attributed_channel=channel, recorded_at=NOW - 5 * DAY))
        session.commit()


def context(engine, key, now=NOW):
    with Session(engine) as session:
        cart = session.get(Cart, key)
        return build_plan_context(
            session, CFG, cart, touch=1, max_touches=3, now=now, abandoned_at=now, deadline=now + 5 * DAY
        )


@pytest.fixture
def history(engine):
    """cust-1: an old cart (outside the 30-day window), two recent ones, and this one."""
    old = add_cart(engine, "old", NOW - 200 * DAY)
    add_order(engine, "old", "o-old", NOW - 199 * DAY, "100.00")
    recent = add_cart(engine, "recent", NOW - 12 * DAY)
    add_message(engine, recent, 1, "email", clicked=NOW - 11 * DAY)
    add_message(engine, recent, 2, "sms")
    add_message(engine, recent, 3, "push", status="skipped")
    add_order(engine, "recent", "o-recent", NOW - 9 * DAY, "40.00")
    recovered_by(engine, recent, "email")
    other = add_cart(engine, "other", NOW - 3 * DAY)
    add_message(engine, other, 1, "email")
    add_message(engine, other, 2, "email", clicked=NOW - 2 * DAY)
    recovered_by(engine, other, "sms")
    add_cart(engine, "someone-else", NOW - DAY, customer="cust-2")
    add_message(engine, cart_key(SHOP, "someone-else"), 1, "email", clicked=NOW)
    this = add_cart(engine, "this", NOW - timedelta(hours=1), source="Google / CPC", abandoned=False)
    return {"old": old, "recent": recent, "other": other, "this": this}


def test_source_and_window_come_from_the_cart_and_settings(history, engine):
    ctx = context(engine, history["this"])
    assert ctx.source == "Google / CPC"
    assert ctx.feature_window_days == 30
    assert snapshot(ctx)["source"] == "paid"


def test_customer_events_are_earlier_carts_and_orders_in_the_window_oldest_first(history, engine):
    ctx = context(engine, history["this"])
    assert ctx.customer_events == (
        NOW - 12 * DAY,
        NOW - 9 * DAY,
        NOW - 3 * DAY,
    )  # not this cart, nothing older than 30 days
    assert (ctx.orders, ctx.total_spent, ctx.previous_abandonments) == (2, 140.0, 3)  # all-time history
    record = snapshot(ctx)
    assert (record["frequency"], record["recency_days"], record["mean_gap_days"]) == (3, 3.0, 4.5)


def test_engagement_counts_sent_clicked_and_recovered_per_channel_on_earlier_carts(history, engine):
    ctx = context(engine, history["this"])
    assert ctx.engagement == {"email": (3, 2, 1), "sms": (1, 0, 1)}  # the skipped push never went out
    record = snapshot(ctx)
    assert (record["email_sent"], record["email_clicked"], record["email_recovered"]) == (3, 2, 1)
    assert (record["push_sent"], record["retargeting_clicked"]) == (0, 0)


def test_the_window_moves_with_now(history, engine):
    ctx = context(engine, history["this"], now=NOW + 25 * DAY)
    assert ctx.customer_events == (NOW - 3 * DAY,)
    assert ctx.engagement == {"email": (2, 1, 0), "sms": (0, 0, 1)}


def test_a_guest_cart_has_no_history(engine):
    event = CartEvent(cart_id="guest", total_value=Decimal("5"), source="newsletter")
    store_event(engine, CFG, SHOP, "generic", event, NOW)
    ctx = context(engine, cart_key(SHOP, "guest"))
    assert (ctx.customer_events, ctx.engagement, ctx.orders, ctx.source) == ((), {}, 0, "newsletter")


def statements_for(engine, key) -> int:
    from sqlalchemy import event

    seen = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        context(engine, key)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(seen)


def test_the_history_costs_the_same_queries_however_long_it_is(history, engine):
    """plan_touch runs on every touch: the customer's past must not cost a query per cart."""
    before = statements_for(engine, history["this"])
    for i in range(6):
        key = add_cart(engine, f"more-{i}", NOW - (i + 4) * DAY)
        add_message(engine, key, 1, "push", clicked=NOW - DAY)
        add_order(engine, f"more-{i}", f"o-more-{i}", NOW - (i + 4) * DAY + timedelta(hours=2))
    assert context(engine, history["this"]).engagement["push"] == (6, 6, 0)
    assert statements_for(engine, history["this"]) == before <= 14


def test_caps_count_what_reached_a_shared_address_from_any_customer(engine):
    """Two customers hold one e-mail address: what the first was e-mailed an hour ago holds the
    second's e-mail too (caps protect the inbox); the first's SMS does not, their phones differ."""
    first = add_cart(engine, "first", NOW - DAY, customer="first", email="shared@example.com", phone="+12015550100")
    add_message(engine, first, 1, "email", sent_at=NOW - timedelta(hours=1))
    add_message(engine, first, 2, "sms", sent_at=NOW - timedelta(hours=1))
    second = add_cart(engine, "second", NOW - DAY, customer="second", email="Shared@Example.com", phone="+12015550199")
    loner = add_cart(engine, "loner", NOW - DAY, customer="loner")
    assert [channel for channel, _ in context(engine, second).sent_history] == ["email"]
    assert context(engine, second).journey_history == ()
    assert context(engine, loner).sent_history == ()


def test_the_incentive_cap_counts_what_reached_the_shopper_under_any_record(engine):
    """A shopper who got a code, then checks out again as a guest with the same e-mail, is the
    same shopper: the cap (1 in 30 days by default) holds the second code back."""
    first = add_cart(engine, "first", NOW - 3 * DAY, customer="first", email="fisher@example.com")
    add_message(engine, first, 1, "email", sent_at=NOW - 2 * DAY - timedelta(hours=1))
    add_message(engine, first, 2, "email", sent_at=NOW - 2 * DAY, incentive="discount")
    add_message(engine, first, 3, "email", status="failed", incentive="free_shipping")  # never reached them
    guest = add_cart(engine, "guest", NOW - DAY, customer="guest-2", email="Fisher@Example.com")
    loner = add_cart(engine, "loner", NOW - DAY, customer="loner")
    ctx = context(engine, guest)
    assert (ctx.incentives_received, ctx.incentive_cap, ctx.incentive_cap_days) == (1, 1, 30)
    assert ctx.incentives_capped == "1 incentive(s) sent to this shopper in the last 30 days (cap 1)"
    assert context(engine, first).incentives_received == 1  # their own cart counts too
    assert context(engine, loner).incentives_received == 0
    assert context(engine, guest, now=NOW + 29 * DAY).incentives_capped is None  # 31 days on
    with Session(engine) as session:  # a cart without a customer record: its own touches
        cart = session.get(Cart, loner)
        cart.customer_id = None
        session.add(cart)
        session.commit()
    add_message(engine, loner, 2, "sms", sent_at=NOW - DAY, incentive="discount")
    assert context(engine, loner).incentives_received == 1


def test_a_code_planned_but_not_sent_yet_counts_against_the_cap(engine):
    """Two carts of one shopper planned at once cannot both be given a code: a planned touch with
    an incentive counts while its journey runs, before its message leaves; not once the journey
    ended without sending it."""
    first = add_cart(engine, "first", NOW - DAY, customer="first", email="fisher@example.com")
    guest = add_cart(engine, "guest", NOW - DAY, customer="guest-2", email="fisher@example.com")
    with Session(engine) as session:  # planned two hours ago, no message yet
        add_decision(session, first, 2, "email", decided_at=NOW - timedelta(hours=2), incentive="discount")
        session.commit()
    assert context(engine, guest).incentives_received == 1
    with Session(engine) as session:  # the shopper ordered before the touch left: no code went out
        cart = session.get(Cart, first)
        cart.journey_state = "done"
        session.add(cart)
        session.commit()
    assert context(engine, guest).incentives_received == 0


def test_every_plan_context_query_reads_through_an_index(sqlite_engine):
    """plan_touch and send_touch build this context on every touch: no query may scan a table
    whose size grows with the shop."""
    from sqlalchemy import event

    first = add_cart(sqlite_engine, "first", NOW - DAY, customer="first", email="shared@example.com")
    add_message(sqlite_engine, first, 1, "email", sent_at=NOW - timedelta(hours=1))
    second = add_cart(sqlite_engine, "second", NOW - DAY, customer="second", email="shared@example.com")
    seen: list[tuple[str, object]] = []

    def listener(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters))

    event.listen(sqlite_engine, "before_cursor_execute", listener)
    try:
        context(sqlite_engine, second)
    finally:
        event.remove(sqlite_engine, "before_cursor_execute", listener)
    growing = ("carts", "messages", "decisions", "orders", "outcomes", "contacts", "consent_ledger", "behavior_signals")
    with sqlite_engine.connect() as connection:
        raw = connection.connection.driver_connection
        for statement, parameters in seen:
            plan = [row[-1] for row in raw.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)]
            scans = [step for step in plan if any(step.startswith(f"SCAN {table}") for table in growing)]
            assert not scans, (statement, plan)


FEATURE_ONLY = ("orders", "total_spent", "previous_abandonments", "customer_events", "engagement", "signal_counts")


def test_the_send_time_context_differs_only_in_what_no_compliance_rule_reads(history, engine):
    """send_touch builds the context with compliance_only=True: every field the rules of
    channel_models/compliance read must come out the same, and no rule may read the fields left out."""
    import dataclasses
    from pathlib import Path

    from channel_models.compliance.send_window import send_now_problem

    with Session(engine) as session:
        cart = session.get(Cart, history["this"])
        full, lite = (
            build_plan_context(
                session,
                CFG,
                cart,
                touch=1,
                max_touches=3,
                now=NOW,
                abandoned_at=NOW,
                deadline=NOW + 5 * DAY,
                compliance_only=only,
            )
            for only in (False, True)
        )
    assert full.orders and full.engagement  # the fixture has a history to leave out
    for field in dataclasses.fields(full):
        if field.name not in FEATURE_ONLY:
            assert getattr(full, field.name) == getattr(lite, field.name), field.name
    for channel in ("email", "sms", "push", "retargeting"):
        assert send_now_problem(full, channel, NOW) == send_now_problem(lite, channel, NOW)
    rules = Path(__file__).resolve().parents[3] / "channel_models" / "compliance"
    for source in rules.glob("*.py"):
        text = source.read_text()
        assert not [name for name in FEATURE_ONLY if f".{name}" in text], source.name
