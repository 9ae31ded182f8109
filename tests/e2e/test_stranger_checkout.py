"""End to end on the real dev server: a stranger's checkout carrying the victim's e-mail and phone
leaves the victim's customer record, journey and messages as they were (README, "Who is who")."""

from __future__ import annotations

import copy

import pytest
from sqlmodel import Session

from services.store.tables import Customer
from tests.fixtures import shopify_fixture
from tests.utils.e2e.sinks import eventually

pytestmark = pytest.mark.e2e


async def test_a_strangers_checkout_with_the_victims_contacts_takes_over_nothing(service):
    victim = shopify_fixture("checkouts_create")
    victim["phone"] = "+1 201 555 0123"
    assert (await service.shopify("checkouts/create", victim)).json()["status"] == "accepted"
    victim_cart = await service.cart(victim["token"])

    def victims_messages() -> list:
        return [m for m in service.sent_messages() if m.cart_id == victim_cart["key"]]

    await eventually(victims_messages, timeout=60)  # the victim's first reminder went out

    stranger = copy.deepcopy(victim)  # the same e-mail and phone, another Shopify customer
    stranger["token"], stranger["cart_token"] = "stranger-token", "stranger-cart-token"
    stranger["customer"]["id"] = 999_000_111
    stranger["customer"]["first_name"] = "Mallory"
    stranger["billing_address"]["first_name"] = "Mallory"
    response = await service.shopify("checkouts/create", stranger)
    assert response.json()["status"] == "accepted", response.text
    sent_before = [(m.touch, m.channel) for m in victims_messages()]

    stranger_cart = await service.cart("stranger-token")
    assert stranger_cart["customer_id"] != victim_cart["customer_id"]
    after = await service.cart(victim["token"])
    assert after["customer_id"] == victim_cart["customer_id"]
    assert after["status"] == "open"
    assert after["journey_state"] != "superseded"
    with Session(service.engine) as session:
        customer = session.get(Customer, victim_cart["customer_id"])
        assert customer is not None
        assert customer.external_id == str(victim["customer"]["id"])
        assert customer.first_name == victim["customer"]["first_name"]

    # the victim's journey goes on: its next touch is sent, nothing it sent was changed
    await eventually(lambda: len(victims_messages()) > len(sent_before), timeout=90)
    assert [(m.touch, m.channel) for m in victims_messages()][: len(sent_before)] == sent_before
