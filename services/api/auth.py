"""Who may call what. Roles, from most to least power: admin (everything, API keys), editor
(templates), viewer (reports and cart journeys). A role includes the ones below it.

Credentials
- API calls send `Authorization: Bearer <key>`: a key made with `POST /v1/keys` or
  `cartrecovery keys create` (stored as a SHA-256 hash, see services/store/api_keys.py), or the
  bootstrap key `CR_ADMIN_API_KEY`, which is always admin. A request that sends an Authorization
  header is judged by it alone, never by a cookie beside it.
- Browsers sign in at `/login` with a key and get the cookie `cr_session`: a random token plus an
  HMAC of it under the settings' signing key (HttpOnly, SameSite=Lax, Secure when CR_PUBLIC_URL is
  https, 8 hours). The server keeps only the token's SHA-256 in `web_sessions`, with the key it was
  signed in with; every request re-reads the row and the key, so logout, expiry and revoking the
  key end the session at once. Bootstrap-key sessions end when CR_ADMIN_API_KEY changes.

CSRF: services/api/sessions.py.
"""

from __future__ import annotations

import hmac
import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.api.deps import EngineDep, SettingsDep
from services.api.sessions import (
    SAFE_METHODS,
    bootstrap_fingerprint,
    check_csrf,
    session_token,
)
from services.core.settings import Settings
from services.store.api_keys import ROLES, find_active_key, find_live_session, now_utc, touch_key
from services.store.sign_in_guard import clear, locked_for, record_failure
from services.store.tables import ApiKey

BOOTSTRAP_NAME = "bootstrap admin key"


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    key_id: int | None = None  # None: the bootstrap key
    via: str = "bearer"  # "bearer" or "session"

    def has(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def principal_for_key(session: Session, settings: Settings, key: str) -> Principal | None:
    """The principal a plain-text key stands for, or None when it is unknown or revoked."""
    key = key.strip()
    if settings.admin_api_key and hmac.compare_digest(key.encode(), settings.admin_api_key.encode()):
        return Principal(BOOTSTRAP_NAME, "admin")
    row = find_active_key(session, key)
    if row is None:
        return None
    touch_key(session, row, now_utc())
    session.commit()
    return Principal(row.name, row.role, row.id)


# --- brute force -----------------------------------------------------------------------------------
# A client address, or a key prefix (`cr_<8 hex>_...`), with FAILURES_BEFORE_LOCKOUT failed checks
# within FAILURE_WINDOW is locked out for LOCKOUT, twice as long each time after, up to
# LONGEST_LOCKOUT; while locked out no key is checked for it at all, the right one included.
FAILURES_BEFORE_LOCKOUT = 10
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=1)
LONGEST_LOCKOUT = timedelta(hours=1)
_KEY_PREFIX = re.compile(r"cr_([0-9a-f]{8})_")


def key_subjects(request: Request, key: str) -> list[str]:
    """Who a key check counts against: the client's address, and the key's prefix when it has one."""
    subjects = [f"client:{request.client.host if request.client else 'unknown'}"]
    if (prefix := _KEY_PREFIX.match(key.strip())) is not None:
        subjects.append(f"prefix:{prefix.group(1)}")
    return subjects


def guarded_principal(
    session: Session, settings: Settings, subjects: list[str], key: str
) -> tuple[Principal | None, float]:
    """(principal, 0) after a check; (None, seconds to wait) while a subject is locked out."""
    now = now_utc()
    wait = locked_for(session, subjects, now)
    if wait > 0:
        return None, wait
    principal = principal_for_key(session, settings, key)
    if principal is None:
        record_failure(
            session,
            subjects,
            now,
            threshold=FAILURES_BEFORE_LOCKOUT,
            window=FAILURE_WINDOW,
            lockout=LOCKOUT,
            longest=LONGEST_LOCKOUT,
        )
    else:
        clear(session, subjects)
    session.commit()
    return principal, 0.0


def too_many_attempts(wait: float) -> HTTPException:
    seconds = max(1, math.ceil(wait))
    return HTTPException(
        429,
        f"too many failed key checks from here or for this key; try again in {seconds} s",
        headers={"Retry-After": str(seconds)},
    )


# --- the session cookie ------------------------------------------------------------------------


def principal_for_session(engine: Engine, settings: Settings, token: str) -> Principal | None:
    with Session(engine) as session:
        web = find_live_session(session, token)
        if web is None:
            return None
        if web.key_id is None:
            current = bootstrap_fingerprint(settings)
            if current is None or not hmac.compare_digest(current, web.bootstrap_fingerprint or ""):
                return None
            return Principal(BOOTSTRAP_NAME, "admin", None, "session")
        key = session.get(ApiKey, web.key_id)
        if key is None or key.revoked_at is not None:
            return None
        return Principal(key.name, key.role, key.id, "session")


# --- dependencies ------------------------------------------------------------------------------


async def authenticate(
    request: Request, settings: SettingsDep, engine: EngineDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    if authorization is not None:
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise HTTPException(
                401, "missing API key: send 'Authorization: Bearer <key>'", headers={"WWW-Authenticate": "Bearer"}
            )

        def check() -> tuple[Principal | None, float]:
            with Session(engine) as session:
                return guarded_principal(session, settings, key_subjects(request, key), key)

        principal, wait = await run_in_threadpool(check)
        if wait > 0:
            raise too_many_attempts(wait)
        if principal is None:
            raise HTTPException(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    else:
        token = session_token(request)
        if token is None:
            raise HTTPException(
                401,
                "missing API key: send 'Authorization: Bearer <key>' or sign in at /login",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = await run_in_threadpool(principal_for_session, engine, settings, token)
        if principal is None:
            raise HTTPException(
                401, "your session has ended: sign in again at /login", headers={"WWW-Authenticate": "Bearer"}
            )
        if request.method not in SAFE_METHODS:
            await check_csrf(request, token)
    request.state.principal = principal
    return principal


def forbidden_message(principal: Principal, role: str) -> str:
    return f"this needs the {role} role; your key has {principal.role}"


def require_role(role: str):
    """Dependency for API routes: 401 without valid credentials, 403 below `role`."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.has(role):
            raise HTTPException(403, forbidden_message(principal, role))
        return principal

    dependency.required_role = role  # type: ignore[attr-defined]  # read by the tests that check every route's role
    return dependency


AdminDep = Depends(require_role("admin"))
EditorDep = Depends(require_role("editor"))
ViewerDep = Depends(require_role("viewer"))
