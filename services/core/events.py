"""Canonical events: what every platform adapter turns its own payload into.

These models are also the body of `POST /webhooks/generic` (discriminated on `type`), so their field
descriptions are the public schema in the OpenAPI document.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from message_templates.context_limits import MAX_CART_LINES, MAX_IMAGE_URL_CHARS, MAX_ITEM_TEXT_CHARS
from services.core.bounds import SHOP_PATTERN, Moment

Stage = Literal["cart", "checkout", "shipping", "payment"]
ConsentChannel = Literal["email", "sms", "push", "retargeting"]
ConsentState = Literal["granted", "revoked"]
SignalKind = Literal[
    "shipping_page_view",
    "price_sort",
    "discount_filter",
    "add_remove",
    "comparison_view",
    "payment_failed",
    "slow_page",
    "coupon_attempt",
    "product_view",
]

Token = Annotated[str, Field(min_length=1, max_length=255)]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class LineItem(_Event):
    title: str = Field(max_length=MAX_ITEM_TEXT_CHARS)
    quantity: int = Field(1, ge=1, le=100_000)
    price: Money = Decimal("0")
    variant_title: str | None = Field(None, max_length=MAX_ITEM_TEXT_CHARS)
    sku: str | None = Field(None, max_length=255)
    product_id: str | None = Field(None, max_length=255)
    image_url: str | None = Field(None, max_length=MAX_IMAGE_URL_CHARS)


class ConsentChange(_Event):
    channel: ConsentChannel
    state: ConsentState
    source: str = Field(
        "platform", max_length=100, description="Where the consent came from, e.g. checkout field name."
    )
    evidence: str | None = Field(None, max_length=500, description="What proves it: a field value, a form id, a link.")
    at: Moment | None = None


class Contact(_Event):
    """Who the shopper is and how they can be reached. Everything here is personal data: it goes to
    the database only, never to Temporal."""

    customer_id: str | None = Field(None, max_length=255, description="The platform's customer id, if known.")
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=40)
    first_name: str | None = Field(None, max_length=200)
    locale: str | None = Field(None, max_length=20)
    timezone: str | None = Field(None, max_length=64, description="IANA zone, e.g. Europe/Paris.")
    country: str | None = Field(None, min_length=2, max_length=2, description="ISO 3166-1 alpha-2, for regional rules.")
    province: str | None = Field(None, max_length=10, description="Subdivision code without country, e.g. FL.")
    push_token: str | None = Field(None, max_length=4096)
    audience_id: str | None = Field(None, max_length=255, description="Ad-platform audience identifier.")


class CartEvent(_Event):
    """A cart or checkout was created or changed: starts or updates its recovery journey."""

    type: Literal["cart"] = "cart"
    cart_id: Token = Field(description="The platform's cart/checkout token; the journey key.")
    contact: Contact = Field(default_factory=Contact)
    consents: list[ConsentChange] = Field(default_factory=list)
    currency: str = Field("USD", min_length=3, max_length=3)
    total_value: Money = Decimal("0")
    items: list[LineItem] = Field(default_factory=list, max_length=MAX_CART_LINES)
    recovery_url: str | None = Field(None, max_length=4000)
    stage: Stage = "checkout"
    device: str | None = Field(None, max_length=50)
    source: str | None = Field(None, max_length=200, description="Traffic source / referrer.")
    updated_at: Moment | None = None
    completed_at: Moment | None = Field(None, description="Set when the checkout became an order.")
    alt_ids: list[str] = Field(default_factory=list, description="Other tokens an order may carry for this cart.")

    @field_validator("currency")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()


class OrderEvent(_Event):
    """An order was placed: converts the matching cart's journey."""

    type: Literal["order"] = "order"
    order_id: Token
    cart_id: str | None = Field(None, max_length=255, description="Cart/checkout token the order came from, if known.")
    alt_cart_ids: list[str] = Field(default_factory=list)
    contact: Contact = Field(default_factory=Contact)
    currency: str = Field("USD", min_length=3, max_length=3)
    total_value: Money = Decimal("0")
    placed_at: Moment | None = None


class ConsentEvent(_Event):
    """Consent or contact details changed outside a cart (account page, preference centre, app)."""

    type: Literal["consent"] = "consent"
    contact: Contact
    consents: list[ConsentChange] = Field(default_factory=list)


class BehaviorSignal(_Event):
    """Something the shopper did that hints at why they hesitate."""

    type: Literal["signal"] = "signal"
    cart_id: Token
    kind: SignalKind
    at: Moment | None = None


class PrivacyRequest(_Event):
    """GDPR/CCPA request: export what we hold, or erase it."""

    type: Literal["privacy"] = "privacy"
    action: Literal["export", "erase", "erase_shop"]
    contact: Contact = Field(default_factory=Contact)


class SmsReply(_Event):
    """A text message a shopper sent back (relay your SMS provider's inbound webhook here).
    Opt-out keywords (STOP, STOPALL, END, QUIT, CANCEL, UNSUBSCRIBE, REVOKE, OPT OUT; any case,
    surrounding punctuation ignored) revoke SMS consent for that number before the next send."""

    type: Literal["sms_reply"] = "sms_reply"
    phone: str = Field(min_length=3, max_length=40, description="The sender's number.")
    text: str = Field(max_length=2000)


GenericEvent = Annotated[
    CartEvent | OrderEvent | ConsentEvent | BehaviorSignal | PrivacyRequest | SmsReply,
    Field(discriminator="type"),
]


class GenericWebhook(BaseModel):
    """Body of `POST /webhooks/generic`."""

    model_config = ConfigDict(extra="forbid")

    id: Token = Field(description="Unique id of this delivery; a repeat with the same id is ignored.")
    shop: str = Field("default", pattern=SHOP_PATTERN)
    event: GenericEvent


class Ignored(BaseModel):
    """An adapter's answer for a topic the service does not act on."""

    topic: str


CanonicalEvent = CartEvent | OrderEvent | ConsentEvent | BehaviorSignal | PrivacyRequest | SmsReply
