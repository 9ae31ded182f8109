"""Shopify checkout and order webhooks parsed to canonical events, from the documented examples on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from services.core.events import CartEvent, OrderEvent
from services.ingest.platforms.shopify import parse
from tests.fixtures import checkout, field_errors, load

# --- Shopify's documented example bodies -------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "fixture"), [("checkouts/create", "checkouts_create"), ("checkouts/update", "checkouts_update")]
)
def test_documented_checkout_example_parses_to_cart_event(topic, fixture):
    event = parse(topic, load(fixture))

    assert isinstance(event, CartEvent)
    assert event.cart_id == "123123123"
    assert event.alt_ids == ["eeafa272cebfd4b22385bc4b645e762c"]
    assert event.contact.email == "example@email.com"
    assert event.contact.customer_id == "603851970716743426"
    assert event.contact.first_name == "John"
    assert event.contact.locale is None
    assert event.currency == "USD"
    assert event.total_value == Decimal("421.88")
    assert [(i.title, i.variant_title, i.quantity, i.price, i.sku, i.product_id) for i in event.items] == [
        ("IPod Nano - 8GB", "Pink", 1, Decimal("199.00"), "IPOD2008PINK", "632910392"),
    ] * 2
    assert event.recovery_url == "https://checkout.local/548380009/checkouts/123123123/recover?key=example-secret-token"
    assert event.stage == "shipping"  # shipping address given, no gateway, not completed
    assert event.completed_at is None
    assert event.updated_at == datetime(2021, 12, 31, 19, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert event.source == "web"
    assert event.device is None


def test_documented_checkout_buyer_accepts_marketing_false_grants_and_revokes_nothing():
    event = parse("checkouts/create", load("checkouts_create"))
    assert event.consents == []


def test_documented_checkout_address_phone_is_a_contact_but_grants_no_sms():
    event = parse("checkouts/create", load("checkouts_create"))
    assert event.contact.phone == "555-555-SHIP"
    assert not [c for c in event.consents if c.channel == "sms"]


def test_documented_order_example_with_null_tokens_parses():
    event = parse("orders/create", load("orders_create"))

    assert isinstance(event, OrderEvent)
    assert event.order_id == "820982911946154508"
    assert event.cart_id is None
    assert event.alt_cart_ids == []
    assert event.contact.customer_id == "115310627314723954"
    assert event.contact.email == "jon@example.com"
    assert event.contact.locale == "en"
    assert event.total_value == Decimal("404.95")
    assert event.currency == "USD"
    assert event.placed_at == datetime(2021, 12, 31, 19, 0, tzinfo=timezone(timedelta(hours=-5)))


# --- checkouts ---------------------------------------------------------------------------------


def test_minimal_checkout_needs_only_its_token():
    event = parse("checkouts/update", {"token": "abc"})
    assert event.cart_id == "abc"
    assert event.alt_ids == []
    assert event.items == []
    assert event.consents == []
    assert event.total_value == Decimal("0")
    assert event.stage == "checkout"


def test_checkout_nulls_everywhere_parse():
    nulls = {key: None for key in load("checkouts_create") if key != "token"}
    event = parse("checkouts/update", {"token": "abc", **nulls})
    assert event.cart_id == "abc"
    assert event.contact.email is None


def test_buyer_accepts_marketing_true_grants_email_with_evidence():
    event = parse("checkouts/update", checkout(buyer_accepts_marketing=True))
    [consent] = event.consents
    assert (consent.channel, consent.state) == ("email", "granted")
    assert consent.source == "shopify:buyer_accepts_marketing"
    assert consent.evidence == "buyer_accepts_marketing=true"
    assert consent.at == event.updated_at


def test_sms_tick_with_sms_phone_grants_sms_and_sets_that_phone():
    event = parse(
        "checkouts/update",
        checkout(buyer_accepts_sms_marketing=True, sms_marketing_phone="+15145550123", phone="+15145550999"),
    )
    [consent] = event.consents
    assert (consent.channel, consent.state, consent.source) == ("sms", "granted", "shopify:buyer_accepts_sms_marketing")
    assert event.contact.phone == "+15145550123"


def test_sms_tick_without_sms_phone_grants_nothing():
    event = parse("checkouts/update", checkout(buyer_accepts_sms_marketing=True, phone="+15145550999"))
    assert event.consents == []
    assert event.contact.phone == "+15145550999"


def test_phone_prefers_checkout_phone_then_sms_phone_then_customer_then_addresses():
    assert parse("checkouts/update", checkout(phone="+1111", sms_marketing_phone="+2222")).contact.phone == "+1111"
    assert parse("checkouts/update", checkout(sms_marketing_phone="+2222")).contact.phone == "+2222"
    payload = checkout()
    payload["customer"]["phone"] = "+3333"
    assert parse("checkouts/update", payload).contact.phone == "+3333"
    payload = checkout(shipping_address=None)
    assert parse("checkouts/update", payload).contact.phone == "555-555-BILL"


def test_email_falls_back_to_customer_email():
    assert parse("checkouts/update", checkout(email=None)).contact.email == "john@example.com"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("subscribed", "granted"),
        ("unsubscribed", "revoked"),
        ("redacted", "revoked"),
        ("not_subscribed", None),
        ("pending", None),
        ("invalid", None),
    ],
)
def test_customer_consent_objects_in_checkout(state, expected):
    payload = checkout()
    payload["customer"]["email_marketing_consent"] = {
        "state": state,
        "opt_in_level": "single_opt_in",
        "consent_updated_at": "2024-03-01T10:00:00Z",
    }
    consents = parse("checkouts/update", payload).consents
    if expected is None:
        assert consents == []
    else:
        [consent] = consents
        assert (consent.channel, consent.state) == ("email", expected)
        assert consent.source == "shopify:customer.email_marketing_consent"
        assert consent.evidence == f"state={state}; opt_in_level=single_opt_in"
        assert consent.at == datetime(2024, 3, 1, 10, tzinfo=UTC)


def test_customer_sms_consent_in_checkout_prefers_the_customer_phone():
    payload = checkout(phone="+1111")
    payload["customer"]["phone"] = "+3333"
    payload["customer"]["sms_marketing_consent"] = {"state": "subscribed", "consent_updated_at": None}
    event = parse("checkouts/update", payload)
    assert [(c.channel, c.state, c.at) for c in event.consents] == [("sms", "granted", None)]
    assert event.contact.phone == "+3333"


@pytest.mark.parametrize(
    ("changes", "stage"),
    [
        ({"shipping_address": None, "billing_address": None}, "checkout"),
        ({"shipping_address": None, "shipping_lines": [{"title": "Standard", "price": "5.00"}]}, "shipping"),
        ({}, "shipping"),
        ({"gateway": "bogus"}, "payment"),
        ({"completed_at": "2022-01-01T10:00:00-05:00"}, "payment"),
    ],
)
def test_checkout_stage_mapping(changes, stage):
    assert parse("checkouts/update", checkout(**changes)).stage == stage


def test_completed_checkout_carries_completed_at():
    event = parse("checkouts/update", checkout(completed_at="2022-01-01T10:00:00-05:00"))
    assert event.completed_at == datetime(2022, 1, 1, 15, tzinfo=UTC)


def test_line_item_fallbacks_and_empty_lines():
    payload = checkout(
        line_items=[
            {
                "presentment_title": "Mug",
                "presentment_variant_title": "Blue",
                "quantity": 2,
                "price": 12.5,
                "product_id": None,
            },
            {"title": "Gone", "quantity": 0, "price": "1.00"},
        ]
    )
    [item] = parse("checkouts/update", payload).items
    assert (item.title, item.variant_title, item.quantity, item.price, item.product_id) == (
        "Mug",
        "Blue",
        2,
        Decimal("12.5"),
        None,
    )


def test_source_prefers_referrer_then_landing_site_and_long_urls_are_cut():
    assert parse("checkouts/update", checkout(referring_site="https://news.example/")).source == "https://news.example/"
    long_landing = "/products/mug?utm_source=" + "x" * 500
    assert parse("checkouts/update", checkout(landing_site=long_landing)).source == long_landing[:200]


def test_overlong_email_is_dropped_not_cut():
    payload = checkout(email="a" * 320 + "@example.com")
    assert parse("checkouts/update", payload).contact.email == "john@example.com"


def test_same_cart_token_is_not_repeated_as_alt_id():
    assert parse("checkouts/update", checkout(cart_token="123123123")).alt_ids == []


# --- orders --------------------------------------------------------------------------------------


def test_order_with_tokens_links_to_its_checkout_and_cart():
    payload = load("orders_create") | {"checkout_token": "123123123", "cart_token": "eeafa272", "email": None}
    event = parse("orders/create", payload)
    assert event.cart_id == "123123123"
    assert event.alt_cart_ids == ["eeafa272"]
    assert event.contact.email == "jon@example.com"  # contact_email


def test_order_placed_at_falls_back_to_created_at():
    payload = load("orders_create") | {"processed_at": None, "created_at": "2022-02-02T02:02:02Z"}
    assert parse("orders/create", payload).placed_at == datetime(2022, 2, 2, 2, 2, 2, tzinfo=UTC)


def test_order_without_id_names_the_field():
    payload = load("orders_create")
    del payload["id"]
    assert field_errors("orders/create", payload) == {"id": "field required"}
