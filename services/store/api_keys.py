"""API keys and the browser sessions signed in with them. Only hashes are stored.

Times here are real UTC wall-clock time, not the service clock: a session lasts 8 real hours even
when the journeys' clock runs 600x faster for a demo.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from services.core.clock import utc
from services.store.tables import ApiKey, WebSession

ROLES = ("viewer", "editor", "admin")
KEY_PREFIX = "cr_"
SESSION_LIFETIME = timedelta(hours=8)


def now_utc() -> datetime:
    return datetime.now(UTC)


def hash_secret(value: str) -> str:
    """SHA-256 hex. Enough for keys and session tokens: both are 32 random bytes, so there is no
    guessable space to brute-force, and a slow password hash would only slow every request."""
    return hashlib.sha256(value.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """(key, prefix): `cr_<8 hex>_<43 url-safe chars>`; the prefix tells keys apart in lists."""
    prefix = secrets.token_hex(4)
    return f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix


def create_key(session: Session, name: str, role: str, created_by: str) -> tuple[ApiKey, str]:
    """Store a new key and return it with its plain text, which is never stored or shown again."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    key, prefix = new_key()
    row = ApiKey(
        name=name, role=role, key_hash=hash_secret(key), prefix=prefix, created_at=now_utc(), created_by=created_by
    )
    session.add(row)
    session.flush()
    return row, key


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).order_by(ApiKey.id)))


def find_active_key(session: Session, key: str) -> ApiKey | None:
    """The unrevoked key with this plain text. Looking up by hash leaks nothing through timing:
    an attacker would need a SHA-256 preimage to steer the comparison."""
    if not key.startswith(KEY_PREFIX):
        return None
    row = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_secret(key))).first()
    return row if row is not None and row.revoked_at is None else None


def touch_key(session: Session, row: ApiKey, at: datetime) -> None:
    """Record use, at most once a minute per key so reads do not all turn into writes."""
    last = utc(row.last_used_at)
    if last is None or at - last > timedelta(minutes=1):
        row.last_used_at = at
        session.add(row)


def revoke_key(session: Session, key_id: int) -> ApiKey | None:
    """Revoke a key and end every browser session signed in with it. Idempotent."""
    row = session.get(ApiKey, key_id)
    if row is None:
        return None
    at = now_utc()
    if row.revoked_at is None:
        row.revoked_at = at
        session.add(row)
    for web in session.exec(select(WebSession).where(WebSession.key_id == key_id, WebSession.revoked_at == None)):  # noqa: E711
        web.revoked_at = at
        session.add(web)
    return row


def start_session(session: Session, *, key_id: int | None, bootstrap_fingerprint: str | None) -> tuple[str, WebSession]:
    """A new browser session; returns the token for the cookie (the row keeps only its hash)."""
    token = secrets.token_urlsafe(32)
    at = now_utc()
    row = WebSession(
        id=hash_secret(token),
        key_id=key_id,
        bootstrap_fingerprint=bootstrap_fingerprint,
        created_at=at,
        expires_at=at + SESSION_LIFETIME,
    )
    session.add(row)
    return token, row


def find_live_session(session: Session, token: str) -> WebSession | None:
    row = session.get(WebSession, hash_secret(token))
    if row is None or row.revoked_at is not None or utc(row.expires_at) <= now_utc():
        return None
    return row


def end_session(session: Session, token: str) -> None:
    row = session.get(WebSession, hash_secret(token))
    if row is not None and row.revoked_at is None:
        row.revoked_at = now_utc()
        session.add(row)
