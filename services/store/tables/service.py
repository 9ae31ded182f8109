"""Tables of the service itself: webhook receipts, the clock's anchor, API keys and browser sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


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


class SignInFailures(SQLModel, table=True):
    """Failed key checks of one subject - a client address (`client:<address>`) or a key prefix
    (`prefix:<8 hex>`) - in the current window, and until when it is locked out."""

    __tablename__ = "sign_in_failures"

    subject: str = Field(primary_key=True, max_length=300)
    failures: int = 0
    window_start: datetime
    lockouts: int = 0  # lockouts so far in a row: each one lasts twice as long as the one before
    locked_until: datetime | None = None


class UsedSignInForm(SQLModel, table=True):
    """A sign-in form's nonce (its SHA-256), once it has been posted: each form signs in at most once."""

    __tablename__ = "used_sign_in_forms"

    nonce_hash: str = Field(primary_key=True, max_length=64)
    used_at: datetime = Field(index=True)


class EditorTestSend(SQLModel, table=True):
    """A test message sent from the template editor, by whom (`key:<id>` or `bootstrap`): the
    editor may send only so many an hour."""

    __tablename__ = "test_sends"

    id: int | None = Field(default=None, primary_key=True)
    sender: str = Field(max_length=50, index=True)
    sent_at: datetime = Field(index=True)
