"""Fixtures for the API tests: the app on a SQLite database, with a key per role."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import httpx
import pytest

from services.api.app import create_app
from services.core.settings import Settings
from tests.utils.auth_client import open_api
from tests.utils.doubles import FakeDelivery
from tests.utils.template_api import ADMIN, make_key


@pytest.fixture
async def api(tmp_path, sqlite_engine):
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        webhook_secret="generic-secret",
        admin_api_key=ADMIN,
        email_url="mailto://localhost?to={to}",
        sms_url="json://localhost/sms",
        email_from="s@example.com",
        shop_address="12 Market Street, Springfield",
        task_queue=f"tpl-{uuid.uuid4().hex[:8]}",
    )
    app = create_app(settings, engine=sqlite_engine, client=SimpleNamespace())
    app.state.test_delivery = FakeDelivery()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.app, client.engine = app, sqlite_engine
            client.keys = {role: make_key(sqlite_engine, role) for role in ("viewer", "editor")}
            yield client


@pytest.fixture
async def auth_api(tmp_path, sqlite_engine):
    """The app for the auth tests (test_auth_*.py): no key but the bootstrap admin key, no test
    delivery, and an editor-only test page (tests/utils/auth_client.py)."""
    app = await open_api(tmp_path, sqlite_engine)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.app, client.engine = app, sqlite_engine
            yield client
