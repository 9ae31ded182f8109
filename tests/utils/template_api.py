"""Shared by the template editor API and page tests: the real app with editor and viewer keys, a
recording fake provider for test sends, and a browser-like sign-in."""

from __future__ import annotations

import re

import httpx
from sqlmodel import Session

from services.messaging.templates_store import active_version
from services.store.api_keys import create_key

ADMIN = "admin-key-0123456789"
OPT_OUT = "Reply STOP to opt out"


def make_key(engine, role: str) -> str:
    with Session(engine) as session:
        _, key = create_key(session, f"{role} person", role, created_by="test")
        session.commit()
    return key


def auth(api, role: str = "editor") -> dict:
    return {"Authorization": f"Bearer {api.keys[role]}"}


async def template_id(api, channel: str, reason: str) -> int:
    listing = (await api.get("/v1/templates", headers=auth(api))).json()["templates"]
    return next(t["id"] for t in listing if (t["channel"], t["reason"], t["variant"]) == (channel, reason, "A"))


async def save(api, channel, reason, sources, **extra) -> httpx.Response:
    return await api.post(
        "/v1/templates", headers=auth(api), json={"channel": channel, "reason": reason, "sources": sources, **extra}
    )


def active(api, channel, reason):
    with Session(api.engine) as session:
        return active_version(session, channel, reason)


async def browser_session(api, role: str = "editor") -> tuple[str, str]:
    """Sign in through /login like a browser; (Cookie header, CSRF token of the session)."""
    api.cookies.clear()
    form = await api.get("/login")
    nonce = form.cookies["cr_login"]
    token = re.search(r'name="csrf_token" value="([^"]*)"', form.text).group(1)
    signed = await api.post(
        "/login",
        data={"api_key": api.keys[role], "csrf_token": token, "next": "/templates"},
        headers={"Cookie": f"cr_login={nonce}"},
    )
    assert signed.status_code == 303, signed.text
    cookie = f"cr_session={signed.cookies['cr_session']}"
    api.cookies.clear()
    page = await api.get("/templates" if role != "viewer" else "/login", headers={"Cookie": cookie})
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    return cookie, found.group(1) if found else ""
