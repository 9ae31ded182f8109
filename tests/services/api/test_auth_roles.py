"""Every route and page through the real app: each /v1 route declares a role and refuses every role below it."""

from __future__ import annotations

import re

import pytest
from fastapi import routing

from services.api import auth
from services.api.auth import ROLES
from tests.utils.auth_client import ADMIN, MISSING, bearer, call, make_key, session_for


@pytest.fixture
def api(auth_api):
    """The auth tests' app (conftest.py: `auth_api`), not the template tests' `api`."""
    return auth_api


# --- every route, every role -------------------------------------------------------------------
# The role checks walk the app's routes, so a /v1 route or page added later is covered the day it
# is added: every /v1 route must declare a role (require_role / AdminDep / EditorDep / ViewerDep),
# and each one is called with no key, a wrong key, every role below it and the role it needs.


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
    assert {
        routes[(m, p)] for m, p in [("POST", "/v1/keys"), ("GET", "/v1/keys"), ("DELETE", "/v1/keys/{key_id}")]
    } == {"admin"}


async def test_every_v1_route_checks_each_role(api, monkeypatch):
    monkeypatch.setattr(auth, "FAILURES_BEFORE_LOCKOUT", 10_000)  # a wrong key on every route: not brute force
    keys = {role: make_key(api.engine, role) for role in ROLES}
    checked, wrong = 0, []
    for method, path, required, _ in declared_routes(api.app):
        if not path.startswith("/v1"):
            continue
        url, checked = concrete(path), checked + 1
        for label, headers in [
            ("no key", {}),
            ("wrong key", bearer("cr_00000000_" + "x" * 43)),
            ("not bearer", {"Authorization": f"Basic {ADMIN}"}),
        ]:
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
    assert checked >= 7
    assert wrong == []


async def test_every_page_redirects_strangers_and_refuses_low_roles(api):
    pages = [(m, p, role) for m, p, role, page in declared_routes(api.app) if page]
    assert ("GET", "/test-page/editor", "editor") in pages
    viewer_cookie, viewer_csrf = await session_for(api, make_key(api.engine, "viewer"))
    for method, path, required in pages:
        url = concrete(path)
        response = await call(api, method, url, headers={"Accept": "text/html"})
        assert response.status_code == 303, (method, path)
        assert response.headers["location"].startswith("/login?next="), (method, path)
        if method == "GET":
            assert response.headers["location"] == f"/login?next={url}"
        if required != "viewer":
            response = await call(
                api, method, url, cookie=viewer_cookie, headers={"Accept": "text/html", "X-CSRF-Token": viewer_csrf}
            )
            assert response.status_code == 403, (method, path)
            assert "text/html" in response.headers["content-type"], (method, path)
            assert f"needs the {required} role" in response.text


async def test_page_lets_the_right_role_in_and_api_clients_get_401(api):
    cookie, _ = await session_for(api, make_key(api.engine, "editor"))
    assert (await call(api, "GET", "/test-page/editor", cookie=cookie)).json() == {"page": "editor"}
    assert (await call(api, "GET", "/test-page/editor", headers={"Accept": "application/json"})).status_code == 401


async def test_page_forms_pass_with_the_token_and_keep_their_fields(api):
    cookie, csrf = await session_for(api, make_key(api.engine, "editor"))
    response = await call(api, "POST", "/test-page/editor", cookie=cookie, data={"title": "Spring", "csrf_token": csrf})
    assert response.status_code == 200
    assert response.json() == {"saved": "Spring"}
    response = await call(
        api, "POST", "/test-page/editor", cookie=cookie, files={"title": (None, "Multi"), "csrf_token": (None, csrf)}
    )
    assert response.json() == {"saved": "Multi"}
    response = await call(
        api, "POST", "/test-page/editor", cookie=cookie, data={"title": "Spring"}, headers={"Accept": "text/html"}
    )
    assert response.status_code == 403
    assert "CSRF token missing or wrong" in response.text
    response = await call(
        api,
        "POST",
        "/test-page/editor",
        data={"title": "x"},
        headers={"Accept": "text/html", "Referer": "http://test/test-page/editor"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/test-page/editor"
