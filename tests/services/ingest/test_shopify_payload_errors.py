"""The Shopify topics handled, unknown topics ignored, and invalid payloads rejected field by field."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from services.core.events import CartEvent, Ignored
from services.ingest.platforms import PayloadError
from services.ingest.platforms.shopify import SHOPIFY_TOPICS, parse
from tests.fixtures import checkout, field_errors, load

# --- topics and invalid payloads ----------------------------------------------------------------


def test_topics_handled():
    assert SHOPIFY_TOPICS >= {
        "checkouts/create",
        "checkouts/update",
        "orders/create",
        "customers/update",
        "customers/data_request",
        "customers/redact",
        "shop/redact",
    }


@pytest.mark.parametrize("payload", [{"id": 1}, [1, 2], "text"])
def test_unknown_topic_is_ignored_whatever_the_body(payload):
    assert parse("products/update", payload) == Ignored(topic="products/update")


def test_checkout_without_token_names_the_field():
    payload = load("checkouts_create")
    del payload["token"]
    assert field_errors("checkouts/create", payload) == {"token": "field required"}


def test_non_numeric_total_price_names_the_field():
    assert field_errors("checkouts/update", checkout(total_price="abc")) == {
        "total_price": "Input should be a valid decimal"
    }


def test_negative_total_price_is_rejected():
    assert "total_price" in field_errors("checkouts/update", checkout(total_price="-1.00"))


@pytest.mark.parametrize("topic", sorted(SHOPIFY_TOPICS))
@pytest.mark.parametrize("payload", [[], [{"token": "abc"}], "abc", 3, None])
def test_body_that_is_not_an_object_is_rejected(topic, payload):
    assert field_errors(topic, payload) == {"body": "must be a JSON object"}


def test_every_problem_is_reported_at_once_with_shopify_field_paths():
    payload = checkout(token=None, updated_at="yesterday", currency="dollars", line_items="none", customer=[])
    assert field_errors("checkouts/update", payload) == {
        "token": "field required",
        "updated_at": "must be an ISO 8601 date-time",
        "currency": "must be a 3-letter ISO 4217 code",
        "line_items": "must be a list",
        "customer": "must be an object",
    }


def test_bad_line_item_names_its_index_and_field():
    payload = checkout()
    payload["line_items"] = copy.deepcopy(payload["line_items"])
    payload["line_items"][1]["price"] = "12,50"
    payload["line_items"][1]["quantity"] = "two"
    assert field_errors("checkouts/update", payload) == {
        "line_items.1.quantity": "must be a whole number from 0 to 100000",
        "line_items.1.price": "Input should be a valid decimal",
    }


def test_wrong_types_for_flags_and_ids_are_rejected():
    errors = field_errors("checkouts/update", checkout(buyer_accepts_marketing="yes", cart_token={"a": 1}))
    assert errors == {
        "buyer_accepts_marketing": "must be true or false",
        "cart_token": "must be a string or an integer",
    }


def test_error_messages_never_echo_the_submitted_values():
    with pytest.raises(PayloadError) as caught:
        parse("checkouts/update", checkout(total_price="secret@example.com", updated_at="secret@example.com"))
    assert "secret@example.com" not in str(caught.value)


def test_line_items_beyond_the_canonical_cap_are_dropped_but_the_total_is_kept():
    lines = [{"title": f"Sticker {n}", "quantity": 1, "price": "1.00"} for n in range(600)]
    event = parse("checkouts/update", checkout(line_items=lines, total_price="600.00"))
    assert len(event.items) == 500
    assert event.total_value == Decimal("600.00")


def test_numeric_money_and_ids_are_accepted():
    event = parse("checkouts/update", {"token": 123123123, "total_price": 19.99, "currency": "eur"})
    assert (event.cart_id, event.total_value, event.currency) == ("123123123", Decimal("19.99"), "EUR")


def test_topic_whitespace_is_tolerated():
    assert isinstance(parse(" checkouts/create ", {"token": "abc"}), CartEvent)
