"""Roles, API keys, browser sessions and CSRF through the real app.

The role checks walk the app's routes, so a /v1 route or page added later is covered the day it
is added: every /v1 route must declare a role (require_role / AdminDep / EditorDep / ViewerDep),
and each one is called with no key, a wrong key, every role below it and the role it needs.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from types import SimpleNamespace

import httpx
import pytest
from fastapi import Form, routing
from sqlalchemy import text
from sqlmodel import Session, select

from services.api.app import create_app
from services.api.auth import ROLES, EditorPageDep
from services.core.settings import Settings
from services.store.api_keys import create_key, hash_secret, now_utc
from services.store.tables import ApiKey, WebSession

ADMIN = "admin-key-0123456789"
MISSING = "999999"  # fills path parameters: no such cart / customer / key, so nothing is changed


def settings_for(tmp_path, **overrides) -> Settings:
    values = dict(_env_file=None, data_dir=tmp_path, webhook_secret="generic-secret", admin_api_key=ADMIN,
                  task_queue=f"auth-{uuid.uuid4().hex[:8]}")
    return Settings(**(values | overrides))


async def open_api(tmp_path, engine, **overrides):
    """The real app; a stand-in Temporal client (auth never reaches the workflow engine)."""
    app = create_app(settings_for(tmp_path, **overrides), engine=engine, client=SimpleNamespace())

    @app.get("/test-page/editor", dependencies=[EditorPageDep])
    async def editor_page() -> dict:
        return {"page": "editor"}

    @app.post("/test-page/editor", dependencies=[EditorPageDep])
    async def editor_form(title: str = Form(...)) -> dict:
        return {"saved": title}

    return app


@pytest.fixture
async def api(tmp_path, sqlite_engine):
    app = await open_api(tmp_path, sqlite_engine)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.app, client.engine = app, sqlite_engine
            yield client


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
    return await call(api, "POST", "/login", cookie=f"cr_login={nonce}",
                      data={"api_key": key, "csrf_token": token, "next": next_path})


async def session_for(api, key: str) -> tuple[str, str]:
    """(Cookie header, CSRF token) of a fresh browser session signed in with `key`."""
    response = await sign_in(api, key)
    assert response.status_code == 303, response.text
    cookie = f"cr_session={cookie_value(response, 'cr_session')}"
    page = await call(api, "GET", "/login?next=/test-page/editor", cookie=cookie)  # signed in: redirected
    assert page.status_code == 303
    from services.api.auth import csrf_token  # the same helper the pages call

    fake = SimpleNamespace(cookies={"cr_session": cookie.split("=", 1)[1]}, app=api.app)
    return cookie, csrf_token(fake)


# --- every route, every role -------------------------------------------------------------------


def declared_routes(app):
    """(method, path, required role or None, is a page) for every route the app serves."""
    contexts = routing.iter_route_contexts(app.routes) if hasattr(routing, "iter_route_contexts") else app.routes
    for route in contexts:
        dependant = getattr(route, "dependant", None)
        if dependant is None:
            continue
        roles, page, stack = [], False, [dependant]
        while stack:
            current = stack.pop()
            stack.extend(current.dependencies)
            if getattr(current.call, "required_role", None):
                roles.append(current.call.required_role)
                page = page or getattr(current.call, "page", False)
        required = max(roles, key=ROLES.index) if roles else None
        for method in sorted(route.methods - {"HEAD"}):
            yield method, route.path, required, page


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", MISSING, path)


async def test_every_v1_route_declares_a_role(api):
    routes = {(m, p): role for m, p, role, _ in declared_routes(api.app) if p.startswith("/v1")}
    assert [route for route, role in routes.items() if role is None] == []
    # the roles the issue names, for the routes that exist today
    assert routes[("GET", "/v1/carts/{cart_id}")] == "viewer"
    assert routes[("GET", "/v1/reports/recovery")] == "viewer"
    assert routes[("DELETE", "/v1/customers/{customer_id}")] == "admin"
    assert routes[("GET", "/v1/customers/{customer_id}/export")] == "admin"
    assert {routes[(m, p)] for m, p in [("POST", "/v1/keys"), ("GET", "/v1/keys"), ("DELETE", "/v1/keys/{key_id}")]} == {"admin"}


async def test_every_v1_route_checks_each_role(api):
    keys = {role: make_key(api.engine, role) for role in ROLES}
    checked, wrong = 0, []
    for method, path, required, _ in declared_routes(api.app):
        if not path.startswith("/v1"):
            continue
        url, checked = concrete(path), checked + 1
        for label, headers in [("no key", {}), ("wrong key", bearer("cr_00000000_" + "x" * 43)), ("not bearer", {"Authorization": f"Basic {ADMIN}"})]:
            response = await call(api, method, url, headers=headers)
            if response.status_code != 401:
                wrong.append(f"{method} {path} {label}: {response.status_code}")
        for role, key in keys.items():
            response = await call(api, method, url, headers=bearer(key))
            if ROLES.index(role) < ROLES.index(required):
                if response.status_code != 403 or f"needs the {required} role" not in response.json()["detail"]:
                    wrong.append(f"{method} {path} as {role}: {response.status_code} {response.text[:100]}")
            elif response.status_code in (401, 403):
                wrong.append(f"{method} {path} as {role} (enough): {response.status_code} {response.text[:100]}")
        response = await call(api, method, url, headers=bearer(ADMIN))
        if response.status_code in (401, 403):
            wrong.append(f"{method} {path} with the bootstrap key: {response.status_code}")
    assert checked >= 7 and wrong == []


async def test_every_page_redirects_strangers_and_refuses_low_roles(api):
    pages = [(m, p, role) for m, p, role, page in declared_routes(api.app) if page]
    assert ("GET", "/test-page/editor", "editor") in pages
    viewer_cookie, viewer_csrf = await session_for(api, make_key(api.engine, "viewer"))
    for method, path, required in pages:
        url = concrete(path)
        response = await call(api, method, url, headers={"Accept": "text/html"})
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next="), (method, path)
        if method == "GET":
            assert response.headers["location"] == f"/login?next={url}"
        if required != "viewer":
            response = await call(api, method, url, cookie=viewer_cookie, headers={"Accept": "text/html", "X-CSRF-Token": viewer_csrf})
            assert response.status_code == 403 and "text/html" in response.headers["content-type"], (method, path)
            assert f"needs the {required} role" in response.text


async def test_page_lets_the_right_role_in_and_api_clients_get_401(api):
    cookie, _ = await session_for(api, make_key(api.engine, "editor"))
    assert (await call(api, "GET", "/test-page/editor", cookie=cookie)).json() == {"page": "editor"}
    assert (await call(api, "GET", "/test-page/editor", headers={"Accept": "application/json"})).status_code == 401


async def test_page_forms_pass_with_the_token_and_keep_their_fields(api):
    cookie, csrf = await session_for(api, make_key(api.engine, "editor"))
    response = await call(api, "POST", "/test-page/editor", cookie=cookie, data={"title": "Spring", "csrf_token": csrf})
    assert response.status_code == 200 and response.json() == {"saved": "Spring"}
    response = await call(api, "POST", "/test-page/editor", cookie=cookie, files={"title": (None, "Multi"), "csrf_token": (None, csrf)})
    assert response.json() == {"saved": "Multi"}
    response = await call(api, "POST", "/test-page/editor", cookie=cookie, data={"title": "Spring"}, headers={"Accept": "text/html"})
    assert response.status_code == 403 and "CSRF token missing or wrong" in response.text
    response = await call(api, "POST", "/test-page/editor", data={"title": "x"}, headers={"Accept": "text/html", "Referer": "http://test/test-page/editor"})
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/test-page/editor"


# --- keys --------------------------------------------------------------------------------------


async def test_created_key_is_shown_once_and_only_its_hash_is_stored(api, tmp_path):
    response = await call(api, "POST", "/v1/keys", headers=bearer(ADMIN), json={"name": "crm team", "role": "editor"})
    assert response.status_code == 201
    created = response.json()
    key = created["key"]
    assert re.fullmatch(r"cr_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", key) and created["prefix"] == key[3:11]
    assert created["created_by"] == "bootstrap admin key" and created["role"] == "editor"
    with Session(api.engine) as session:
        row = session.get(ApiKey, created["id"])
        assert row.key_hash == hash_secret(key) and key not in row.model_dump_json()
    api.engine.dispose()
    for path in tmp_path.glob("app.db*"):
        assert key.encode() not in path.read_bytes() and key[12:].encode() not in path.read_bytes()
    listed = (await call(api, "GET", "/v1/keys", headers=bearer(ADMIN))).json()
    assert [k["name"] for k in listed] == ["crm team"] and "key" not in listed[0] and "key_hash" not in listed[0]
    assert (await call(api, "GET", "/v1/reports/recovery", headers=bearer(key))).status_code == 200


@pytest.mark.parametrize("body", [{"name": "x", "role": "owner"}, {"name": "", "role": "viewer"}, {"role": "viewer"}])
async def test_bad_key_requests_are_422(api, body):
    response = await call(api, "POST", "/v1/keys", headers=bearer(ADMIN), json=body)
    assert response.status_code == 422


async def test_revoked_key_is_refused_at_once_and_its_sessions_end(api):
    key = make_key(api.engine, "admin", "leaving")
    cookie, _ = await session_for(api, key)
    assert (await call(api, "GET", "/v1/keys", cookie=cookie)).status_code == 200
    key_id = next(k["id"] for k in (await call(api, "GET", "/v1/keys", headers=bearer(key))).json() if k["name"] == "leaving")
    response = await call(api, "DELETE", f"/v1/keys/{key_id}", headers=bearer(ADMIN))
    assert response.status_code == 200 and response.json()["revoked_at"]
    response = await call(api, "GET", "/v1/keys", headers=bearer(key))
    assert response.status_code == 401 and response.json()["detail"] == "invalid or revoked API key"
    response = await call(api, "GET", "/v1/keys", cookie=cookie)
    assert response.status_code == 401 and "session has ended" in response.json()["detail"]
    assert (await call(api, "GET", "/test-page/editor", cookie=cookie)).status_code == 303
    assert (await sign_in(api, key)).status_code == 401
    assert (await call(api, "DELETE", f"/v1/keys/{MISSING}", headers=bearer(ADMIN))).status_code == 404


# --- sign-in, cookies, CSRF ----------------------------------------------------------------------


async def test_login_sets_a_hardened_cookie_and_logout_ends_the_session(api):
    response = await sign_in(api, make_key(api.engine, "viewer"), "/test-page/editor")
    assert response.status_code == 303 and response.headers["location"] == "/test-page/editor"
    header = set_cookies(response)["cr_session"].lower()
    assert "httponly" in header and "samesite=lax" in header and "path=/" in header and "secure" not in header
    assert "max-age=28800" in header
    cookie = f"cr_session={cookie_value(response, 'cr_session')}"
    assert (await call(api, "GET", "/v1/reports/recovery", cookie=cookie)).status_code == 200
    _, csrf = await session_for(api, make_key(api.engine, "viewer"))  # another session's token
    assert (await call(api, "POST", "/logout", cookie=cookie)).status_code == 403
    assert (await call(api, "POST", "/logout", cookie=cookie, data={"csrf_token": csrf})).status_code == 403
    page = await call(api, "GET", "/test-page/editor", cookie=cookie)  # viewer: 403 page with a logout form
    own = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = await call(api, "POST", "/logout", cookie=cookie, data={"csrf_token": own})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert 'cr_session=""' in set_cookies(response)["cr_session"] or "max-age=0" in set_cookies(response)["cr_session"].lower()
    assert (await call(api, "GET", "/v1/reports/recovery", cookie=cookie)).status_code == 401


async def test_cookie_is_secure_behind_https(tmp_path, sqlite_engine):
    app = await open_api(tmp_path, sqlite_engine, public_url="https://shop.example")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        client.app = app
        response = await sign_in(client, ADMIN)
    assert response.status_code == 303 and "; secure" in set_cookies(response)["cr_session"].lower()


async def test_login_refuses_bad_keys_and_forged_forms(api):
    response = await sign_in(api, "cr_00000000_" + "y" * 43)
    assert response.status_code == 401 and "not valid or has been revoked" in response.text
    assert "cr_session" not in set_cookies(response)
    page = await call(api, "GET", "/login")
    nonce = cookie_value(page, "cr_login")
    header = set_cookies(page)["cr_login"].lower()
    assert "httponly" in header and "samesite=strict" in header
    forged = {"api_key": ADMIN, "csrf_token": "forged", "next": "/"}
    assert (await call(api, "POST", "/login", cookie=f"cr_login={nonce}", data=forged)).status_code == 403
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert (await call(api, "POST", "/login", data=dict(forged, csrf_token=token))).status_code == 403  # no nonce cookie
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
    assert response.status_code == 403 and "CSRF token missing or wrong" in response.json()["detail"]
    assert (await call(api, "POST", "/v1/keys", cookie=cookie, json=body, headers={"X-CSRF-Token": csrf[:-1] + ("1" if csrf.endswith("0") else "0")})).status_code == 403
    assert (await call(api, "DELETE", f"/v1/keys/{MISSING}", cookie=cookie)).status_code == 403
    assert (await call(api, "POST", "/v1/keys", cookie=cookie, json=body, headers={"X-CSRF-Token": csrf})).status_code == 201
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
        assert row is not None and row.expires_at - row.created_at == timedelta(hours=8)
        row.expires_at = now_utc() - timedelta(seconds=1)
        session.add(row)
        session.commit()
    response = await call(api, "GET", "/v1/reports/recovery", cookie=cookie)
    assert response.status_code == 401 and "session has ended" in response.json()["detail"]


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
    assert rows and all(ADMIN not in str(row) for row in rows)
