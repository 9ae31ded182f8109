"""Storing cart and order events (SQLite, PostgreSQL): the rows they leave and the journeys they tell."""

from __future__ import annotations

from datetime import timedelta, timezone
from decimal import Decimal

import pytest

from services.core.clock import to_ts
from services.core.events import Contact as ContactIn
from services.core.events import LineItem
from services.store.carts import cart_key
from services.store.tables import Cart, CartAlias, ConsentRecord, Contact, Customer, Order
from tests.utils.store_events import (
    SHOP,
    T0,
    WINDOW_H,
    all_rows,
    cart_event,
    contact,
    count,
    get,
    granted,
    only_order,
    order_event,
    set_cart,
    signals,
    signals_with_args,
    store,
)
from workflows.types import OrderPlaced


# --- carts ---------------------------------------------------------------------------------------
def test_cart_event_stores_customer_contacts_consents_cart_and_aliases(engine):
    event = cart_event("tok-1", consents=granted("email", "sms"), alt_ids=["cart-tok-1", "legacy-1"], device="mobile")
    stored = store(engine, event)

    key = cart_key(SHOP, "tok-1")
    assert signals(stored) == [(key, "start")]
    assert stored.actions[0].arg == 1

    [customer] = all_rows(engine, Customer)
    assert (customer.shop, customer.first_name, customer.erased_at) == (SHOP, "Ada", None)
    contacts = {c.kind: (c.value, c.normalized, c.customer_id) for c in all_rows(engine, Contact)}
    assert contacts == {
        "email": ("Ada.Lovelace@Example.COM", "ada.lovelace@example.com", customer.id),
        "phone": ("+16502530000", "+16502530000", customer.id),  # national number, default region US
    }
    ledger = sorted((r.channel, r.state, r.source, r.evidence) for r in all_rows(engine, ConsentRecord))
    assert ledger == [("email", "granted", "checkout", "email-box"), ("sms", "granted", "checkout", "sms-box")]

    cart = get(engine, Cart, key)
    assert (cart.shop, cart.token, cart.platform, cart.customer_id) == (SHOP, "tok-1", "generic", customer.id)
    assert cart.value_cents == 12345
    assert cart.currency == "USD"
    assert [(i["title"], i["quantity"], Decimal(i["price"])) for i in cart.items] == [
        ("Blue Mug", 2, Decimal("61.725"))
    ]
    assert (cart.status, cart.version, cart.device, cart.recovery_url) == (
        "open",
        1,
        "mobile",
        "https://shop.example/recover/tok-1",
    )
    aliases = sorted((a.shop, a.token, a.cart_id) for a in all_rows(engine, CartAlias))
    assert aliases == [(SHOP, "cart-tok-1", key), (SHOP, "legacy-1", key), (SHOP, "tok-1", key)]


def test_anonymous_cart_has_no_customer(engine):
    store(engine, cart_event("anon-1", who=ContactIn()))
    assert count(engine, Customer) == 0
    assert get(engine, Cart, cart_key(SHOP, "anon-1")).customer_id is None


def test_same_cart_event_twice_is_idempotent_and_bumps_the_version(engine):
    event = cart_event("tok-1", consents=granted("email", "sms"), alt_ids=["cart-tok-1"], updated_at=T0)
    first = store(engine, event)
    second = store(engine, event, now=T0 + timedelta(seconds=5))

    key = cart_key(SHOP, "tok-1")
    assert (count(engine, Cart), count(engine, Customer), count(engine, Contact)) == (1, 1, 2)
    assert count(engine, ConsentRecord) == 2
    assert count(engine, CartAlias) == 2
    assert [a.arg for a in first.actions] == [1]
    assert [a.arg for a in second.actions] == [2]
    assert signals(second) == [(key, "start")]  # no superseding itself
    assert get(engine, Cart, key).version == 2


def test_stale_update_does_not_overwrite_the_cart(engine):
    key = cart_key(SHOP, "tok-1")
    shop_time = T0.astimezone(timezone(timedelta(hours=-5)))  # platforms send the shop's offset
    store(
        engine,
        cart_event("tok-1", total="20.00", items=[LineItem(title="New", price=Decimal("20"))], updated_at=shop_time),
    )
    stale = cart_event(
        "tok-1", total="5.00", items=[LineItem(title="Old", price=Decimal("5"))], updated_at=T0 - timedelta(minutes=3)
    )
    stored = store(engine, stale, now=T0 + timedelta(minutes=1))

    cart = get(engine, Cart, key)
    assert [i["title"] for i in cart.items] == ["New"]
    assert cart.value_cents == 2000
    assert cart.version == 1
    assert to_ts(cart.platform_updated_at) == T0.timestamp()
    assert signals_with_args(stored) == [(key, "start", 1)]

    newer = cart_event(
        "tok-1",
        total="7.50",
        items=[LineItem(title="Newest", price=Decimal("7.5"))],
        updated_at=T0 + timedelta(minutes=2),
    )
    store(engine, newer, now=T0 + timedelta(minutes=2))
    cart = get(engine, Cart, key)
    assert ([i["title"] for i in cart.items], cart.value_cents, cart.version) == (["Newest"], 750, 2)


def test_newer_cart_of_the_same_customer_supersedes_the_open_one(engine):
    store(engine, cart_event("done-1"))
    set_cart(engine, cart_key(SHOP, "done-1"), status="not_recovered")
    store(engine, cart_event("old-1"))
    # same person recognised by e-mail only (different case, no phone)
    stored = store(
        engine,
        cart_event("new-1", who=contact(email="ADA.LOVELACE@example.com", phone=None)),
        now=T0 + timedelta(hours=1),
    )

    assert signals(stored) == [(cart_key(SHOP, "old-1"), "superseded"), (cart_key(SHOP, "new-1"), "start")]
    assert count(engine, Customer) == 1
    # each older journey is told once: the next cart supersedes only new-1
    newest = store(engine, cart_event("new-2"), now=T0 + timedelta(hours=2))
    assert signals(newest) == [(cart_key(SHOP, "new-1"), "superseded"), (cart_key(SHOP, "new-2"), "start")]
    # an update of an existing cart supersedes nothing
    update = store(engine, cart_event("new-2"), now=T0 + timedelta(hours=3))
    assert signals(update) == [(cart_key(SHOP, "new-2"), "start")]


def test_completed_checkout_seen_first_starts_no_journey(engine):
    event = cart_event("tok-done", total="42.10", completed_at=T0 - timedelta(minutes=1))
    stored = store(engine, event)

    assert stored.actions == []
    cart = get(engine, Cart, cart_key(SHOP, "tok-done"))
    assert (cart.status, cart.journey_state) == ("completed", "done")
    assert to_ts(cart.closed_at) == T0.timestamp()
    [order] = all_rows(engine, Order)
    assert (order.cart_id, order.customer_id, order.value_cents) == (cart.id, cart.customer_id, 4210)
    # the order id must not carry the checkout token (it opens the shopper's checkout)
    assert "tok-done" not in order.order_id

    again = store(engine, event, now=T0 + timedelta(minutes=1))
    assert again.actions == []
    assert count(engine, Order) == 1


def test_open_cart_that_completes_gets_its_order(engine):
    store(engine, cart_event("tok-1"))
    stored = store(engine, cart_event("tok-1", completed_at=T0 + timedelta(minutes=5)), now=T0 + timedelta(minutes=5))
    [order] = all_rows(engine, Order)
    key = cart_key(SHOP, "tok-1")
    assert signals_with_args(stored) == [(key, "start", 2), (key, "order_placed", OrderPlaced(order.id))]


# --- orders --------------------------------------------------------------------------------------


def test_order_matches_by_cart_token(engine):
    store(engine, cart_event("tok-1"))
    stored = store(engine, order_event(cart_id="tok-1"), now=T0 + timedelta(hours=2))
    order = only_order(engine)
    key = cart_key(SHOP, "tok-1")
    assert signals_with_args(stored) == [(key, "order_placed", OrderPlaced(order.id))]
    assert (order.order_id, order.cart_id, order.value_cents) == ("1001", key, 9990)
    assert order.customer_id == get(engine, Cart, key).customer_id is not None


def test_order_matches_by_alt_token(engine):
    store(engine, cart_event("checkout-1", alt_ids=["cart-1"]))
    stored = store(engine, order_event(cart_id="unknown", alt=["cart-1"]), now=T0 + timedelta(hours=2))
    key = cart_key(SHOP, "checkout-1")
    assert signals(stored) == [(key, "order_placed")]
    assert only_order(engine).cart_id == key


@pytest.mark.parametrize(
    "who", [ContactIn(customer_id="cust-9"), ContactIn(email="ada.lovelace@EXAMPLE.com")], ids=["customer_id", "email"]
)
def test_order_without_tokens_matches_the_customers_cart_abandoned_inside_the_window(engine, who):
    store(engine, cart_event("tok-1", who=contact(customer_id="cust-9")))
    key = cart_key(SHOP, "tok-1")
    now = T0 + timedelta(hours=WINDOW_H)
    set_cart(engine, key, abandoned_at=now - timedelta(hours=WINDOW_H - 1))  # 1 h inside the window

    stored = store(engine, order_event(who=who), now=now)
    assert signals(stored) == [(key, "order_placed")]
    assert only_order(engine).cart_id == key


@pytest.mark.parametrize("status", ["open", "not_recovered"])
def test_order_without_tokens_ignores_a_cart_abandoned_before_the_window(engine, status):
    # "open": the journey has not recorded its outcome yet (worker down, timer late) - still too old
    store(engine, cart_event("tok-1", who=contact(customer_id="cust-9")))
    key = cart_key(SHOP, "tok-1")
    now = T0 + timedelta(hours=2 * WINDOW_H)
    set_cart(engine, key, abandoned_at=now - timedelta(hours=WINDOW_H + 1), status=status)

    stored = store(engine, order_event(who=ContactIn(customer_id="cust-9")), now=now)
    assert stored.actions == []
    order = only_order(engine)
    assert order.cart_id is None
    assert order.customer_id == get(engine, Cart, key).customer_id


def test_order_without_tokens_matches_a_watched_cart(engine):
    store(engine, cart_event("tok-1"))  # not abandoned yet: the journey is still watching
    stored = store(engine, order_event(who=ContactIn(email="ada.lovelace@example.com")), now=T0 + timedelta(minutes=10))
    assert signals(stored) == [(cart_key(SHOP, "tok-1"), "order_placed")]


def test_order_of_another_customer_matches_nothing(engine):
    store(engine, cart_event("tok-1"))
    stored = store(engine, order_event(who=ContactIn(email="someone.else@example.com")), now=T0 + timedelta(minutes=10))
    assert stored.actions == []
    assert only_order(engine).cart_id is None
    assert count(engine, Customer) == 2


def test_repeated_order_id_is_a_duplicate(engine):
    store(engine, cart_event("tok-1"))
    first = store(engine, order_event(cart_id="tok-1"), now=T0 + timedelta(hours=1))
    second = store(engine, order_event(cart_id="tok-1", total="1.00"), now=T0 + timedelta(hours=2))
    order = only_order(engine)
    assert order.value_cents == 9990  # the first delivery wins
    assert [a.arg for a in first.actions] == [a.arg for a in second.actions] == [OrderPlaced(order.id)]

    set_cart(engine, cart_key(SHOP, "tok-1"), status="recovered")
    third = store(engine, order_event(cart_id="tok-1"), now=T0 + timedelta(hours=3))
    assert third.actions == []
    assert count(engine, Order) == 1
