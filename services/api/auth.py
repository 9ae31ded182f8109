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

CSRF
- A cookie is sent by the browser on its own, so every cookie-authenticated POST/PUT/PATCH/DELETE
  must also carry the session's CSRF token, in the form field `csrf_token` or the header
  `X-CSRF-Token`. The token is HMAC(signing key, "csrf|" + session id): per session, nothing to
  store, and useless to another session. `authenticate` checks it for every unsafe cookie request,
  so every route behind `require_role` / `require_page_role` is covered; `verify_csrf` is the same
  check as a dependency for routes with no role. Pages put `csrf_token(request)` (in templates:
  `{{ csrf_token }}`, see services/api/pages/__init__.py) into every form. Bearer requests are exempt: no
  browser attaches an Authorization header by itself.
- The sign-in form has no session yet: it is protected by a double-submit nonce in the short-lived
  cookie `cr_login` (SameSite=Strict) whose HMAC the form carries, so another site cannot sign a
  visitor in with the attacker's key.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Header, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from services.api.deps import EngineDep, SettingsDep
from services.core.settings import Settings
from services.store.api_keys import ROLES, SESSION_LIFETIME, find_active_key, find_live_session, now_utc, touch_key
from services.store.tables import ApiKey

SESSION_COOKIE = "cr_session"
LOGIN_COOKIE = "cr_login"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BOOTSTRAP_NAME = "bootstrap admin key"


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    key_id: int | None = None  # None: the bootstrap key
    via: str = "bearer"  # "bearer" or "session"

    def has(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def _mac(settings: Settings, purpose: str, value: str) -> str:
    return hmac.new(settings.signing_key(), f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()


def bootstrap_fingerprint(settings: Settings) -> str | None:
    """Identifies CR_ADMIN_API_KEY in a session row without storing the key or a plain hash of it."""
    return _mac(settings, "bootstrap", settings.admin_api_key) if settings.admin_api_key else None


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


# --- the session cookie ------------------------------------------------------------------------


def session_token(request: Request) -> str | None:
    """The session token from a cookie whose signature holds, else None (no database read)."""
    token, _, signature = (request.cookies.get(SESSION_COOKIE) or "").partition(".")
    settings: Settings = request.app.state.settings
    if not token or not hmac.compare_digest(signature.encode(), _mac(settings, "session", token).encode()):
        return None
    return token


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, f"{token}.{_mac(settings, 'session', token)}", max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/", httponly=True, samesite="lax", secure=settings.public_url.startswith("https://"),
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.public_url.startswith("https://"))


def principal_for_session(engine, settings: Settings, token: str) -> Principal | None:
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


# --- CSRF --------------------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """The CSRF token for forms on this page: empty when the browser is not signed in."""
    token = session_token(request)
    return _mac(request.app.state.settings, "csrf", token) if token else ""


def login_csrf_token(settings: Settings, nonce: str) -> str:
    return _mac(settings, "login-csrf", nonce)


async def sent_csrf_token(request: Request) -> str:
    """The token a request carries: the X-CSRF-Token header, else the form field csrf_token."""
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        try:
            value = (await request.form()).get("csrf_token")
        except Exception:  # noqa: BLE001 - an unreadable form carries no token
            return ""
        return value if isinstance(value, str) else ""
    return ""


async def _check_csrf(request: Request, token: str) -> None:
    expected = _mac(request.app.state.settings, "csrf", token)
    if not hmac.compare_digest((await sent_csrf_token(request)).encode(), expected.encode()):
        raise HTTPException(403, "CSRF token missing or wrong: reload the page and submit the form again")


async def verify_csrf(request: Request) -> None:
    """Dependency: reject an unsafe cookie-authenticated request without the session's CSRF token."""
    if request.method in SAFE_METHODS or "authorization" in request.headers:
        return
    token = session_token(request)
    if token is None:
        raise HTTPException(403, "CSRF check failed: not signed in; sign in at /login")
    await _check_csrf(request, token)


# --- dependencies ------------------------------------------------------------------------------


async def authenticate(
    request: Request, settings: SettingsDep, engine: EngineDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    if authorization is not None:
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>'", headers={"WWW-Authenticate": "Bearer"})

        def check() -> Principal | None:
            with Session(engine) as session:
                return principal_for_key(session, settings, key)

        principal = await run_in_threadpool(check)
        if principal is None:
            raise HTTPException(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    else:
        token = session_token(request)
        if token is None:
            raise HTTPException(
                401, "missing API key: send 'Authorization: Bearer <key>' or sign in at /login",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = await run_in_threadpool(principal_for_session, engine, settings, token)
        if principal is None:
            raise HTTPException(401, "your session has ended: sign in again at /login", headers={"WWW-Authenticate": "Bearer"})
        if request.method not in SAFE_METHODS:
            await _check_csrf(request, token)
    request.state.principal = principal
    return principal


def _forbidden(principal: Principal, role: str) -> str:
    return f"this needs the {role} role; your key has {principal.role}"


def require_role(role: str):
    """Dependency for API routes: 401 without valid credentials, 403 below `role`."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.has(role):
            raise HTTPException(403, _forbidden(principal, role))
        return principal

    dependency.required_role = role  # read by the tests that check every route's role
    return dependency


class PageAccessDenied(Exception):
    """Raised by page dependencies; the app turns it into `response` (see page_access_denied)."""

    def __init__(self, response: Response):
        self.response = response


async def page_access_denied(_request: Request, exc: PageAccessDenied) -> Response:
    return exc.response


def safe_next(target: str | None, default: str = "/dashboard") -> str:
    """Only same-site paths: `next` must not send a signed-in user to another site."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or any(c in target for c in "\r\n"):
        return default
    return target


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return not accept or "text/html" in accept or "*/*" in accept


def _forbidden_page(request: Request, message: str) -> Response:
    from services.api.pages import render_page  # pages imports auth at render time; keep the cycle lazy

    return render_page(request, "forbidden.html", status_code=403, message=message)


def require_page_role(role: str):
    """Dependency for HTML pages: a browser that is not signed in is sent to /login?next=<this
    page>; a signed-in user below `role` gets a 403 page. Unsafe methods need the CSRF token."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    async def dependency(
        request: Request, settings: SettingsDep, engine: EngineDep, authorization: Annotated[str | None, Header()] = None
    ) -> Principal:
        try:
            principal = await authenticate(request, settings, engine, authorization)
        except HTTPException as err:
            if err.status_code == 401 and _wants_html(request):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                if request.method not in SAFE_METHODS:
                    target = request.headers.get("referer", "") or "/dashboard"
                    target = safe_next(target.removeprefix(str(request.base_url).rstrip("/")))
                raise PageAccessDenied(RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)) from None
            if err.status_code == 403:
                raise PageAccessDenied(_forbidden_page(request, err.detail)) from None
            raise
        if not principal.has(role):
            raise PageAccessDenied(_forbidden_page(request, _forbidden(principal, role)))
        return principal

    dependency.required_role, dependency.page = role, True
    return dependency


AdminDep = Depends(require_role("admin"))
EditorDep = Depends(require_role("editor"))
ViewerDep = Depends(require_role("viewer"))
AdminPageDep = Depends(require_page_role("admin"))
EditorPageDep = Depends(require_page_role("editor"))
ViewerPageDep = Depends(require_page_role("viewer"))
