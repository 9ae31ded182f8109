"""The real app for the auth tests (test_auth_*.py), and requests carrying exactly the key or cookie given."""

from __future__ import annotations

import re
import uuid
from types import SimpleNamespace

import httpx
from fastapi import Depends, Form
from sqlmodel import Session

from services.api.app import create_app
from services.api.pages.access import require_page_role
from services.core.settings import Settings
from services.store.api_keys import create_key

ADMIN = "admin-key-0123456789"
MISSING = "999999"  # fills path parameters: no such cart / customer / key, so nothing is changed


def settings_for(tmp_path, **overrides) -> Settings:
    values = dict(
        _env_file=None,
        data_dir=tmp_path,
        webhook_secret="generic-secret",
        admin_api_key=ADMIN,
        task_queue=f"auth-{uuid.uuid4().hex[:8]}",
    )
    return Settings(**(values | overrides))


async def open_api(tmp_path, engine, **overrides):
    """The real app; a stand-in Temporal client (auth never reaches the workflow engine)."""
    app = create_app(settings_for(tmp_path, **overrides), engine=engine, client=SimpleNamespace())

    @app.get("/test-page/editor", dependencies=[Depends(require_page_role("editor"))])
    async def editor_page() -> dict:
        return {"page": "editor"}

    @app.post("/test-page/editor", dependencies=[Depends(require_page_role("editor"))])
    async def editor_form(title: str = Form(...)) -> dict:
        return {"saved": title}

    return app


def make_key(engine, role: str, name: str | None = None) -> str:
    with Session(engine) as session:
        _, key = create_key(session, name or f"{role}-key", role, created_by="test")
        session.commit()
    return key


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


async def call(api, method: str, url: str, *, cookie: str | None = None, **kwargs) -> httpx.Response:
    """A request carrying exactly the cookies given (the client's own jar is emptied each time)."""
    api.cookies.clear()
    headers = dict(kwargs.pop("headers", {}))
    if cookie:
        headers["Cookie"] = cookie
    response = await api.request(method, url, headers=headers, **kwargs)
    api.cookies.clear()
    return response


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """name -> the whole Set-Cookie header value."""
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


def cookie_value(response: httpx.Response, name: str) -> str:
    return set_cookies(response)[name].split(";", 1)[0].split("=", 1)[1].strip('"')


async def sign_in(api, key: str, next_path: str = "/dashboard") -> httpx.Response:
    form_page = await call(api, "GET", f"/login?next={next_path}")
    nonce = cookie_value(form_page, "cr_login")
    token = re.search(r'name="csrf_token" value="([^"]*)"', form_page.text).group(1)
    return await call(
        api, "POST", "/login", cookie=f"cr_login={nonce}", data={"api_key": key, "csrf_token": token, "next": next_path}
    )


async def session_for(api, key: str) -> tuple[str, str]:
    """(Cookie header, CSRF token) of a fresh browser session signed in with `key`."""
    response = await sign_in(api, key)
    assert response.status_code == 303, response.text
    cookie = f"cr_session={cookie_value(response, 'cr_session')}"
    page = await call(api, "GET", "/login?next=/test-page/editor", cookie=cookie)  # signed in: redirected
    assert page.status_code == 303
    from services.api.sessions import csrf_token

    fake = SimpleNamespace(cookies={"cr_session": cookie.split("=", 1)[1]}, app=api.app)
    return cookie, csrf_token(fake)
