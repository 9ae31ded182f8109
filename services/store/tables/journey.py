"""Tables of the journeys' decisions and messages, the templates they used, and the models behind them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint, text
from sqlmodel import Field, SQLModel


class Decision(SQLModel, table=True):
    """One row per planned (or stopped) touch: what the policy saw, could do, and chose."""

    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_cart", "cart_id", "touch"),
        # recovery report: which policies planned the touches, counted in one pass over this index
        Index("ix_decisions_policy", "policy", "stop"),
    )

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
    model_versions: dict = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default=text("'{}'"))
    )
    # with a learned policy deciding: the action the rule prior would have taken (its shadow), so
    # retraining can tell when the policy fell below the rules (channel_models.learning.training.policy)
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
    status: str = Field(max_length=20)  # sending, sent, unconfirmed (the provider call failed), failed, skipped
    attempts: int = 0
    # set just before the provider call, cleared when the provider answered: still set on a retry
    # means an earlier attempt died mid-call and the provider may or may not have the message
    handed_over_at: datetime | None = None
    uncertain_resends: int = 0
    rendered_hash: str | None = Field(default=None, max_length=64)
    provider_result: str | None = Field(default=None, max_length=1000)
    created_at: datetime
    sent_at: datetime | None = None
    # service-clock seconds between the decision's planned send time and the provider call
    late_seconds: float | None = None
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


class ReasonLabel(SQLModel, table=True):
    """A known abandonment reason, for the reason classifier: the shopper's survey answer, or the
    reason of the reason-specific message that recovered the cart. At most one of each per cart
    (a second survey answer replaces the first); a survey answer outranks a recovery."""

    __tablename__ = "reason_labels"
    __table_args__ = (UniqueConstraint("cart_id", "source"),)

    id: int | None = Field(default=None, primary_key=True)
    cart_id: str = Field(foreign_key="carts.id", max_length=32)
    reason: str = Field(max_length=20)
    source: str = Field(max_length=20)  # survey (recovered_message: written by versions before 2026-12-07, not read)
    recorded_at: datetime


class ModelVersion(SQLModel, table=True):
    """One trained (or failed) model of a kind (reason, propensity, policy). At most one version
    per kind is active; promoting one retires the previous (services/store/model_versions.py)."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("kind", "version"),
        Index("ix_model_versions_kind_status", "kind", "status"),
        Index(
            "ux_model_versions_one_active",
            "kind",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
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
