from decimal import Decimal

import pytest

from services.core.events import BehaviorSignal, CartEvent, GenericWebhook, OrderEvent, PrivacyRequest
from services.ingest.platforms import PayloadError
from services.ingest.platforms.generic import parse


def field_errors(payload) -> dict[str, str]:
    with pytest.raises(PayloadError) as caught:
        parse(payload)
    return dict(caught.value.field_errors)


def test_cart_event_parses_with_defaults():
    webhook = parse(
        {
            "id": "delivery-1",
            "shop": "my-shop",
            "event": {
                "type": "cart",
                "cart_id": "c-1",
                "contact": {"email": "ann@example.com"},
                "consents": [{"channel": "email", "state": "granted", "source": "signup-form"}],
                "currency": "eur",
                "total_value": "59.90",
                "items": [{"title": "Scarf", "quantity": 2, "price": "29.95"}],
            },
        }
    )
    assert isinstance(webhook, GenericWebhook)
    assert (webhook.id, webhook.shop) == ("delivery-1", "my-shop")
    event = webhook.event
    assert isinstance(event, CartEvent)
    assert (event.cart_id, event.currency, event.total_value, event.stage) == (
        "c-1",
        "EUR",
        Decimal("59.90"),
        "checkout",
    )
    assert event.items[0].title == "Scarf"
    assert event.consents[0].channel == "email"


@pytest.mark.parametrize(
    ("event", "model"),
    [
        ({"type": "order", "order_id": "o-1", "cart_id": "c-1", "total_value": 10}, OrderEvent),
        ({"type": "signal", "cart_id": "c-1", "kind": "shipping_page_view"}, BehaviorSignal),
        ({"type": "privacy", "action": "erase", "contact": {"customer_id": "42"}}, PrivacyRequest),
    ],
)
def test_each_event_type_parses(event, model):
    webhook = parse({"id": "d", "event": event})
    assert isinstance(webhook.event, model)
    assert webhook.shop == "default"


@pytest.mark.parametrize("payload", [[], "text", None, 3])
def test_body_that_is_not_an_object_is_rejected(payload):
    assert list(field_errors(payload)) == ["body"]


def test_missing_fields_are_named_as_the_sender_wrote_them():
    errors = field_errors({"event": {"type": "cart", "total_value": "abc", "items": [{"quantity": 0}]}})
    assert set(errors) == {"id", "event.cart_id", "event.total_value", "event.items.0.title", "event.items.0.quantity"}


def test_unknown_event_type_is_rejected():
    assert list(field_errors({"id": "d", "event": {"type": "wishlist"}})) == ["event"]


def test_unknown_envelope_fields_are_rejected():
    assert list(
        field_errors({"id": "d", "event": {"type": "signal", "cart_id": "c", "kind": "price_sort"}, "extra": 1})
    ) == ["extra"]


def test_invalid_shop_name_is_rejected():
    assert list(
        field_errors({"id": "d", "shop": "../etc", "event": {"type": "signal", "cart_id": "c", "kind": "price_sort"}})
    ) == ["shop"]


def test_error_messages_never_echo_the_submitted_values():
    with pytest.raises(PayloadError) as caught:
        parse({"id": "d", "event": {"type": "cart", "cart_id": "c", "total_value": "secret@example.com"}})
    assert "secret@example.com" not in str(caught.value)
