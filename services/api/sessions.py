"""Browser sessions and CSRF: the cookie a signed-in browser carries, and the token every unsafe
cookie request must send with it (see services/api/auth.py for who may call what).

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

from fastapi import HTTPException, Request, Response

from services.core.settings import Settings
from services.core.signing import mac, same_signature
from services.store.api_keys import SESSION_LIFETIME

SESSION_COOKIE = "cr_session"
LOGIN_COOKIE = "cr_login"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _mac(settings: Settings, purpose: str, value: str) -> str:
    return mac(settings.signing_key(), f"{purpose}|{value}".encode()).hex()


def bootstrap_fingerprint(settings: Settings) -> str | None:
    """Identifies CR_ADMIN_API_KEY in a session row without storing the key or a plain hash of it."""
    return _mac(settings, "bootstrap", settings.admin_api_key) if settings.admin_api_key else None


def session_token(request: Request) -> str | None:
    """The session token from a cookie whose signature holds, else None (no database read)."""
    token, _, signature = (request.cookies.get(SESSION_COOKIE) or "").partition(".")
    settings: Settings = request.app.state.settings
    if not token or not same_signature(signature, _mac(settings, "session", token)):
        return None
    return token


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        f"{token}.{_mac(settings, 'session', token)}",
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.public_url.startswith("https://"),
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.public_url.startswith("https://")
    )


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


async def check_csrf(request: Request, token: str) -> None:
    expected = _mac(request.app.state.settings, "csrf", token)
    if not same_signature(await sent_csrf_token(request), expected):
        raise HTTPException(403, "CSRF token missing or wrong: reload the page and submit the form again")


async def verify_csrf(request: Request) -> None:
    """Dependency: reject an unsafe cookie-authenticated request without the session's CSRF token."""
    if request.method in SAFE_METHODS or "authorization" in request.headers:
        return
    token = session_token(request)
    if token is None:
        raise HTTPException(403, "CSRF check failed: not signed in; sign in at /login")
    await check_csrf(request, token)
