"""API keys, browser sign-in, session cookies and CSRF through the real app."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from services.store.api_keys import hash_secret, now_utc
from services.store.tables import ApiKey, WebSession
from tests.utils.auth_client import (
    ADMIN,
    MISSING,
    bearer,
    call,
    cookie_value,
    make_key,
    open_api,
    session_for,
    set_cookies,
    settings_for,
    sign_in,
)


@pytest.fixture
def api(auth_api):
    """The auth tests' app (conftest.py: `auth_api`), not the template tests' `api`."""
    return auth_api


# --- keys --------------------------------------------------------------------------------------


async def test_created_key_is_shown_once_and_only_its_hash_is_stored(api, tmp_path):
    response = await call(api, "POST", "/v1/keys", headers=bearer(ADMIN), json={"name": "crm team", "role": "editor"})
    assert response.status_code == 201
    created = response.json()
    key = created["key"]
    assert re.fullmatch(r"cr_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", key)
    assert created["prefix"] == key[3:11]
    assert created["created_by"] == "bootstrap admin key"
    assert created["role"] == "editor"
    with Session(api.engine) as session:
        row = session.get(ApiKey, created["id"])
        assert row.key_hash == hash_secret(key)
        assert key not in row.model_dump_json()
    api.engine.dispose()
    for path in tmp_path.glob("app.db*"):
        assert key.encode() not in path.read_bytes()
        assert key[12:].encode() not in path.read_bytes()
    listed = (await call(api, "GET", "/v1/keys", headers=bearer(ADMIN))).json()
    assert [k["name"] for k in listed] == ["crm team"]
    assert "key" not in listed[0]
    assert "key_hash" not in listed[0]
    assert (await call(api, "GET", "/v1/reports/recovery", headers=bearer(key))).status_code == 200


@pytest.mark.parametrize("body", [{"name": "x", "role": "owner"}, {"name": "", "role": "viewer"}, {"role": "viewer"}])
async def test_bad_key_requests_are_422(api, body):
    response = await call(api, "POST", "/v1/keys", headers=bearer(ADMIN), json=body)
    assert response.status_code == 422


async def test_revoked_key_is_refused_at_once_and_its_sessions_end(api):
    key = make_key(api.engine, "admin", "leaving")
    cookie, _ = await session_for(api, key)
    assert (await call(api, "GET", "/v1/keys", cookie=cookie)).status_code == 200
    key_id = next(
        k["id"] for k in (await call(api, "GET", "/v1/keys", headers=bearer(key))).json() if k["name"] == "leaving"
    )
    response = await call(api, "DELETE", f"/v1/keys/{key_id}", headers=bearer(ADMIN))
    assert response.status_code == 200
    assert response.json()["revoked_at"]
    response = await call(api, "GET", "/v1/keys", headers=bearer(key))
    assert response.status_code == 401
    assert response.json()["detail"] == "invalid or revoked API key"
    response = await call(api, "GET", "/v1/keys", cookie=cookie)
    assert response.status_code == 401
    assert "session has ended" in response.json()["detail"]
    assert (await call(api, "GET", "/test-page/editor", cookie=cookie)).status_code == 303
    assert (await sign_in(api, key)).status_code == 401
    assert (await call(api, "DELETE", f"/v1/keys/{MISSING}", headers=bearer(ADMIN))).status_code == 404


# --- sign-in, cookies, CSRF ----------------------------------------------------------------------


async def test_login_sets_a_hardened_cookie_and_logout_ends_the_session(api):
    response = await sign_in(api, make_key(api.engine, "viewer"), "/test-page/editor")
    assert response.status_code == 303
    assert response.headers["location"] == "/test-page/editor"
    header = set_cookies(response)["cr_session"].lower()
    assert "httponly" in header
    assert "samesite=lax" in header
    assert "path=/" in header
    assert "secure" not in header
    assert "max-age=28800" in header
    cookie = f"cr_session={cookie_value(response, 'cr_session')}"
    assert (await call(api, "GET", "/v1/reports/recovery", cookie=cookie)).status_code == 200
    _, csrf = await session_for(api, make_key(api.engine, "viewer"))  # another session's token
    assert (await call(api, "POST", "/logout", cookie=cookie)).status_code == 403
    assert (await call(api, "POST", "/logout", cookie=cookie, data={"csrf_token": csrf})).status_code == 403
    page = await call(api, "GET", "/test-page/editor", cookie=cookie)  # viewer: 403 page with a logout form
    own = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = await call(api, "POST", "/logout", cookie=cookie, data={"csrf_token": own})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert (
        'cr_session=""' in set_cookies(response)["cr_session"]
        or "max-age=0" in set_cookies(response)["cr_session"].lower()
    )
    assert (await call(api, "GET", "/v1/reports/recovery", cookie=cookie)).status_code == 401


async def test_cookie_is_secure_behind_https(tmp_path, sqlite_engine):
    app = await open_api(tmp_path, sqlite_engine, public_url="https://shop.example")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        client.app = app
        response = await sign_in(client, ADMIN)
    assert response.status_code == 303
    assert "; secure" in set_cookies(response)["cr_session"].lower()


async def test_login_refuses_bad_keys_and_forged_forms(api):
    response = await sign_in(api, "cr_00000000_" + "y" * 43)
    assert response.status_code == 401
    assert "not valid or has been revoked" in response.text
    assert "cr_session" not in set_cookies(response)
    page = await call(api, "GET", "/login")
    nonce = cookie_value(page, "cr_login")
    header = set_cookies(page)["cr_login"].lower()
    assert "httponly" in header
    assert "samesite=strict" in header
    forged = {"api_key": ADMIN, "csrf_token": "forged", "next": "/"}
    assert (await call(api, "POST", "/login", cookie=f"cr_login={nonce}", data=forged)).status_code == 403
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert (
        await call(api, "POST", "/login", data=dict(forged, csrf_token=token))
    ).status_code == 403  # no nonce cookie
    with Session(api.engine) as session:
        assert session.exec(select(WebSession)).all() == []


async def test_next_only_goes_to_this_site(api):
    for target in ["//evil.example/x", "https://evil.example", "/\\evil.example"]:
        page = await call(api, "GET", "/login", params={"next": target})
        assert 'name="next" value="/dashboard"' in page.text
    response = await sign_in(api, ADMIN, "//evil.example")
    assert response.headers["location"] == "/dashboard"


async def test_cookie_requests_that_change_state_need_the_csrf_token(api):
    cookie, csrf = await session_for(api, make_key(api.engine, "admin"))
    body = {"name": "from the browser", "role": "viewer"}
    response = await call(api, "POST", "/v1/keys", cookie=cookie, json=body)
    assert response.status_code == 403
    assert "CSRF token missing or wrong" in response.json()["detail"]
    assert (
        await call(
            api,
            "POST",
            "/v1/keys",
            cookie=cookie,
            json=body,
            headers={"X-CSRF-Token": csrf[:-1] + ("1" if csrf.endswith("0") else "0")},
        )
    ).status_code == 403
    assert (await call(api, "DELETE", f"/v1/keys/{MISSING}", cookie=cookie)).status_code == 403
    assert (
        await call(api, "POST", "/v1/keys", cookie=cookie, json=body, headers={"X-CSRF-Token": csrf})
    ).status_code == 201
    assert (await call(api, "GET", "/v1/keys", cookie=cookie)).status_code == 200  # reads need no token
    # a Bearer call carries no ambient credential: no token needed, and a cookie beside it is ignored
    assert (await call(api, "POST", "/v1/keys", cookie=cookie, json=body, headers=bearer(ADMIN))).status_code == 201


async def test_tampered_or_expired_sessions_are_refused(api):
    cookie, _ = await session_for(api, make_key(api.engine, "viewer"))
    token, _, signature = cookie.split("=", 1)[1].partition(".")
    for forged in [f"cr_session={token}.{'0' * len(signature)}", f"cr_session={token}", "cr_session=x.y"]:
        assert (await call(api, "GET", "/v1/reports/recovery", cookie=forged)).status_code == 401
    with Session(api.engine) as session:
        row = session.get(WebSession, hash_secret(token))
        assert row is not None
        assert row.expires_at - row.created_at == timedelta(hours=8)
        row.expires_at = now_utc() - timedelta(seconds=1)
        session.add(row)
        session.commit()
    response = await call(api, "GET", "/v1/reports/recovery", cookie=cookie)
    assert response.status_code == 401
    assert "session has ended" in response.json()["detail"]


async def test_bootstrap_sessions_end_when_the_bootstrap_key_changes(tmp_path, sqlite_engine):
    app = await open_api(tmp_path, sqlite_engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        client.app = app
        cookie, _ = await session_for(client, ADMIN)
        assert (await call(client, "GET", "/v1/keys", cookie=cookie)).status_code == 200
        app.state.settings = settings_for(tmp_path, admin_api_key="a-new-admin-key-0123")
        assert (await call(client, "GET", "/v1/keys", cookie=cookie)).status_code == 401
    with sqlite_engine.connect() as connection:  # the bootstrap key itself is not in the database
        rows = connection.execute(text("SELECT * FROM web_sessions")).all()
    assert rows
    assert all(ADMIN not in str(row) for row in rows)
