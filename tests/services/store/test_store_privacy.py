"""Privacy requests through `store_event` (SQLite, PostgreSQL): export, erasure of a customer or a shop."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from sqlmodel import Session

from services.core.events import BehaviorSignal, LineItem, PrivacyRequest
from services.core.events import Contact as ContactIn
from services.store.carts import cart_key
from services.store.tables import Cart, Customer, Decision, Message, Order, Outcome
from tests.utils.store_events import (
    SHOP,
    T0,
    all_rows,
    cart_event,
    contact,
    database_text,
    get,
    granted,
    only_order,
    order_event,
    signals,
    store,
)

# --- privacy -------------------------------------------------------------------------------------
ZELDA = dict(email="Zelda.Quince@Example.COM", phone="(650) 253-0000", first_name="Zeldaphine")
ZELDA_NEEDLES = [
    "zelda.quince@example.com",
    "+16502530000",
    "6502530000",
    "zeldaphine",
    "tok-zq-7f3a",
    "alt-zq-91c2",
    "done-zq-55e1",
    "https://shop.example/r/zq-secret-8812",
    "crimson teapot",
    "velvet scarf",
]


def zelda_history(engine, shop=SHOP) -> str:
    """A customer with an open cart, a completed checkout, an order, a decision, a message, an
    outcome, a behaviour signal and consents. Returns the open cart's key."""
    who = contact(customer_id="ext-zq", locale="fr-FR", timezone="Europe/Paris", **ZELDA)
    items = [
        LineItem(title="Crimson Teapot", price=Decimal("30"), sku="CT-1"),
        LineItem(title="Velvet Scarf", price=Decimal("12.5")),
    ]
    store(
        engine,
        cart_event(
            "tok-zq-7f3a",
            who=who,
            items=items,
            total="42.50",
            consents=granted("email", "sms"),
            alt_ids=["alt-zq-91c2"],
            recovery_url="https://shop.example/r/zq-secret-8812",
            source="newsletter-zq",
        ),
        shop=shop,
    )
    store(engine, cart_event("done-zq-55e1", who=who, items=items[:1], total="30.00", completed_at=T0), shop=shop)
    store(engine, BehaviorSignal(cart_id="tok-zq-7f3a", kind="coupon_attempt"), shop=shop)
    key = cart_key(shop, "tok-zq-7f3a")
    store(
        engine,
        order_event("zq-order-1", who=ContactIn(email=ZELDA["email"]), total="42.50"),
        shop=shop,
        now=T0 + timedelta(hours=1),
    )
    with Session(engine) as session:
        decision = Decision(
            cart_id=key,
            touch=1,
            decided_at=T0,
            policy="rules",
            channel="email",
            reason="price",
            reason_confidence=0.7,
            propensity=0.3,
            bucket="Low",
            features={"cart_value": 42.5},
        )
        session.add(decision)
        session.flush()
        session.add(
            Message(
                idempotency_key=f"recovery/{shop}/{key}/1",
                cart_id=key,
                decision_id=decision.id,
                touch=1,
                channel="email",
                status="sent",
                provider_result="accepted by mailto",
                created_at=T0,
                sent_at=T0,
            )
        )
        session.add(
            Outcome(
                cart_id=key,
                status="recovered",
                order_id="zq-order-1",
                value_cents=4250,
                attributed_touch=1,
                attributed_channel="email",
                touches_sent=1,
                recorded_at=T0,
            )
        )
        session.commit()
    return key


def bystander(engine, shop=SHOP) -> None:
    who = ContactIn(email="bob.byrne@example.org", first_name="Bobbington")
    store(
        engine,
        cart_event(
            "tok-bob-1", who=who, items=[LineItem(title="Garden Gnome")], total="9.00", consents=granted("email")
        ),
        shop=shop,
    )


def test_export_returns_everything_held_about_the_customer(engine):
    key = zelda_history(engine)
    bystander(engine)
    stored = store(engine, PrivacyRequest(action="export", contact=ContactIn(email="zelda.quince@example.com")))
    body = json.loads(json.dumps(stored.body))  # what the API returns must be plain JSON

    assert stored.actions == []
    assert body["customer"]["first_name"] == "Zeldaphine"
    assert body["customer"]["timezone"] == "Europe/Paris"
    assert {c["kind"]: c["normalized"] for c in body["contacts"]} == {
        "email": "zelda.quince@example.com",
        "phone": "+16502530000",
    }
    assert sorted((r["channel"], r["state"]) for r in body["consent_ledger"]) == [
        ("email", "granted"),
        ("sms", "granted"),
    ]
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

    stored = store(
        engine, PrivacyRequest(action="erase", contact=ContactIn(phone="+16502530000")), now=T0 + timedelta(days=1)
    )
    assert signals(stored) == [(key, "erase")]
    assert stored.summary == "customer erased"

    text = database_text(engine)
    assert [n for n in ZELDA_NEEDLES if n in text] == []
    assert "bob.byrne@example.org" in text
    assert "garden gnome" in text  # the other customer is untouched
    # what reports need stays: amounts, outcomes, opaque ids
    assert sorted(o.value_cents for o in all_rows(engine, Order)) == orders_before == [3000, 4250]
    outcome = get(engine, Outcome, key)
    assert (outcome.status, outcome.value_cents, outcome.attributed_channel) == ("recovered", 4250, "email")
    cart = get(engine, Cart, key)
    assert (cart.value_cents, cart.items, cart.recovery_url) == (4250, [], None)
    erased = get(engine, Customer, cart.customer_id)
    assert erased.erased_at is not None
    assert erased.first_name is None

    again = store(engine, PrivacyRequest(action="erase", contact=ContactIn(email=ZELDA["email"])))
    assert again.actions == []
    assert again.summary == "no such customer"


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
    store(
        engine,
        cart_event(
            "anon-zq-3b7d",
            who=ContactIn(),
            items=[LineItem(title="Opal Kettle")],
            recovery_url="https://shop.example/r/anon-secret-4411",
        ),
    )
    bystander(engine, shop="shop-b.example")

    stored = store(engine, PrivacyRequest(action="erase_shop"), now=T0 + timedelta(days=1))
    assert sorted(signals(stored)) == sorted([(key, "erase"), (cart_key(SHOP, "anon-zq-3b7d"), "erase")])

    text = database_text(engine)
    needles = ZELDA_NEEDLES + ["anon-zq-3b7d", "opal kettle", "anon-secret-4411"]
    assert [n for n in needles if n in text] == []
    assert "bob.byrne@example.org" in text
    assert "tok-bob-1" in text  # other shop untouched
    assert sorted(o.value_cents for o in all_rows(engine, Order)) == [3000, 4250]
    assert get(engine, Outcome, key).value_cents == 4250


def test_erasure_by_address_alone_covers_every_customer_holding_it(engine):
    """Two customer ids checked out with one e-mail address (README, "Who is who"): a request naming
    only the address erases both and stops both journeys; one naming a customer id, only that one."""
    shared = "shared.inbox@example.com"
    store(engine, cart_event("tok-a", who=ContactIn(customer_id="id-a", email=shared, first_name="Annabel")))
    store(engine, cart_event("tok-b", who=ContactIn(customer_id="id-b", email=shared, first_name="Bertrand")))
    store(engine, cart_event("tok-c", who=ContactIn(customer_id="id-c", email=shared, first_name="Cordelia")))

    by_id = store(engine, PrivacyRequest(action="erase", contact=ContactIn(customer_id="id-c", email=shared)))
    assert signals(by_id) == [(cart_key(SHOP, "tok-c"), "erase")]
    text = database_text(engine)
    assert "cordelia" not in text and "annabel" in text and "bertrand" in text

    by_address = store(engine, PrivacyRequest(action="erase", contact=ContactIn(email="Shared.Inbox@Example.com")))
    assert sorted(signals(by_address)) == sorted(
        [(cart_key(SHOP, "tok-a"), "erase"), (cart_key(SHOP, "tok-b"), "erase")]
    )
    text = database_text(engine)
    assert not any(needle in text for needle in ("annabel", "bertrand", shared))


def test_a_shared_household_phone_does_not_widen_an_erasure_by_e_mail(engine):
    home = "+1 650 253 0001"
    store(
        engine,
        cart_event(
            "tok-p", who=ContactIn(customer_id="id-p", email="pat@example.com", phone=home, first_name="Patricia")
        ),
    )
    store(
        engine,
        cart_event(
            "tok-q", who=ContactIn(customer_id="id-q", email="quin@example.com", phone=home, first_name="Quinlan")
        ),
    )
    stored = store(engine, PrivacyRequest(action="erase", contact=ContactIn(email="pat@example.com", phone=home)))
    assert signals(stored) == [(cart_key(SHOP, "tok-p"), "erase")]
    text = database_text(engine)
    assert "patricia" not in text and "quinlan" in text
