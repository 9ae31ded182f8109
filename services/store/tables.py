"""SQLModel tables. Personal data lives here and only here (customers, contacts, cart items).

Money is stored in minor units (`*_cents`) so sums are exact on SQLite and PostgreSQL alike.
Times are UTC on the service clock (see services/core/clock.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, UniqueConstraint, text
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
        Index("ix_carts_report_scope", "shop", "abandoned_at", "holdout", "platform", "currency", "reason", "bucket", "id"),
        Index(
            "ix_carts_report_groups", "holdout", "platform", "currency", "reason", "bucket",
            text("substr(abandoned_at, 1, 10)"), "abandoned_at", "shop", "id",
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
    feature_row: str | None = None  # `features` flat, for fast loading (services/store/frames/feature_rows.py)
    # the bandit's view (channel_models.actions): the chosen action's index (null for a stop or a
    # policy that names none), every index the masks allowed, and the model version ids behind
    # the choice (kind -> model_versions.id)
    action: int | None = None
    # (server defaults: bulk loaders such as bench/report_data.py insert without these columns)
    allowed_actions: list[int] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default=text("'[]'"))
    )
    model_versions: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default=text("'{}'")))
    # with a learned policy deciding: the action the rule prior would have taken (its shadow), so
    # retraining can tell when the policy fell below the rules (channel_models.learning.policy_training)
    rule_action: int | None = None


class Message(SQLModel, table=True):
    """A send attempt for one touch. The idempotency key is recorded before the provider call."""

    __tablename__ = "messages"
    __table_args__ = (
        # recovery report: messages sent by channel / touch / template in one ordered pass, and the
        # message of an attributed touch by (cart, touch)
        Index("ix_messages_report", "channel", "touch", "template", "status", "cart_id"),
        Index("ix_messages_cart_touch", "cart_id", "touch", "status", "channel", "template"),
    )

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, max_length=300)
    cart_id: str = Field(foreign_key="carts.id", index=True, max_length=32)
    decision_id: int = Field(foreign_key="decisions.id")
    touch: int
    channel: str = Field(max_length=20)
    template: str | None = Field(default=None, max_length=200)  # e.g. "email/price@v3/A"; packaged: "email/price"
    template_id: int | None = Field(default=None, foreign_key="message_templates.id", index=True)
    variant: str | None = Field(default=None, max_length=10)
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
    clicked_at: datetime | None = None  # first click on the message's tracked link (services/messaging/click_links.py)


class MessageTemplate(SQLModel, table=True):
    """One immutable version of an editable template. Saving makes a new row; at most one version
    per (channel, reason, locale, variant) is active, so a rollback is a new version too."""

    __tablename__ = "message_templates"
    __table_args__ = (
        UniqueConstraint("channel", "reason", "locale", "variant", "version"),
        Index("ix_message_templates_status", "channel", "reason", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=20)
    reason: str = Field(max_length=40)
    locale: str = Field(default="en", max_length=20)
    variant: str = Field(default="A", max_length=10)
    version: int
    # template name -> source, the keys TemplateRenderer.render_source takes ("email/price.html")
    sources: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(max_length=10)  # active, draft, archived
    author: str = Field(max_length=200)
    created_at: datetime
    note: str = Field(default="", max_length=500)


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
    )

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


class ReasonLabel(SQLModel, table=True):
    """A known abandonment reason, for the reason classifier: the shopper's survey answer, or the
    reason of the reason-specific message that recovered the cart. At most one of each per cart
    (a second survey answer replaces the first); a survey answer outranks a recovery."""

    __tablename__ = "reason_labels"
    __table_args__ = (UniqueConstraint("cart_id", "source"),)

    id: int | None = Field(default=None, primary_key=True)
    cart_id: str = Field(foreign_key="carts.id", max_length=32)
    reason: str = Field(max_length=20)
    source: str = Field(max_length=20)  # survey, recovered_message
    recorded_at: datetime


class ModelVersion(SQLModel, table=True):
    """One trained (or failed) model of a kind (reason, propensity, policy). At most one version
    per kind is active; promoting one retires the previous (services/store/model_versions.py)."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("kind", "version"),
        Index("ix_model_versions_kind_status", "kind", "status"),
        Index(
            "ux_model_versions_one_active", "kind", unique=True,
            sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    version: int  # 1, 2, ... per kind, failed attempts included
    status: str = Field(max_length=10)  # active, retired, rejected, failed
    created_at: datetime
    data_from: datetime | None = None
    data_to: datetime | None = None
    eval_from: datetime | None = None
    eval_to: datetime | None = None
    rows_train: int = 0
    rows_eval: int = 0
    library_versions: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    metrics: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    params: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    artifact: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    artifact_hmac: str | None = Field(default=None, max_length=64)
    promoted_at: datetime | None = None
    note: str = Field(default="", max_length=2000)


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
    """Anchor of the service clock shared by API processes (see services/core/clock.py)."""

    __tablename__ = "service_clock"

    id: int = Field(default=1, primary_key=True)
    anchor_real: float
    anchor_virtual: float
    scale: float


class ApiKey(SQLModel, table=True):
    """A key for the API and the web pages. Only the SHA-256 of the key is kept: keys are 32 random
    bytes, not passwords, so a fast hash cannot be brute-forced and bcrypt/argon2 would only add
    latency to every request."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    role: str = Field(max_length=10)  # viewer, editor, admin
    key_hash: str = Field(unique=True, max_length=64)
    prefix: str = Field(max_length=8)  # shown in lists so people can tell keys apart
    created_at: datetime
    created_by: str = Field(max_length=200)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class WebSession(SQLModel, table=True):
    """A browser sign-in. `id` is the SHA-256 of the cookie's token, so a database read does not
    give anyone a usable cookie. Sessions of the bootstrap key have no key_id and are tied to a
    fingerprint of CR_ADMIN_API_KEY, so changing that setting ends them."""

    __tablename__ = "web_sessions"

    id: str = Field(primary_key=True, max_length=64)
    key_id: int | None = Field(default=None, foreign_key="api_keys.id", index=True)
    bootstrap_fingerprint: str | None = Field(default=None, max_length=64)
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
