"""The storage layer through `store_event`, on SQLite and PostgreSQL: what each canonical event
leaves in the database and which journeys it tells, idempotency, erasure and the service clock."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlmodel import Session, SQLModel, select

from services.core.clock import load_clock, to_ts
from services.ingest.events import (
    BehaviorSignal,
    CartEvent,
    ConsentChange,
    ConsentEvent,
    Contact as ContactIn,
    LineItem,
    OrderEvent,
    PrivacyRequest,
)
from services.ingest.intake import already_received, store_event
from services.core.settings import Settings
from services.store.carts import cart_key
from services.store.customers import current_consent
from services.store.tables import (
    BehaviorSignalRow,
    Cart,
    CartAlias,
    ConsentRecord,
    Contact,
    Customer,
    Decision,
    Message,
    Order,
    Outcome,
    ServiceClock,
    WebhookReceipt,
)
from workflows.types import ClockSpec, ConsentChanged, OrderPlaced, SignalObserved

SHOP = "shop-a.example"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
WINDOW_H = 120
SETTINGS = Settings(_env_file=None, attribution_window_hours=WINDOW_H, default_region="US")


# --- builders ----------------------------------------------------------------------------------
def contact(email="Ada.Lovelace@Example.COM", phone="(650) 253-0000", first_name="Ada", **extra) -> ContactIn:
    return ContactIn(email=email, phone=phone, first_name=first_name, **extra)


def cart_event(token="tok-1", *, who=None, consents=(), items=None, total="123.45", **extra) -> CartEvent:
    return CartEvent(
        cart_id=token,
        contact=who if who is not None else contact(),
        consents=list(consents),
        total_value=Decimal(total),
        items=items if items is not None else [LineItem(title="Blue Mug", quantity=2, price=Decimal("61.725"))],
        recovery_url=extra.pop("recovery_url", f"https://shop.example/recover/{token}"),
        **extra,
    )


def granted(*channels) -> list[ConsentChange]:
    return [ConsentChange(channel=c, state="granted", source="checkout", evidence=f"{c}-box") for c in channels]


def store(engine, event, now=T0, shop=SHOP):
    return store_event(engine, SETTINGS, shop, "generic", event, now)


def signals(stored) -> list[tuple[str, str]]:
    return [(a.cart_key, a.signal) for a in stored.actions]


def all_rows(engine, table) -> list:
    with Session(engine) as session:
        return list(session.exec(select(table)).all())


def count(engine, table) -> int:
    return len(all_rows(engine, table))


def get(engine, table, key):
    with Session(engine) as session:
        return session.get(table, key)


def set_cart(engine, key, **fields) -> None:
    """What the workflow's activities would have recorded (abandonment, outcome)."""
    with Session(engine) as session:
        cart = session.get(Cart, key)
        for name, value in fields.items():
            setattr(cart, name, value)
        session.add(cart)
        session.commit()


def database_text(engine) -> str:
    """Every column of every row of every table, as one lower-case string."""
    parts = []
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                parts.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(parts).lower()


# --- carts ---------------------------------------------------------------------------------------
def test_cart_event_stores_customer_contacts_consents_cart_and_aliases(engine):
    event = cart_event("tok-1", consents=granted("email", "sms"), alt_ids=["cart-tok-1", "legacy-1"], device="mobile")
    stored = store(engine, event)

    key = cart_key(SHOP, "tok-1")
    assert signals(stored) == [(key, "start")] and stored.actions[0].arg == 1

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
    assert cart.value_cents == 12345 and cart.currency == "USD"
    assert [(i["title"], i["quantity"], Decimal(i["price"])) for i in cart.items] == [("Blue Mug", 2, Decimal("61.725"))]
    assert (cart.status, cart.version, cart.device, cart.recovery_url) == ("open", 1, "mobile", "https://shop.example/recover/tok-1")
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
    assert [a.arg for a in first.actions] == [1] and [a.arg for a in second.actions] == [2]
    assert signals(second) == [(key, "start")]  # no superseding itself
    assert get(engine, Cart, key).version == 2


def test_stale_update_does_not_overwrite_the_cart(engine):
    key = cart_key(SHOP, "tok-1")
    shop_time = T0.astimezone(timezone(timedelta(hours=-5)))  # platforms send the shop's offset
    store(engine, cart_event("tok-1", total="20.00", items=[LineItem(title="New", price=Decimal("20"))], updated_at=shop_time))
    stale = cart_event("tok-1", total="5.00", items=[LineItem(title="Old", price=Decimal("5"))], updated_at=T0 - timedelta(minutes=3))
    stored = store(engine, stale, now=T0 + timedelta(minutes=1))

    cart = get(engine, Cart, key)
    assert [i["title"] for i in cart.items] == ["New"] and cart.value_cents == 2000
    assert cart.version == 1
    assert to_ts(cart.platform_updated_at) == T0.timestamp()
    assert [(a.cart_key, a.signal, a.arg) for a in stored.actions] == [(key, "start", 1)]

    newer = cart_event("tok-1", total="7.50", items=[LineItem(title="Newest", price=Decimal("7.5"))], updated_at=T0 + timedelta(minutes=2))
    store(engine, newer, now=T0 + timedelta(minutes=2))
    cart = get(engine, Cart, key)
    assert ([i["title"] for i in cart.items], cart.value_cents, cart.version) == (["Newest"], 750, 2)


def test_newer_cart_of_the_same_customer_supersedes_the_open_one(engine):
    store(engine, cart_event("done-1"))
    set_cart(engine, cart_key(SHOP, "done-1"), status="not_recovered")
    store(engine, cart_event("old-1"))
    # same person recognised by e-mail only (different case, no phone)
    stored = store(engine, cart_event("new-1", who=contact(email="ADA.LOVELACE@example.com", phone=None)), now=T0 + timedelta(hours=1))

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
    assert again.actions == [] and count(engine, Order) == 1


def test_open_cart_that_completes_gets_its_order(engine):
    store(engine, cart_event("tok-1"))
    stored = store(engine, cart_event("tok-1", completed_at=T0 + timedelta(minutes=5)), now=T0 + timedelta(minutes=5))
    [order] = all_rows(engine, Order)
    key = cart_key(SHOP, "tok-1")
    assert [(a.cart_key, a.signal, a.arg) for a in stored.actions] == [(key, "start", 2), (key, "order_placed", OrderPlaced(order.id))]


# --- orders --------------------------------------------------------------------------------------
def order_event(order_id="1001", cart_id=None, alt=(), who=None, total="99.90", **extra) -> OrderEvent:
    return OrderEvent(
        order_id=order_id, cart_id=cart_id, alt_cart_ids=list(alt), contact=who if who is not None else ContactIn(),
        total_value=Decimal(total), **extra,
    )


def only_order(engine) -> Order:
    [order] = all_rows(engine, Order)
    return order


def test_order_matches_by_cart_token(engine):
    store(engine, cart_event("tok-1"))
    stored = store(engine, order_event(cart_id="tok-1"), now=T0 + timedelta(hours=2))
    order = only_order(engine)
    key = cart_key(SHOP, "tok-1")
    assert [(a.cart_key, a.signal, a.arg) for a in stored.actions] == [(key, "order_placed", OrderPlaced(order.id))]
    assert (order.order_id, order.cart_id, order.value_cents) == ("1001", key, 9990)
    assert order.customer_id == get(engine, Cart, key).customer_id is not None


def test_order_matches_by_alt_token(engine):
    store(engine, cart_event("checkout-1", alt_ids=["cart-1"]))
    stored = store(engine, order_event(cart_id="unknown", alt=["cart-1"]), now=T0 + timedelta(hours=2))
    key = cart_key(SHOP, "checkout-1")
    assert signals(stored) == [(key, "order_placed")]
    assert only_order(engine).cart_id == key


@pytest.mark.parametrize("who", [ContactIn(customer_id="cust-9"), ContactIn(email="ada.lovelace@EXAMPLE.com")], ids=["customer_id", "email"])
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
    assert order.cart_id is None and order.customer_id == get(engine, Cart, key).customer_id


def test_order_without_tokens_matches_a_watched_cart(engine):
    store(engine, cart_event("tok-1"))  # not abandoned yet: the journey is still watching
    stored = store(engine, order_event(who=ContactIn(email="ada.lovelace@example.com")), now=T0 + timedelta(minutes=10))
    assert signals(stored) == [(cart_key(SHOP, "tok-1"), "order_placed")]


def test_order_of_another_customer_matches_nothing(engine):
    store(engine, cart_event("tok-1"))
    stored = store(engine, order_event(who=ContactIn(email="someone.else@example.com")), now=T0 + timedelta(minutes=10))
    assert stored.actions == [] and only_order(engine).cart_id is None
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
    assert third.actions == [] and count(engine, Order) == 1


# --- consent, signals ----------------------------------------------------------------------------
def test_consent_event_appends_only_changes_and_tells_open_carts(engine):
    store(engine, cart_event("open-1", consents=granted("email")))
    store(engine, cart_event("closed-1"))
    set_cart(engine, cart_key(SHOP, "closed-1"), status="recovered")
    who = ContactIn(email="ada.lovelace@example.com")

    change = ConsentEvent(contact=who, consents=[
        ConsentChange(channel="email", state="granted", source="preferences"),  # unchanged
        ConsentChange(channel="sms", state="granted", source="preferences"),
    ])
    stored = store(engine, change, now=T0 + timedelta(hours=1))
    open_key = cart_key(SHOP, "open-1")
    assert [(a.cart_key, a.signal, a.arg) for a in stored.actions] == [(open_key, "consent_changed", ConsentChanged(1))]
    assert count(engine, ConsentRecord) == 2  # granted email (from the cart) + granted sms

    repeat = store(engine, change, now=T0 + timedelta(hours=2))
    assert repeat.actions == [] and count(engine, ConsentRecord) == 2

    revoke = ConsentEvent(contact=who, consents=[ConsentChange(channel="email", state="revoked", source="unsubscribe")])
    assert signals(store(engine, revoke, now=T0 + timedelta(hours=3))) == [(open_key, "consent_changed")]
    assert count(engine, ConsentRecord) == 3
    with Session(engine) as session:
        customer_id = session.exec(select(Customer.id)).one()
        assert {ch: r.state for ch, r in current_consent(session, customer_id).items()} == {"email": "revoked", "sms": "granted"}


def test_consent_event_for_a_new_person_creates_the_customer_without_actions(engine):
    stored = store(engine, ConsentEvent(contact=ContactIn(phone="+44 20 7946 0958"), consents=granted("sms")))
    assert stored.actions == []
    assert [(c.kind, c.normalized) for c in all_rows(engine, Contact)] == [("phone", "+442079460958")]
    assert count(engine, ConsentRecord) == 1


def test_behavior_signal_for_unknown_cart_is_ignored(engine):
    stored = store(engine, BehaviorSignal(cart_id="nope", kind="price_sort"))
    assert stored.actions == [] and count(engine, BehaviorSignalRow) == 0


def test_behavior_signal_on_open_cart_is_stored_and_signalled(engine):
    store(engine, cart_event("tok-1", alt_ids=["cart-1"]))
    stored = store(engine, BehaviorSignal(cart_id="cart-1", kind="shipping_page_view"))
    key = cart_key(SHOP, "tok-1")
    assert [(a.cart_key, a.signal, a.arg) for a in stored.actions] == [(key, "signal_observed", SignalObserved("shipping_page_view"))]
    assert [(r.cart_id, r.kind) for r in all_rows(engine, BehaviorSignalRow)] == [(key, "shipping_page_view")]


# --- privacy -------------------------------------------------------------------------------------
ZELDA = dict(email="Zelda.Quince@Example.COM", phone="(650) 253-0000", first_name="Zeldaphine")
ZELDA_NEEDLES = [
    "zelda.quince@example.com", "+16502530000", "6502530000", "zeldaphine", "tok-zq-7f3a", "alt-zq-91c2", "done-zq-55e1",
    "https://shop.example/r/zq-secret-8812", "crimson teapot", "velvet scarf",
]


def zelda_history(engine, shop=SHOP) -> str:
    """A customer with an open cart, a completed checkout, an order, a decision, a message, an
    outcome, a behaviour signal and consents. Returns the open cart's key."""
    who = contact(customer_id="ext-zq", locale="fr-FR", timezone="Europe/Paris", **ZELDA)
    items = [LineItem(title="Crimson Teapot", price=Decimal("30"), sku="CT-1"), LineItem(title="Velvet Scarf", price=Decimal("12.5"))]
    store(engine, cart_event("tok-zq-7f3a", who=who, items=items, total="42.50", consents=granted("email", "sms"),
                             alt_ids=["alt-zq-91c2"], recovery_url="https://shop.example/r/zq-secret-8812", source="newsletter-zq"), shop=shop)
    store(engine, cart_event("done-zq-55e1", who=who, items=items[:1], total="30.00", completed_at=T0), shop=shop)
    store(engine, BehaviorSignal(cart_id="tok-zq-7f3a", kind="coupon_attempt"), shop=shop)
    key = cart_key(shop, "tok-zq-7f3a")
    store(engine, order_event("zq-order-1", who=ContactIn(email=ZELDA["email"]), total="42.50"), shop=shop, now=T0 + timedelta(hours=1))
    with Session(engine) as session:
        decision = Decision(cart_id=key, touch=1, decided_at=T0, policy="rules", channel="email", reason="price",
                            reason_confidence=0.7, propensity=0.3, bucket="Low", features={"cart_value": 42.5})
        session.add(decision)
        session.flush()
        session.add(Message(idempotency_key=f"recovery/{shop}/{key}/1", cart_id=key, decision_id=decision.id, touch=1,
                            channel="email", status="sent", provider_result="accepted by mailto", created_at=T0, sent_at=T0))
        session.add(Outcome(cart_id=key, status="recovered", order_id="zq-order-1", value_cents=4250, attributed_touch=1,
                            attributed_channel="email", touches_sent=1, recorded_at=T0))
        session.commit()
    return key


def bystander(engine, shop=SHOP) -> None:
    who = ContactIn(email="bob.byrne@example.org", first_name="Bobbington")
    store(engine, cart_event("tok-bob-1", who=who, items=[LineItem(title="Garden Gnome")], total="9.00", consents=granted("email")), shop=shop)


def test_export_returns_everything_held_about_the_customer(engine):
    key = zelda_history(engine)
    bystander(engine)
    stored = store(engine, PrivacyRequest(action="export", contact=ContactIn(email="zelda.quince@example.com")))
    body = json.loads(json.dumps(stored.body))  # what the API returns must be plain JSON

    assert stored.actions == []
    assert body["customer"]["first_name"] == "Zeldaphine" and body["customer"]["timezone"] == "Europe/Paris"
    assert {c["kind"]: c["normalized"] for c in body["contacts"]} == {"email": "zelda.quince@example.com", "phone": "+16502530000"}
    assert sorted((r["channel"], r["state"]) for r in body["consent_ledger"]) == [("email", "granted"), ("sms", "granted")]
    carts = {c["token"]: c for c in body["carts"]}
    assert set(carts) == {"tok-zq-7f3a", "done-zq-55e1"}
    assert [i["title"] for i in carts["tok-zq-7f3a"]["items"]] == ["Crimson Teapot", "Velvet Scarf"]
    assert carts["tok-zq-7f3a"]["recovery_url"] == "https://shop.example/r/zq-secret-8812"
    assert sorted(o["value_cents"] for o in body["orders"]) == [3000, 4250]
    assert [(m["cart_id"], m["channel"]) for m in body["messages"]] == [(key, "email")]
    assert "bob" not in json.dumps(body).lower()


def test_export_of_unknown_person(engine):
    stored = store(engine, PrivacyRequest(action="export", contact=ContactIn(email="nobody@example.com")))
    assert stored.body == {"customer": None}


def test_erasure_removes_every_piece_of_personal_data(engine):
    key = zelda_history(engine)
    bystander(engine)
    orders_before = sorted(o.value_cents for o in all_rows(engine, Order))
    assert all(needle in database_text(engine) for needle in ZELDA_NEEDLES)  # the scan can see them

    stored = store(engine, PrivacyRequest(action="erase", contact=ContactIn(phone="+16502530000")), now=T0 + timedelta(days=1))
    assert signals(stored) == [(key, "erase")] and stored.summary == "customer erased"

    text = database_text(engine)
    assert [n for n in ZELDA_NEEDLES if n in text] == []
    assert "bob.byrne@example.org" in text and "garden gnome" in text  # the other customer is untouched
    # what reports need stays: amounts, outcomes, opaque ids
    assert sorted(o.value_cents for o in all_rows(engine, Order)) == orders_before == [3000, 4250]
    outcome = get(engine, Outcome, key)
    assert (outcome.status, outcome.value_cents, outcome.attributed_channel) == ("recovered", 4250, "email")
    cart = get(engine, Cart, key)
    assert (cart.value_cents, cart.items, cart.recovery_url) == (4250, [], None)
    erased = get(engine, Customer, cart.customer_id)
    assert erased.erased_at is not None and erased.first_name is None

    again = store(engine, PrivacyRequest(action="erase", contact=ContactIn(email=ZELDA["email"])))
    assert again.actions == [] and again.summary == "no such customer"


def test_erasure_covers_a_guest_cart_linked_only_by_its_order(engine):
    store(engine, cart_event("guest-zq-6c0e", who=ContactIn(), items=[LineItem(title="Opal Kettle")]))
    store(engine, order_event("zq-order-2", cart_id="guest-zq-6c0e", who=contact(**ZELDA)), now=T0 + timedelta(hours=1))
    assert only_order(engine).cart_id == cart_key(SHOP, "guest-zq-6c0e")

    store(engine, PrivacyRequest(action="erase", contact=ContactIn(email=ZELDA["email"])), now=T0 + timedelta(days=1))
    text = database_text(engine)
    assert [n for n in ["guest-zq-6c0e", "opal kettle", "zelda.quince@example.com", "zeldaphine"] if n in text] == []
    assert only_order(engine).value_cents == 9990


def test_erase_shop_removes_the_shops_personal_data_only(engine):
    key = zelda_history(engine)
    store(engine, cart_event("anon-zq-3b7d", who=ContactIn(), items=[LineItem(title="Opal Kettle")], recovery_url="https://shop.example/r/anon-secret-4411"))
    bystander(engine, shop="shop-b.example")

    stored = store(engine, PrivacyRequest(action="erase_shop"), now=T0 + timedelta(days=1))
    assert sorted(signals(stored)) == sorted([(key, "erase"), (cart_key(SHOP, "anon-zq-3b7d"), "erase")])

    text = database_text(engine)
    needles = ZELDA_NEEDLES + ["anon-zq-3b7d", "opal kettle", "anon-secret-4411"]
    assert [n for n in needles if n in text] == []
    assert "bob.byrne@example.org" in text and "tok-bob-1" in text  # other shop untouched
    assert sorted(o.value_cents for o in all_rows(engine, Order)) == [3000, 4250]
    assert get(engine, Outcome, key).value_cents == 4250


# --- receipts, clock -----------------------------------------------------------------------------
def test_a_repeated_delivery_stores_nothing_and_returns_the_first_signals(engine):
    rid = "shopify:shop-a:delivery-1"
    assert already_received(engine, rid) is False
    event = CartEvent(cart_id="rcpt-1", contact={"email": "r@example.com"}, total_value=Decimal("5"))
    first = store_event(engine, SETTINGS, SHOP, "generic", event, T0, rid, "checkouts/create")
    again = store_event(engine, SETTINGS, SHOP, "generic", event, T0 + timedelta(seconds=1), rid, "checkouts/create")
    assert already_received(engine, rid) is True and already_received(engine, "shopify:shop-a:delivery-2") is False
    assert first.duplicate is False and again.duplicate is True
    assert again.actions == first.actions  # re-sent: a retry after a Temporal outage repairs the journey
    assert get(engine, Cart, cart_key(SHOP, "rcpt-1")).version == 1  # stored once
    [receipt] = all_rows(engine, WebhookReceipt)
    assert (receipt.id, receipt.topic) == (rid, "checkouts/create")


def test_receipt_round_trips_every_signal_argument(engine):
    store(engine, CartEvent(cart_id="rt-1", contact={"customer_id": "rt"}, total_value=Decimal("5")))
    order = OrderEvent(order_id="rt-order", cart_id="rt-1", total_value=Decimal("5"))
    first = store_event(engine, SETTINGS, SHOP, "generic", order, T0, "rid-order", "order")
    again = store_event(engine, SETTINGS, SHOP, "generic", order, T0, "rid-order", "order")
    assert first.actions and isinstance(again.actions[0].arg, OrderPlaced) and again.actions == first.actions


def test_load_clock_creates_the_anchor_once(engine):
    before = time.time()
    first = load_clock(engine, 1.0)
    assert before <= first.anchor_real <= time.time() and first.anchor_virtual == first.anchor_real and first.scale == 1.0
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
