"""Browser sign-in for the web pages: GET/POST /login with an API key, POST /logout.
The session and CSRF scheme is described in services/api/sessions.py."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from services.api.auth import guarded_principal, key_subjects, principal_for_session, too_many_attempts
from services.api.deps import EngineDep, SettingsDep
from services.api.pages import render_page
from services.api.pages.access import safe_next
from services.api.sessions import (
    LOGIN_COOKIE,
    bootstrap_fingerprint,
    clear_session_cookie,
    login_csrf_token,
    session_token,
    set_session_cookie,
    verify_csrf,
)
from services.store.api_keys import end_session, now_utc, start_session
from services.store.sign_in_guard import use_form

router = APIRouter(tags=["sign-in"], include_in_schema=False)

LOGIN_FORM_SECONDS = 3600


def _login_form(
    request: Request, settings, next_path: str, error: str | None = None, status_code: int = 200
) -> Response:
    """The sign-in form with a fresh double-submit nonce (cookie) and its HMAC (form field)."""
    nonce = secrets.token_urlsafe(24)
    response = render_page(
        request,
        "login.html",
        status_code=status_code,
        principal=None,
        csrf_token=login_csrf_token(settings, nonce),
        next=next_path,
        error=error,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_FORM_SECONDS,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=settings.public_url.startswith("https://"),
    )
    return response


@router.get("/login", summary="The sign-in form")
async def login_form(request: Request, settings: SettingsDep, engine: EngineDep, next: str | None = None) -> Response:
    target = safe_next(next)
    token = session_token(request)
    principal = await run_in_threadpool(principal_for_session, engine, settings, token) if token else None
    if principal is not None:
        return RedirectResponse(target, status_code=303)
    return _login_form(request, settings, target)


@router.post("/login", summary="Sign in with an API key; sets the session cookie")
async def login(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    api_key: str = Form("", max_length=500),
    csrf_token: str = Form(""),
    next: str = Form("/dashboard"),
) -> Response:
    target = safe_next(next)
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not hmac.compare_digest(csrf_token.encode(), login_csrf_token(settings, nonce).encode()):
        return _login_form(
            request, settings, target, "The sign-in form expired or did not come from this site; try again.", 403
        )

    def sign_in() -> tuple[str, str | float | None]:
        """("signed in", token), ("refused", None), ("locked out", seconds) or ("form used", None)."""
        with Session(engine) as session:
            if not use_form(session, nonce, now_utc(), timedelta(seconds=LOGIN_FORM_SECONDS)):
                return "form used", None
            session.commit()
            principal, wait = guarded_principal(session, settings, key_subjects(request, api_key), api_key)
            if wait > 0:
                return "locked out", wait
            if principal is None:
                return "refused", None
            old = session_token(request)
            if old:  # a new sign-in replaces the old session instead of leaving it alive
                end_session(session, old)
            fingerprint = bootstrap_fingerprint(settings) if principal.key_id is None else None
            token, _ = start_session(session, key_id=principal.key_id, bootstrap_fingerprint=fingerprint)
            session.commit()
            return "signed in", token

    outcome, value = await run_in_threadpool(sign_in)
    if outcome == "form used":
        return _login_form(request, settings, target, "That sign-in form was already sent once; try again.", 403)
    if outcome == "locked out":
        refused = too_many_attempts(float(value or 0))
        response = _login_form(request, settings, target, str(refused.detail), 429)
        response.headers.update(refused.headers or {})
        return response
    if outcome == "refused":
        return _login_form(request, settings, target, "That key is not valid or has been revoked.", 401)
    token = str(value)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, settings, token)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout", summary="End the browser session")
async def logout(request: Request, settings: SettingsDep, engine: EngineDep) -> Response:
    token = session_token(request)
    if token:
        await verify_csrf(request)

        def end() -> None:
            with Session(engine) as session:
                end_session(session, token)
                session.commit()

        await run_in_threadpool(end)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, settings)
    return response
