"""Shopify adapter: a webhook topic and its decoded JSON body become one canonical event.

| topic                                      | event                               |
|--------------------------------------------|-------------------------------------|
| `checkouts/create`, `checkouts/update`     | `CartEvent`                         |
| `orders/create`                            | `OrderEvent`                        |
| `customers/update`                         | `ConsentEvent`                      |
| `customers_email_marketing_consent/update` | `ConsentEvent` (email)              |
| `customers_marketing_consent/update`       | `ConsentEvent` (SMS)                |
| `customers/data_request`                   | `PrivacyRequest(action="export")`   |
| `customers/redact`                         | `PrivacyRequest(action="erase")`    |
| `shop/redact`                              | `PrivacyRequest(action="erase_shop")` |

Any other topic gives `Ignored`. The two `*_consent/update` topics matter because from API version
2025-01 Shopify no longer puts consent objects in customer payloads; they carry it instead.

Reading rules:
- Absent or null fields are fine; only checkout `token`, order `id` and the customer `id` of the
  customer topics are required, and privacy requests need some customer identifier.
- A field that is present but has the wrong shape (`total_price: "abc"`, `line_items` not a list, a
  date that is not ISO 8601) raises `PayloadError` naming the Shopify field, e.g. `total_price` or
  `line_items.0.price`; the body not being an object is reported as `body`.
- Over-long free text (titles, referrer URLs) is cut to the canonical limit; an over-long email or
  phone is dropped instead, because a shortened address would reach somebody else.
- Consent only comes from consent fields. `buyer_accepts_marketing: true` grants email;
  `false` is not an opt-out (nobody ticked a box). `buyer_accepts_sms_marketing: true` grants SMS
  only together with `sms_marketing_phone`, which then becomes the contact phone. Consent objects
  (`email_marketing_consent`, `sms_marketing_consent`): `subscribed` grants, `unsubscribed` and
  `redacted` revoke, anything else records nothing (`pending` is an unconfirmed double opt-in,
  `invalid` a bouncing address: neither is the shopper's choice). On `customers/update` without a
  consent object, the legacy `accepts_marketing` flag grants when true and revokes when false: it
  is a stored state, not a box left unticked, and a missed unsubscribe costs more than a missed
  grant.
- Checkout stage: `completed_at` or `gateway` set -> `payment`; a shipping address or chosen
  shipping line -> `shipping`; otherwise `checkout` (a Shopify checkout is past the cart page).
- `device` stays None: checkout payloads carry no device type (`device_id` is a POS register).
- The shop is not in most bodies: the API takes it from the `X-Shopify-Shop-Domain` header.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from pydantic import ValidationError

from message_templates.context_limits import MAX_CART_LINES, MAX_ITEM_TEXT_CHARS
from services.core.events import CanonicalEvent, CartEvent, Ignored, OrderEvent, PrivacyRequest
from services.ingest.platforms import ROOT, PayloadError
from services.ingest.platforms.payload_reader import Built, PayloadReader, compact, join
from services.ingest.platforms.shopify_consent import customer_consents, customer_update, email_consent, sms_consent


def _line_items(r: PayloadReader, payload: dict) -> list[dict]:
    items = []
    # Lines past the limit are dropped; total_price still holds the whole cart's value.
    for index, line in enumerate(r.array(payload, "line_items")[:MAX_CART_LINES]):
        where = join("line_items", index)
        if not isinstance(line, dict):
            r.fail(where, "must be an object")
            continue
        quantity = r.count(line, "quantity", where)
        item = {
            "title": r.text(line, "title", where, limit=MAX_ITEM_TEXT_CHARS)
            or r.text(line, "presentment_title", where, limit=MAX_ITEM_TEXT_CHARS)
            or "",
            "quantity": quantity,
            "price": r.money(line, "price", where),
            "variant_title": r.text(line, "variant_title", where, limit=MAX_ITEM_TEXT_CHARS)
            or r.text(line, "presentment_variant_title", where, limit=MAX_ITEM_TEXT_CHARS),
            "sku": r.text(line, "sku", where, limit=255),
            "product_id": r.ident(line, "product_id", where),
        }
        if quantity != 0:  # an emptied line is nothing to recover
            items.append(compact(item))
    return items


def _code(value: str | None, length: int | None) -> str | None:
    value = (value or "").strip().upper()
    return value if value and (length is None or len(value) == length) else None


def _checkout(r: PayloadReader, p: dict) -> Built:
    customer = r.obj(p, "customer")
    shipping, billing = r.obj(p, "shipping_address"), r.obj(p, "billing_address")
    updated_at = r.moment(p, "updated_at") or r.moment(p, "created_at")
    completed_at = r.moment(p, "completed_at")

    consents = customer_consents(r, customer, "customer")
    customer_sms_granted = any(c["channel"] == "sms" and c["state"] == "granted" for c in consents)
    if r.flag(p, "buyer_accepts_marketing"):
        consents.append(
            {
                "channel": "email",
                "state": "granted",
                "source": "shopify:buyer_accepts_marketing",
                "evidence": "buyer_accepts_marketing=true",
                "at": updated_at,
            }
        )
    sms_phone = r.text(p, "sms_marketing_phone", limit=40, drop_if_long=True)
    sms_ticked = bool(r.flag(p, "buyer_accepts_sms_marketing") and sms_phone)
    if sms_ticked:
        consents.append(
            {
                "channel": "sms",
                "state": "granted",
                "source": "shopify:buyer_accepts_sms_marketing",
                "evidence": "buyer_accepts_sms_marketing=true; sms_marketing_phone set",
                "at": updated_at,
            }
        )
    customer_phone = r.text(customer, "phone", "customer", limit=40, drop_if_long=True)
    # A number that consent was given for comes first, so the SMS goes where the consent applies.
    phones = [
        sms_phone if sms_ticked else None,
        customer_phone if customer_sms_granted else None,
        r.text(p, "phone", limit=40, drop_if_long=True),
        sms_phone,
        customer_phone,
        r.text(shipping, "phone", "shipping_address", limit=40, drop_if_long=True),
        r.text(billing, "phone", "billing_address", limit=40, drop_if_long=True),
    ]
    contact = {
        "customer_id": r.ident(customer, "id", "customer"),
        "email": r.text(p, "email", limit=320, drop_if_long=True)
        or r.text(customer, "email", "customer", limit=320, drop_if_long=True),
        "phone": next((phone for phone in phones if phone), None),
        "first_name": r.text(customer, "first_name", "customer", limit=200)
        or r.text(shipping, "first_name", "shipping_address", limit=200)
        or r.text(billing, "first_name", "billing_address", limit=200),
        "locale": r.text(p, "customer_locale", limit=20, drop_if_long=True),
        # Quiet hours follow the shopper's region (state law in the US): shipping, else billing address.
        "country": _code(
            r.text(shipping, "country_code", "shipping_address", limit=2, drop_if_long=True)
            or r.text(billing, "country_code", "billing_address", limit=2, drop_if_long=True),
            2,
        ),
        "province": _code(
            r.text(shipping, "province_code", "shipping_address", limit=10, drop_if_long=True)
            or r.text(billing, "province_code", "billing_address", limit=10, drop_if_long=True),
            None,
        ),
    }

    gateway, shipping_lines = r.text(p, "gateway", limit=200), r.array(p, "shipping_lines")
    if completed_at or gateway:
        stage = "payment"
    elif shipping or shipping_lines:
        stage = "shipping"
    else:
        stage = "checkout"

    token = r.ident(p, "token", required=True)
    cart_token = r.ident(p, "cart_token")
    return CartEvent, {
        "cart_id": token,
        "alt_ids": [cart_token] if cart_token and cart_token != token else [],
        "contact": compact(contact),
        "consents": [compact(c) for c in consents],
        "currency": r.currency(p, "currency") or r.currency(p, "presentment_currency"),
        "total_value": r.money(p, "total_price"),
        "items": _line_items(r, p),
        "recovery_url": r.text(p, "abandoned_checkout_url", limit=4000, drop_if_long=True),
        "stage": stage,
        "source": r.text(p, "referring_site", limit=200)
        or r.text(p, "landing_site", limit=200)
        or r.text(p, "source_name", limit=200),
        "updated_at": updated_at,
        "completed_at": completed_at,
    }


def _order(r: PayloadReader, p: dict) -> Built:
    customer = r.obj(p, "customer")
    checkout_token, cart_token = r.ident(p, "checkout_token"), r.ident(p, "cart_token")
    contact = {
        "customer_id": r.ident(customer, "id", "customer"),
        "email": r.text(p, "email", limit=320, drop_if_long=True)
        or r.text(p, "contact_email", limit=320, drop_if_long=True)
        or r.text(customer, "email", "customer", limit=320, drop_if_long=True),
        "phone": r.text(p, "phone", limit=40, drop_if_long=True)
        or r.text(customer, "phone", "customer", limit=40, drop_if_long=True),
        "first_name": r.text(customer, "first_name", "customer", limit=200),
        "locale": r.text(p, "customer_locale", limit=20, drop_if_long=True),
    }
    return OrderEvent, {
        "order_id": r.ident(p, "id", required=True),
        "cart_id": checkout_token,
        "alt_cart_ids": [cart_token] if cart_token and cart_token != checkout_token else [],
        "contact": compact(contact),
        "currency": r.currency(p, "currency"),
        "total_value": r.money(p, "total_price"),
        "placed_at": r.moment(p, "processed_at") or r.moment(p, "created_at"),
    }


def _privacy(action: str) -> Callable[[PayloadReader, dict], Built]:
    def build(r: PayloadReader, p: dict) -> Built:
        if action == "erase_shop":  # the shop comes from the X-Shopify-Shop-Domain header
            return PrivacyRequest, {"action": action}
        customer = r.obj(p, "customer")
        contact = compact(
            {
                "customer_id": r.ident(customer, "id", "customer"),
                "email": r.text(customer, "email", "customer", limit=320, drop_if_long=True),
                "phone": r.text(customer, "phone", "customer", limit=40, drop_if_long=True),
            }
        )
        if not contact and not r.errors:  # otherwise the request would silently match nobody
            r.fail("customer", "must carry an id, email or phone")
        return PrivacyRequest, {"action": action, "contact": contact}

    return build


_BUILDERS: dict[str, Callable[[PayloadReader, dict], Built]] = {
    "checkouts/create": _checkout,
    "checkouts/update": _checkout,
    "orders/create": _order,
    "customers/update": customer_update,
    "customers_email_marketing_consent/update": email_consent,
    "customers_marketing_consent/update": sms_consent,
    "customers/data_request": _privacy("export"),
    "customers/redact": _privacy("erase"),
    "shop/redact": _privacy("erase_shop"),
}
SHOPIFY_TOPICS: frozenset[str] = frozenset(_BUILDERS)


def parse(topic: str, payload: Any) -> CanonicalEvent | Ignored:
    """Turn one Shopify webhook (the `X-Shopify-Topic` header and the decoded JSON body) into a
    canonical event, `Ignored` for a topic the service does not act on, or raise `PayloadError`."""
    build = _BUILDERS.get(topic.strip())
    if build is None:
        return Ignored(topic=topic)
    if not isinstance(payload, dict):
        raise PayloadError([(ROOT, "must be a JSON object")])
    reader = PayloadReader()
    model, values = build(reader, payload)
    if reader.errors:
        raise PayloadError(reader.errors)
    try:
        return cast(CanonicalEvent | Ignored, model.model_validate(compact(values)))
    except ValidationError as exc:
        # Backstop only: the reader already enforces the canonical limits, so a failure here names
        # canonical fields rather than Shopify ones.
        raise PayloadError.from_validation_error(exc) from exc
