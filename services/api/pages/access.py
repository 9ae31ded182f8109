"""Who may see a page: a browser that is not signed in is sent to /login, one below the page's
role gets a 403 page (services/api/auth.py decides the principal and its role)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Header, HTTPException, Request, Response
from fastapi.responses import RedirectResponse

from services.api.auth import Principal, authenticate, forbidden_message
from services.api.deps import EngineDep, SettingsDep
from services.api.pages import render_page
from services.api.sessions import (
    SAFE_METHODS,
)
from services.store.api_keys import ROLES


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
    return render_page(request, "forbidden.html", status_code=403, message=message)


def require_page_role(role: str):
    """Dependency for HTML pages: a browser that is not signed in is sent to /login?next=<this
    page>; a signed-in user below `role` gets a 403 page. Unsafe methods need the CSRF token."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    async def dependency(
        request: Request,
        settings: SettingsDep,
        engine: EngineDep,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Principal:
        try:
            principal = await authenticate(request, settings, engine, authorization)
        except HTTPException as err:
            if err.status_code == 401 and _wants_html(request):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                if request.method not in SAFE_METHODS:
                    target = request.headers.get("referer", "") or "/dashboard"
                    target = safe_next(target.removeprefix(str(request.base_url).rstrip("/")))
                raise PageAccessDenied(
                    RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
                ) from None
            if err.status_code == 403:
                raise PageAccessDenied(_forbidden_page(request, err.detail)) from None
            raise
        if not principal.has(role):
            raise PageAccessDenied(_forbidden_page(request, forbidden_message(principal, role)))
        return principal

    dependency.required_role, dependency.page = role, True  # type: ignore[attr-defined]  # read by tests
    return dependency
