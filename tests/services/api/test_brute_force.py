"""Brute force against keys: a client address or a key prefix is locked out after
FAILURES_BEFORE_LOCKOUT failed checks, for longer each time; a sign-in form can be posted once."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from services.api import auth
from services.store.api_keys import now_utc
from services.store.tables import SignInFailures
from tests.utils.auth_client import ADMIN, bearer, call, cookie_value, make_key


@pytest.fixture
def api(auth_api):
    """The auth tests' app (conftest.py: `auth_api`)."""
    return auth_api


def wrong_key(n: int) -> str:
    return f"cr_{n:08x}_" + "x" * 43


async def attempts_until_locked(api, keys, headers=None) -> tuple[int, object]:
    for tried, key in enumerate(keys, start=1):
        response = await call(api, "GET", "/v1/keys", headers={**bearer(key), **(headers or {})})
        if response.status_code == 429:
            return tried - 1, response
        assert response.status_code == 401, response.text
    raise AssertionError("never locked out")


async def test_a_client_guessing_keys_is_locked_out_and_then_even_the_right_key_waits(api):
    checked, refused = await attempts_until_locked(api, (wrong_key(n) for n in range(100)))
    assert checked == auth.FAILURES_BEFORE_LOCKOUT  # keys checked before the lockout engaged
    assert refused.headers["retry-after"] == "60"
    assert "try again in 60 s" in refused.json()["detail"]
    right = await call(api, "GET", "/v1/keys", headers=bearer(ADMIN))
    assert right.status_code == 429  # nothing is checked while locked out


def expire_lockouts(engine) -> None:
    """A lockout's time passes."""
    with Session(engine) as session:
        for row in session.exec(select(SignInFailures)):
            row.locked_until = now_utc() - timedelta(seconds=1)
            session.add(row)
        session.commit()


async def test_after_a_lockout_the_next_one_lasts_twice_as_long(api):
    await attempts_until_locked(api, (wrong_key(n) for n in range(100)))
    expire_lockouts(api.engine)
    checked, refused = await attempts_until_locked(api, (wrong_key(n) for n in range(100, 200)))
    assert checked == auth.FAILURES_BEFORE_LOCKOUT
    assert refused.headers["retry-after"] == "120"


async def test_a_right_key_starts_the_count_afresh(api):
    await attempts_until_locked(api, (wrong_key(n) for n in range(100)))
    expire_lockouts(api.engine)
    assert (await call(api, "GET", "/v1/keys", headers=bearer(ADMIN))).status_code == 200
    checked, refused = await attempts_until_locked(api, (wrong_key(n) for n in range(100, 200)))
    assert checked == auth.FAILURES_BEFORE_LOCKOUT
    assert refused.headers["retry-after"] == "60"


async def test_guessing_one_keys_secret_from_many_addresses_locks_that_prefix(api):
    real = make_key(api.engine, "viewer")
    prefix = real[: len("cr_12345678_")]
    tried = 0
    for n in range(auth.FAILURES_BEFORE_LOCKOUT):
        response = await call(api, "GET", "/v1/reports/recovery", headers=bearer(prefix + f"{n:043d}"))
        tried += response.status_code == 401
        with Session(api.engine) as session:  # every guess from another address: only the prefix counts up
            row = session.get(SignInFailures, "client:testclient")
            if row is not None:
                session.delete(row)
                session.commit()
    assert tried == auth.FAILURES_BEFORE_LOCKOUT
    locked = await call(api, "GET", "/v1/reports/recovery", headers=bearer(real))
    assert locked.status_code == 429


async def test_a_sign_in_form_cannot_be_posted_twice(api):
    key = make_key(api.engine, "viewer")
    form_page = await call(api, "GET", "/login")
    nonce = cookie_value(form_page, "cr_login")
    token = re.search(r'name="csrf_token" value="([^"]*)"', form_page.text).group(1)
    form = {"api_key": "not-the-key", "csrf_token": token, "next": "/dashboard"}
    first = await call(api, "POST", "/login", cookie=f"cr_login={nonce}", data=form)
    assert first.status_code == 401
    again = await call(api, "POST", "/login", cookie=f"cr_login={nonce}", data={**form, "api_key": key})
    assert again.status_code == 403
    assert "already sent once" in again.text


async def test_sign_in_through_the_form_is_locked_out_too(api):
    for n in range(auth.FAILURES_BEFORE_LOCKOUT):
        form_page = await call(api, "GET", "/login")
        nonce = cookie_value(form_page, "cr_login")
        token = re.search(r'name="csrf_token" value="([^"]*)"', form_page.text).group(1)
        data = {"api_key": wrong_key(n), "csrf_token": token, "next": "/dashboard"}
        assert (await call(api, "POST", "/login", cookie=f"cr_login={nonce}", data=data)).status_code == 401
    form_page = await call(api, "GET", "/login")
    nonce = cookie_value(form_page, "cr_login")
    token = re.search(r'name="csrf_token" value="([^"]*)"', form_page.text).group(1)
    data = {"api_key": ADMIN, "csrf_token": token, "next": "/dashboard"}
    locked = await call(api, "POST", "/login", cookie=f"cr_login={nonce}", data=data)
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == "60"
