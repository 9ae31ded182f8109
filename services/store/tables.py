"""SQLModel tables. Personal data lives here and only here (customers, contacts, cart items).

Money is stored in minor units (`*_cents`) so sums are exact on SQLite and PostgreSQL alike.
Times are UTC on the service clock (see services/clock.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_shop_external", "shop", "external_id"),)

    id: str = Field(primary_key=True, max_length=32)
    shop: str = Field(max_length=255)
    external_id: str | None = Field(default=None, max_length=255)
    first_name: str | None = Field(default=None, max_length=200)
    locale: str | None = Field(default=None, max_length=20)
    timezone: str | None = Field(default=None, max_length=64)
    country: str | None = Field(default=None, max_length=2)
    province: str | None = Field(default=None, max_length=10)
    created_at: datetime
    erased_at: datetime | None = None


class Contact(SQLModel, table=True):
    """One current value per customer and kind (email, phone, push_token, audience_id)."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("customer_id", "kind"),
        Index("ix_contacts_lookup", "shop", "kind", "normalized"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(foreign_key="customers.id", max_length=32)
    shop: str = Field(max_length=255)
    kind: str = Field(max_length=20)
    value: str = Field(max_length=4096)
    normalized: str = Field(max_length=4096)
    updated_at: datetime


class ConsentRecord(SQLModel, table=True):
    """Append-only ledger; the current state per channel is the latest record."""

    __tablename__ = "consent_ledger"
    __table_args__ = (Index("ix_consent_customer_channel", "customer_id", "channel", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(foreign_key="customers.id", max_length=32)
    channel: str = Field(max_length=20)
    state: str = Field(max_length=10)
    source: str = Field(max_length=100)
    evidence: str | None = Field(default=None, max_length=500)
    occurred_at: datetime
    recorded_at: datetime


class Cart(SQLModel, table=True):
    __tablename__ = "carts"
    __table_args__ = (
        UniqueConstraint("shop", "token"),
        Index("ix_carts_customer_status", "customer_id", "status"),
        Index("ix_carts_abandoned", "abandoned_at"),
    )

    id: str = Field(primary_key=True, max_length=32)  # opaque key used in workflow ids
    shop: str = Field(max_length=255)
    token: str = Field(max_length=255)
    platform: str = Field(max_length=20)
    customer_id: str | None = Field(default=None, foreign_key="customers.id", max_length=32)
    currency: str = Field(default="USD", max_length=3)
    value_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    items: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    recovery_url: str | None = Field(default=None, max_length=4000)
    stage: str = Field(default="checkout", max_length=20)
    device: str | None = Field(default=None, max_length=50)
    source: str | None = Field(default=None, max_length=200)
    version: int = 1  # bumped on every stored update; sent with cart_updated signals
    status: str = Field(default="open", max_length=20)  # open, completed, recovered, not_recovered, cancelled
    journey_state: str = Field(default="watching", max_length=20)
    holdout: bool | None = None
    created_at: datetime
    updated_at: datetime
    platform_updated_at: datetime | None = None
    abandoned_at: datetime | None = None
    closed_at: datetime | None = None


class CartAlias(SQLModel, table=True):
    """Every token an order may quote for a cart (Shopify: checkout token and cart token)."""

    __tablename__ = "cart_aliases"

    shop: str = Field(primary_key=True, max_length=255)
    token: str = Field(primary_key=True, max_length=255)
    cart_id: str = Field(foreign_key="carts.id", index=True, max_length=32)


class BehaviorSignalRow(SQLModel, table=True):
    __tablename__ = "behavior_signals"

    id: int | None = Field(default=None, primary_key=True)
    cart_id: str = Field(foreign_key="carts.id", index=True, max_length=32)
    kind: str = Field(max_length=40)
    at: datetime


class Decision(SQLModel, table=True):
    """One row per planned (or stopped) touch: what the policy saw, could do, and chose."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_cart", "cart_id", "touch"),)

    id: int | None = Field(default=None, primary_key=True)
    cart_id: str = Field(foreign_key="carts.id", max_length=32)
    touch: int
    decided_at: datetime
    policy: str = Field(max_length=50)
    stop: bool = False
    stop_reason: str | None = Field(default=None, max_length=500)
    channel: str | None = Field(default=None, max_length=20)
    send_at: datetime | None = None
    reason: str = Field(max_length=20)
    reason_confidence: float
    propensity: float
    bucket: str = Field(max_length=20)
    incentive: str | None = Field(default=None, max_length=20)
    action_propensity: float = 1.0
    allowed: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    blocked: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    explanation: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    features: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Message(SQLModel, table=True):
    """A send attempt for one touch. The idempotency key is recorded before the provider call."""

    __tablename__ = "messages"

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, max_length=300)
    cart_id: str = Field(foreign_key="carts.id", index=True, max_length=32)
    decision_id: int = Field(foreign_key="decisions.id")
    touch: int
    channel: str = Field(max_length=20)
    template: str | None = Field(default=None, max_length=200)
    status: str = Field(max_length=20)  # sending, sent, failed, skipped
    attempts: int = 0
    # set just before the provider call, cleared when the provider answered: still set on a retry
    # means an earlier attempt died mid-call and the provider may or may not have the message
    handed_over_at: datetime | None = None
    uncertain_resends: int = 0
    rendered_hash: str | None = Field(default=None, max_length=64)
    provider_result: str | None = Field(default=None, max_length=1000)
    created_at: datetime
    sent_at: datetime | None = None


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("shop", "order_id"),)

    id: int | None = Field(default=None, primary_key=True)
    shop: str = Field(max_length=255)
    order_id: str = Field(max_length=255)
    customer_id: str | None = Field(default=None, foreign_key="customers.id", max_length=32)
    cart_id: str | None = Field(default=None, foreign_key="carts.id", index=True, max_length=32)
    currency: str = Field(default="USD", max_length=3)
    value_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    placed_at: datetime
    received_at: datetime


class Outcome(SQLModel, table=True):
    __tablename__ = "outcomes"

    cart_id: str = Field(primary_key=True, foreign_key="carts.id", max_length=32)
    status: str = Field(max_length=20)  # recovered, not_recovered, completed, cancelled
    holdout: bool = False
    order_id: str | None = Field(default=None, max_length=255)
    value_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(default="USD", max_length=3)
    attributed_touch: int | None = None
    attributed_channel: str | None = Field(default=None, max_length=20)
    touches_sent: int = 0
    time_to_recovery_s: float | None = None
    reason: str | None = Field(default=None, max_length=200)
    recorded_at: datetime


class WebhookReceipt(SQLModel, table=True):
    """Dedupe of platform deliveries, written in the same transaction as what the delivery stored.
    A repeated delivery stores nothing again but re-sends `actions` (the journey signals, all
    idempotent), so a retry after a Temporal outage repairs the journeys."""

    __tablename__ = "webhook_receipts"

    id: str = Field(primary_key=True, max_length=600)  # platform:shop:delivery id
    topic: str = Field(max_length=100)
    received_at: datetime
    result: str = Field(max_length=200)
    actions: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class ServiceClock(SQLModel, table=True):
    """Anchor of the service clock shared by API processes (see services/clock.py)."""

    __tablename__ = "service_clock"

    id: int = Field(default=1, primary_key=True)
    anchor_real: float
    anchor_virtual: float
    scale: float
