"""Who is who: a stranger's checkout carrying someone else's e-mail or phone takes over nothing
(README, "Who is who")."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from services.core.events import ConsentChange
from services.core.events import Contact as ContactIn
from services.model_ops.plan_context import build_plan_context
from services.store.carts import cart_key
from services.store.tables import Cart, Contact, Customer
from tests.utils.store_events import (
    SETTINGS,
    SHOP,
    T0,
    all_rows,
    cart_event,
    contact,
    count,
    get,
    order_event,
    signals,
    store,
)

VICTIM = contact(customer_id="victim-1", first_name="Ada")
STRANGER = contact(customer_id="stranger-9", first_name="Mallory")  # the victim's e-mail and phone
GUEST = contact(first_name="Eve")  # no platform id, the victim's e-mail and phone


def customer_of(engine, token: str) -> Customer:
    return get(engine, Customer, get(engine, Cart, cart_key(SHOP, token)).customer_id)


def test_a_strangers_checkout_with_the_victims_contacts_gets_its_own_customer(engine):
    store(engine, cart_event("victim-cart", who=VICTIM))
    stored = store(engine, cart_event("stranger-cart", who=STRANGER), now=T0 + timedelta(hours=1))

    assert signals(stored) == [(cart_key(SHOP, "stranger-cart"), "start")]  # the victim's journey goes on
    victim, stranger = customer_of(engine, "victim-cart"), customer_of(engine, "stranger-cart")
    assert victim.id != stranger.id
    assert (victim.external_id, victim.first_name) == ("victim-1", "Ada")
    assert (stranger.external_id, stranger.first_name) == ("stranger-9", "Mallory")
    assert count(engine, Customer) == 2


def test_a_guest_checkout_with_an_identified_customers_contacts_takes_over_nothing(engine):
    store(engine, cart_event("victim-cart", who=VICTIM))
    stored = store(engine, cart_event("guest-cart", who=GUEST), now=T0 + timedelta(hours=1))

    assert signals(stored) == [(cart_key(SHOP, "guest-cart"), "start")]
    victim, guest = customer_of(engine, "victim-cart"), customer_of(engine, "guest-cart")
    assert victim.id != guest.id
    assert victim.first_name == "Ada"
    assert guest.external_id is None


def test_the_victims_contacts_are_not_rewritten_by_a_stranger(engine):
    store(engine, cart_event("victim-cart", who=VICTIM))
    other_phone = contact(customer_id="stranger-9", phone="+1 201 555 0100")
    store(engine, cart_event("stranger-cart", who=other_phone), now=T0 + timedelta(hours=1))

    victim = customer_of(engine, "victim-cart")
    phones = {c.customer_id: c.normalized for c in all_rows(engine, Contact) if c.kind == "phone"}
    assert phones[victim.id] == "+16502530000"


def test_the_same_platform_customer_is_found_by_its_id_and_learns_new_details(engine):
    store(engine, cart_event("first", who=VICTIM))
    store(engine, cart_event("second", who=contact(customer_id="victim-1", first_name="Augusta", email=None)))

    assert count(engine, Customer) == 1
    assert customer_of(engine, "second").first_name == "Augusta"


def test_guests_with_the_same_email_are_one_guest(engine):
    store(engine, cart_event("guest-1", who=GUEST))
    stored = store(
        engine, cart_event("guest-2", who=contact(first_name="Eve", phone=None)), now=T0 + timedelta(hours=1)
    )

    assert customer_of(engine, "guest-1").id == customer_of(engine, "guest-2").id
    assert signals(stored) == [(cart_key(SHOP, "guest-1"), "superseded"), (cart_key(SHOP, "guest-2"), "start")]


def test_a_guest_order_converts_the_identified_customers_cart_without_writing_on_them(engine):
    store(engine, cart_event("victim-cart", who=VICTIM))
    order = order_event(who=ContactIn(email="ada.lovelace@example.com", phone="+1 201 555 0199", first_name="Eve"))
    stored = store(engine, order, now=T0 + timedelta(minutes=10))

    assert signals(stored) == [(cart_key(SHOP, "victim-cart"), "order_placed")]
    victim = customer_of(engine, "victim-cart")
    assert victim.first_name == "Ada"
    phones = {c.customer_id: c.normalized for c in all_rows(engine, Contact) if c.kind == "phone"}
    assert phones == {victim.id: "+16502530000"}


def reachability(engine, token: str):
    with Session(engine) as session:
        cart = session.get(Cart, cart_key(SHOP, token))
        now = T0 + timedelta(hours=2)
        ctx = build_plan_context(
            session, SETTINGS, cart, touch=1, max_touches=3, now=now, abandoned_at=now, deadline=now + timedelta(days=5)
        )
    return ctx.reachability


def revoke(channel: str) -> list[ConsentChange]:
    return [ConsentChange(channel=channel, state="revoked", source="unsubscribe_link", at=T0)]


def grant(channel: str) -> list[ConsentChange]:
    return [ConsentChange(channel=channel, state="granted", source="checkout", at=T0 + timedelta(hours=1))]


def test_an_unsubscribe_follows_the_address_to_every_customer_holding_it(engine):
    store(engine, cart_event("victim-cart", who=VICTIM, consents=revoke("email") + revoke("sms")))
    # later, a stranger's checkout with the same address ticks both boxes
    store(
        engine,
        cart_event("stranger-cart", who=STRANGER, consents=grant("email") + grant("sms")),
        T0 + timedelta(hours=1),
    )

    stranger = reachability(engine, "stranger-cart")
    assert stranger["email"].consent == "revoked"
    assert stranger["sms"].consent == "revoked"
    victim = reachability(engine, "victim-cart")
    assert victim["email"].consent == "revoked"
    assert victim["sms"].consent == "revoked"


def test_a_grant_counts_only_for_the_customer_it_was_recorded_for(engine):
    store(engine, cart_event("victim-cart", who=VICTIM))
    store(engine, cart_event("stranger-cart", who=STRANGER, consents=grant("sms")), T0 + timedelta(hours=1))

    assert reachability(engine, "stranger-cart")["sms"].consent == "granted"
    assert reachability(engine, "victim-cart")["sms"].consent is None


def test_the_customer_who_revoked_lifts_it_by_granting_again(engine):
    store(engine, cart_event("victim-cart", who=VICTIM, consents=revoke("sms")))
    store(engine, cart_event("victim-cart", who=VICTIM, consents=grant("sms")), T0 + timedelta(hours=1))
    store(engine, cart_event("stranger-cart", who=STRANGER, consents=grant("sms")), T0 + timedelta(hours=1))

    assert reachability(engine, "victim-cart")["sms"].consent == "granted"
    assert reachability(engine, "stranger-cart")["sms"].consent == "granted"
