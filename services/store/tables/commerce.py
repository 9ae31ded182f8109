"""What shops send: customers, their contacts and consent, carts, behaviour, orders and outcomes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint, text
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
        # Recovery report (services/reports): narrow copies of each cart's report columns - by id
        # for the joins from outcomes and messages, by shop and time for a shop's report - and, on
        # SQLite (which groups by sorting unless an index gives the order), one in the report's
        # grouping order, day included, so a million carts are counted in one pass over it
        Index("ix_carts_report_join", "id", "abandoned_at", "shop", "holdout", "platform", "reason", "bucket"),
        Index(
            "ix_carts_report_scope", "shop", "abandoned_at", "holdout", "platform", "currency", "reason", "bucket", "id"
        ),
        Index(
            "ix_carts_report_groups",
            "holdout",
            "platform",
            "currency",
            "reason",
            "bucket",
            text("substr(abandoned_at, 1, 10)"),
            "abandoned_at",
            "shop",
            "id",
        ).ddl_if(dialect="sqlite"),
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
    # for reports: the planner's reason and score bucket from the cart's first decision, replaced
    # by those of the attributed touch's decision when the outcome is recorded
    reason: str | None = Field(default=None, max_length=20)
    bucket: str | None = Field(default=None, max_length=20)
    created_at: datetime
    updated_at: datetime
    platform_updated_at: datetime | None = None
    abandoned_at: datetime | None = None
    closed_at: datetime | None = None
    # features.snapshot of the context the first touch is planned in, taken at abandonment for
    # every cart (holdout carts have no decision): the propensity model's training rows
    features: dict | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    feature_row: str | None = None  # the same snapshot flat, for fast loading (services/store/frames/feature_rows.py)


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


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    # by customer: the planner's customer history (orders, spend, recency) on every touch
    __table_args__ = (UniqueConstraint("shop", "order_id"), Index("ix_orders_customer", "customer_id", "placed_at"))

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
    __table_args__ = (
        # recovery report: the recovered carts with everything the report sums, without the table
        Index("ix_outcomes_report", "status", "cart_id", "attributed_touch", "value_cents", "time_to_recovery_s"),
        # what incentives cost: only the few recoveries with a code, without the table
        Index("ix_outcomes_incentive", "attributed_incentive", "status", "attributed_touch", "value_cents", "cart_id"),
    )

    cart_id: str = Field(primary_key=True, foreign_key="carts.id", max_length=32)
    status: str = Field(max_length=20)  # recovered, not_recovered, completed, cancelled
    holdout: bool = False
    order_id: str | None = Field(default=None, max_length=255)
    value_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(default="USD", max_length=3)
    attributed_touch: int | None = None
    attributed_channel: str | None = Field(default=None, max_length=20)
    attributed_incentive: str | None = Field(default=None, max_length=20)  # the recovering touch's code, if any
    touches_sent: int = 0
    time_to_recovery_s: float | None = None
    reason: str | None = Field(default=None, max_length=200)
    recorded_at: datetime
