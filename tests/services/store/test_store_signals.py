"""Consent changes, behaviour signals, repeated deliveries (receipts) and the service clock in storage."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from services.core.events import BehaviorSignal, CartEvent, ConsentChange, ConsentEvent, OrderEvent
from services.core.events import Contact as ContactIn
from services.ingest.intake import already_received, store_event
from services.store.carts import cart_key
from services.store.customers import effective_consent
from services.store.service_clock import load_clock
from services.store.tables import (
    BehaviorSignalRow,
    Cart,
    ConsentRecord,
    Contact,
    Customer,
    ServiceClock,
    WebhookReceipt,
)
from tests.utils.store_events import (
    SETTINGS,
    SHOP,
    T0,
    all_rows,
    cart_event,
    count,
    get,
    granted,
    set_cart,
    signals,
    signals_with_args,
    store,
)
from workflows.types import ClockSpec, ConsentChanged, OrderPlaced


# --- consent, signals ----------------------------------------------------------------------------
def test_consent_event_appends_only_changes_and_tells_open_carts(engine):
    store(engine, cart_event("open-1", consents=granted("email")))
    store(engine, cart_event("closed-1"))
    set_cart(engine, cart_key(SHOP, "closed-1"), status="recovered")
    who = ContactIn(email="ada.lovelace@example.com")

    change = ConsentEvent(
        contact=who,
        consents=[
            ConsentChange(channel="email", state="granted", source="preferences"),  # unchanged
            ConsentChange(channel="sms", state="granted", source="preferences"),
        ],
    )
    stored = store(engine, change, now=T0 + timedelta(hours=1))
    open_key = cart_key(SHOP, "open-1")
    assert signals_with_args(stored) == [(open_key, "consent_changed", ConsentChanged(1))]
    assert count(engine, ConsentRecord) == 2  # granted email (from the cart) + granted sms

    repeat = store(engine, change, now=T0 + timedelta(hours=2))
    assert repeat.actions == []
    assert count(engine, ConsentRecord) == 2

    revoke = ConsentEvent(contact=who, consents=[ConsentChange(channel="email", state="revoked", source="unsubscribe")])
    assert signals(store(engine, revoke, now=T0 + timedelta(hours=3))) == [(open_key, "consent_changed")]
    assert count(engine, ConsentRecord) == 3
    with Session(engine) as session:
        customer_id = session.exec(select(Customer.id)).one()
        assert effective_consent(session, SHOP, customer_id)[1] == {"email": "revoked", "sms": "granted"}


def test_consent_event_for_a_new_person_creates_the_customer_without_actions(engine):
    stored = store(engine, ConsentEvent(contact=ContactIn(phone="+44 20 7946 0958"), consents=granted("sms")))
    assert stored.actions == []
    assert [(c.kind, c.normalized) for c in all_rows(engine, Contact)] == [("phone", "+442079460958")]
    assert count(engine, ConsentRecord) == 1


def test_behavior_signal_for_unknown_cart_is_ignored(engine):
    stored = store(engine, BehaviorSignal(cart_id="nope", kind="price_sort"))
    assert stored.actions == []
    assert count(engine, BehaviorSignalRow) == 0


def test_behavior_signal_on_open_cart_is_stored_for_the_planner_without_a_journey_signal(engine):
    store(engine, cart_event("tok-1", alt_ids=["cart-1"]))
    stored = store(engine, BehaviorSignal(cart_id="cart-1", kind="shipping_page_view"))
    key = cart_key(SHOP, "tok-1")
    assert stored.actions == []
    assert stored.summary == "signal stored"
    assert [(r.cart_id, r.kind) for r in all_rows(engine, BehaviorSignalRow)] == [(key, "shipping_page_view")]


# --- receipts, clock -----------------------------------------------------------------------------
def test_a_repeated_delivery_stores_nothing_and_returns_the_first_signals(engine):
    rid = "shopify:shop-a:delivery-1"
    assert already_received(engine, rid) is False
    event = CartEvent(cart_id="rcpt-1", contact={"email": "r@example.com"}, total_value=Decimal("5"))
    first = store_event(engine, SETTINGS, SHOP, "generic", event, T0, rid, "checkouts/create")
    again = store_event(engine, SETTINGS, SHOP, "generic", event, T0 + timedelta(seconds=1), rid, "checkouts/create")
    assert already_received(engine, rid) is True
    assert already_received(engine, "shopify:shop-a:delivery-2") is False
    assert first.duplicate is False
    assert again.duplicate is True
    assert again.actions == first.actions  # re-sent: a retry after a Temporal outage repairs the journey
    assert get(engine, Cart, cart_key(SHOP, "rcpt-1")).version == 1  # stored once
    [receipt] = all_rows(engine, WebhookReceipt)
    assert (receipt.id, receipt.topic) == (rid, "checkouts/create")


def test_receipt_round_trips_every_signal_argument(engine):
    store(engine, CartEvent(cart_id="rt-1", contact={"customer_id": "rt"}, total_value=Decimal("5")))
    order = OrderEvent(order_id="rt-order", cart_id="rt-1", total_value=Decimal("5"))
    first = store_event(engine, SETTINGS, SHOP, "generic", order, T0, "rid-order", "order")
    again = store_event(engine, SETTINGS, SHOP, "generic", order, T0, "rid-order", "order")
    assert first.actions
    assert isinstance(again.actions[0].arg, OrderPlaced)
    assert again.actions == first.actions


def test_a_receipt_stored_before_the_behaviour_signal_was_dropped_replays_without_it(engine):
    key = cart_key(SHOP, "old-rcpt")
    actions = [
        {"cart_key": key, "signal": "start", "arg": 3},
        {"cart_key": key, "signal": "signal_observed", "arg": {"kind": "price_sort"}},
        {"cart_key": key, "signal": "order_placed", "arg": {"order_key": 9}},
    ]
    with Session(engine) as session:
        session.add(WebhookReceipt(id="rid-old", topic="generic", received_at=T0, result="stored", actions=actions))
        session.commit()
    again = store_event(
        engine, SETTINGS, SHOP, "generic", BehaviorSignal(cart_id="x", kind="price_sort"), T0, "rid-old"
    )
    assert again.duplicate is True
    assert signals_with_args(again) == [(key, "start", 3), (key, "order_placed", OrderPlaced(9))]


def test_load_clock_creates_the_anchor_once(engine):
    before = time.time()
    first = load_clock(engine, 1.0)
    assert before <= first.anchor_real <= time.time()
    assert first.anchor_virtual == first.anchor_real
    assert first.scale == 1.0
    second = load_clock(engine, 1.0)
    assert second == first
    assert count(engine, ServiceClock) == 1


@pytest.mark.parametrize("new_scale", [1.0, 3600.0])
def test_load_clock_reanchors_continuously_when_the_scale_changes(engine, new_scale):
    # a clock that has run 60x fast for 1000 real seconds: it is 60,000 s ahead of the wall clock
    real = time.time()
    old = ClockSpec(anchor_real=real - 1000, anchor_virtual=real - 1000, scale=60.0)
    with Session(engine) as session:
        session.add(ServiceClock(id=1, anchor_real=old.anchor_real, anchor_virtual=old.anchor_virtual, scale=old.scale))
        session.commit()

    service_before = old.to_service(time.time())
    clock = load_clock(engine, new_scale)
    service_after = old.to_service(time.time())

    assert clock.scale == new_scale
    # re-anchored at the service time of the change, not at the wall clock: no jump back
    assert service_before <= clock.anchor_virtual <= service_after
    assert clock.to_service(time.time()) >= service_before
    assert clock.anchor_virtual > real + 50_000
    row = get(engine, ServiceClock, 1)
    assert ClockSpec(row.anchor_real, row.anchor_virtual, row.scale) == clock
    assert load_clock(engine, new_scale) == clock  # unchanged scale: anchor kept
