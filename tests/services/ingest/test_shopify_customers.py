"""Shopify customer, marketing-consent and privacy (GDPR) webhooks parsed to canonical events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.core.events import ConsentEvent, PrivacyRequest
from services.ingest.platforms.shopify import parse
from tests.fixtures import field_errors

# --- customers and consent topics ---------------------------------------------------------------


def test_customer_update_with_consent_objects():
    event = parse(
        "customers/update",
        {
            "id": 706405506930370084,
            "email": "bob@example.com",
            "phone": "+16136120707",
            "first_name": "Bob",
            "email_marketing_consent": {
                "state": "unsubscribed",
                "opt_in_level": None,
                "consent_updated_at": "2024-05-01T00:00:00Z",
            },
            "sms_marketing_consent": {
                "state": "subscribed",
                "opt_in_level": "single_opt_in",
                "consent_updated_at": None,
                "consent_collected_from": "SHOPIFY",
            },
        },
    )
    assert isinstance(event, ConsentEvent)
    assert (event.contact.customer_id, event.contact.email, event.contact.phone) == (
        "706405506930370084",
        "bob@example.com",
        "+16136120707",
    )
    assert [(c.channel, c.state, c.source) for c in event.consents] == [
        ("email", "revoked", "shopify:email_marketing_consent"),
        ("sms", "granted", "shopify:sms_marketing_consent"),
    ]
    assert event.consents[1].evidence == "state=subscribed; opt_in_level=single_opt_in; consent_collected_from=SHOPIFY"


@pytest.mark.parametrize(("accepts", "state"), [(True, "granted"), (False, "revoked")])
def test_customer_update_legacy_accepts_marketing(accepts, state):
    event = parse(
        "customers/update",
        {
            "id": 1,
            "email": "bob@example.com",
            "accepts_marketing": accepts,
            "accepts_marketing_updated_at": "2020-01-01T00:00:00Z",
        },
    )
    [consent] = event.consents
    assert (consent.channel, consent.state, consent.source) == ("email", state, "shopify:accepts_marketing")
    assert consent.at == datetime(2020, 1, 1, tzinfo=UTC)


def test_customer_update_legacy_flag_ignored_when_consent_object_present():
    event = parse(
        "customers/update", {"id": 1, "accepts_marketing": False, "email_marketing_consent": {"state": "subscribed"}}
    )
    assert [(c.channel, c.state) for c in event.consents] == [("email", "granted")]


def test_customer_update_without_id_names_the_field():
    assert field_errors("customers/update", {"email": "bob@example.com"}) == {"id": "field required"}


def test_email_marketing_consent_topic():
    event = parse(
        "customers_email_marketing_consent/update",
        {
            "customer_id": 42,
            "email_address": "bob@example.com",
            "email_marketing_consent": {
                "state": "subscribed",
                "opt_in_level": "confirmed_opt_in",
                "consent_updated_at": "2025-01-02T03:04:05Z",
            },
        },
    )
    assert (event.contact.customer_id, event.contact.email) == ("42", "bob@example.com")
    assert [(c.channel, c.state) for c in event.consents] == [("email", "granted")]


def test_sms_marketing_consent_topic():
    event = parse(
        "customers_marketing_consent/update",
        {
            "id": 42,
            "phone": "+16136120707",
            "sms_marketing_consent": {"state": "unsubscribed", "consent_updated_at": None},
        },
    )
    assert (event.contact.customer_id, event.contact.phone) == ("42", "+16136120707")
    assert [(c.channel, c.state) for c in event.consents] == [("sms", "revoked")]


# --- privacy -------------------------------------------------------------------------------------


def test_customers_redact_erases_that_customer():
    event = parse(
        "customers/redact",
        {
            "shop_id": 954889,
            "shop_domain": "snowdevil.myshopify.com",
            "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
            "orders_to_redact": [299938, 280263, 220458],
        },
    )
    assert isinstance(event, PrivacyRequest)
    assert event.action == "erase"
    assert (event.contact.customer_id, event.contact.email, event.contact.phone) == (
        "191167",
        "john@example.com",
        "555-625-1199",
    )


def test_customers_redact_with_only_an_email():
    event = parse("customers/redact", {"shop_domain": "s.myshopify.com", "customer": {"email": "john@example.com"}})
    assert event.contact.email == "john@example.com"
    assert event.contact.customer_id is None


def test_customers_data_request_exports():
    event = parse(
        "customers/data_request",
        {
            "shop_id": 954889,
            "shop_domain": "snowdevil.myshopify.com",
            "orders_requested": [299938],
            "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
            "data_request": {"id": 9999},
        },
    )
    assert (event.action, event.contact.customer_id) == ("export", "191167")


def test_shop_redact_erases_the_shop():
    event = parse("shop/redact", {"shop_id": 954889, "shop_domain": "snowdevil.myshopify.com"})
    assert event.action == "erase_shop"


def test_customer_privacy_request_without_identifier_is_rejected():
    assert field_errors("customers/redact", {"shop_domain": "s.myshopify.com"}) == {
        "customer": "must carry an id, email or phone"
    }
