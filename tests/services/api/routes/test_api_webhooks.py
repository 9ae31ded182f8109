"""The real app on bad input: each rejection has its status, a message that says what is wrong,
and leaves nothing behind (no cart stored, no journey started)."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid

import httpx
import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, func, select
from temporalio.client import Client

from services.api.app import create_app
from services.core.settings import Settings
from services.core.signing import sign_generic, sign_shopify
from services.ingest.journeys import workflow_id
from services.store.carts import cart_key
from services.store.tables import Cart
from tests.fixtures import shopify_fixture

SECRET, GENERIC = "shop-secret", "generic-secret"
ADMIN = "admin-key-0123456789"


def settings_for(tmp_path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path,
        shopify_webhook_secret=SECRET,
        webhook_secret=GENERIC,
        admin_api_key=ADMIN,
        task_queue=f"api-{uuid.uuid4().hex[:8]}",
    )


@pytest.fixture
async def api(dev_env, tmp_path, sqlite_engine):
    app = create_app(settings_for(tmp_path), engine=sqlite_engine, client=dev_env.client)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            client.engine = sqlite_engine
            client.temporal = dev_env.client
            client.task_queue = app.state.settings.task_queue
            yield client


def shopify_headers(body: bytes, topic="checkouts/create", secret=SECRET, **extra) -> dict:
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign_shopify(secret, body),
        "X-Shopify-Shop-Domain": "t.myshopify.com",
        "X-Shopify-Webhook-Id": uuid.uuid4().hex,
    }
    headers.update(extra)
    return headers


def carts(engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count(Cart.id))).one()


def unique_checkout() -> dict:
    """Shopify's example with a token of its own: tests share one dev server."""
    return dict(shopify_fixture("checkouts_create"), token=uuid.uuid4().hex)


async def test_valid_checkout_is_accepted_and_starts_one_journey(api):
    checkout = unique_checkout()
    body = json.dumps(checkout).encode()
    response = await api.post("/webhooks/shopify", content=body, headers=shopify_headers(body))
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    assert carts(api.engine) == 1
    wid = workflow_id("t.myshopify.com", cart_key("t.myshopify.com", checkout["token"]))
    assert checkout["token"] not in wid  # the checkout token never becomes an id
    description = await api.temporal.get_workflow_handle(wid).describe()
    assert description.task_queue == api.task_queue
    assert description.workflow_type == "CartRecoveryWorkflow"


@pytest.mark.parametrize("signature", [None, "", "bm90IGEgc2lnbmF0dXJl", "wrong"])
async def test_bad_shopify_signature_is_401_and_stores_nothing(api, signature):
    body = json.dumps(shopify_fixture("checkouts_create")).encode()
    headers = shopify_headers(body)
    if signature is None:
        del headers["X-Shopify-Hmac-Sha256"]
    else:
        headers["X-Shopify-Hmac-Sha256"] = signature
    response = await api.post("/webhooks/shopify", content=body, headers=headers)
    assert response.status_code == 401
    assert "X-Shopify-Hmac-Sha256" in response.json()["detail"]
    assert carts(api.engine) == 0


async def test_signature_over_a_different_body_is_401(api):
    body = json.dumps(shopify_fixture("checkouts_create")).encode()
    headers = shopify_headers(body)
    response = await api.post("/webhooks/shopify", content=body.replace(b"421.88", b"1.00"), headers=headers)
    assert response.status_code == 401
    assert carts(api.engine) == 0


async def test_malformed_json_is_400_naming_the_problem(api):
    body = b'{"token": "abc", '
    response = await api.post("/webhooks/shopify", content=body, headers=shopify_headers(body))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("malformed JSON:")
    assert "line 1" in response.json()["detail"]


async def test_invalid_payload_is_422_naming_the_fields(api):
    payload = shopify_fixture("checkouts_create")
    del payload["token"]
    payload["total_price"] = "abc"
    body = json.dumps(payload).encode()
    response = await api.post("/webhooks/shopify", content=body, headers=shopify_headers(body))
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["detail"]}
    assert {"token", "total_price"} <= fields
    assert carts(api.engine) == 0


async def test_oversized_body_is_413(api):
    body = b'{"pad": "' + b"x" * (1_048_576 + 10) + b'"}'
    response = await api.post("/webhooks/shopify", content=body, headers=shopify_headers(body))
    assert response.status_code == 413
    assert "1048576" in response.json()["detail"]


async def test_unknown_topic_is_acknowledged_and_ignored(api):
    body = b'{"id": 1}'
    response = await api.post("/webhooks/shopify", content=body, headers=shopify_headers(body, topic="products/update"))
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert carts(api.engine) == 0


async def test_repeated_delivery_is_processed_once(api):
    body = json.dumps(shopify_fixture("checkouts_create")).encode()
    headers = shopify_headers(body)
    statuses = [(await api.post("/webhooks/shopify", content=body, headers=headers)).json()["status"] for _ in range(3)]
    assert statuses == ["accepted", "duplicate", "duplicate"]


def generic_request(event: dict, secret=GENERIC, ts=None) -> tuple[bytes, dict]:
    body = json.dumps({"id": uuid.uuid4().hex, "shop": "g", "event": event}).encode()
    ts = str(int(ts if ts is not None else time.time()))
    return body, {"X-Cartrecovery-Timestamp": ts, "X-Cartrecovery-Hmac-Sha256": sign_generic(secret, body, ts)}


async def test_generic_cart_is_accepted(api):
    body, headers = generic_request(
        {"type": "cart", "cart_id": "g-1", "contact": {"email": "a@example.com"}, "total_value": "12.50"}
    )
    response = await api.post("/webhooks/generic", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert carts(api.engine) == 1


async def test_generic_replayed_old_delivery_is_401(api):
    body, headers = generic_request({"type": "cart", "cart_id": "g-2"}, ts=time.time() - 3600)
    response = await api.post("/webhooks/generic", content=body, headers=headers)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert carts(api.engine) == 0


async def test_generic_invalid_event_is_422(api):
    body, headers = generic_request({"type": "cart", "cart_id": "", "total_value": "-3"})
    response = await api.post("/webhooks/generic", content=body, headers=headers)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["detail"]}
    assert "event.cart_id" in fields
    assert "event.total_value" in fields


async def test_generic_schema_is_in_openapi(api):
    schema = (await api.get("/openapi.json")).json()
    assert "GenericWebhook" in schema["components"]["schemas"]
    assert "CartEvent" in schema["components"]["schemas"]


async def test_temporal_down_is_503_quickly_and_a_retry_repairs(tmp_path, sqlite_engine, dev_env):
    settings = settings_for(tmp_path)
    dead = await Client.connect("127.0.0.1:1", lazy=True)
    app = create_app(settings, engine=sqlite_engine, client=dead)
    checkout = unique_checkout()
    body = json.dumps(checkout).encode()
    headers = shopify_headers(body)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            started = time.monotonic()
            response = await client.post("/webhooks/shopify", content=body, headers=headers)
            assert response.status_code == 503
            assert "workflow engine" in response.json()["detail"]
            assert time.monotonic() - started < 6
            assert (await client.get("/healthz")).status_code == 503
    assert carts(sqlite_engine) == 1  # stored with its receipt, complete
    app = create_app(settings, engine=sqlite_engine, client=dev_env.client)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            retry = await client.post("/webhooks/shopify", content=body, headers=headers)
            assert retry.status_code == 200
            assert (await client.get("/healthz")).json() == {"status": "ok", "database": "ok", "temporal": "ok"}
    # the platform's retry started the journey the outage had left unstarted
    key = cart_key("t.myshopify.com", checkout["token"])
    description = await dev_env.client.get_workflow_handle(workflow_id("t.myshopify.com", key)).describe()
    assert description.task_queue == settings.task_queue


async def test_database_down_is_503(tmp_path, dev_env):
    broken = create_engine(f"sqlite:///{tmp_path}/missing-dir/app.db")
    app = create_app(settings_for(tmp_path), engine=broken, client=dev_env.client)
    from services.ingest.journeys import Journeys
    from workflows.types import ClockSpec

    app.state.clock = ClockSpec()
    app.state.journeys = Journeys(dev_env.client, app.state.settings, app.state.clock)
    body = json.dumps(shopify_fixture("checkouts_create")).encode()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.post("/webhooks/shopify", content=body, headers=shopify_headers(body))
        assert response.status_code == 503
        assert response.json()["detail"] == "database unavailable; retry later"
        health = await client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["database"].startswith("unavailable")


async def test_a_held_database_lock_is_a_quick_503_everywhere(tmp_path, dev_env):
    settings = settings_for(tmp_path).model_copy(update={"api_lock_wait_seconds": 0.5})
    app = create_app(settings, client=dev_env.client)
    body = json.dumps(unique_checkout()).encode()
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            holder = sqlite3.connect(tmp_path / "cartrecovery.db")  # another process, say, mid-transaction
            holder.execute("BEGIN IMMEDIATE")
            try:
                started = time.monotonic()
                webhook = await client.post("/webhooks/shopify", content=body, headers=shopify_headers(body))
                waited = time.monotonic() - started
                key = await client.post(
                    "/v1/keys", json={"role": "viewer"}, headers={"Authorization": f"Bearer {ADMIN}"}
                )
            finally:
                holder.rollback()
                holder.close()
            assert webhook.status_code == 503, webhook.text
            assert waited < 3, waited  # the lock wait, not SQLite's 30 s
            assert key.status_code == 503, key.text
            assert key.headers["Retry-After"]
            retry = await client.post("/webhooks/shopify", content=body, headers=shopify_headers(body))
            assert retry.status_code == 200, retry.text


async def test_a_fault_of_ours_in_the_database_is_a_500_not_a_503_that_would_be_retried_for_ever(tmp_path, dev_env):
    app = create_app(settings_for(tmp_path), client=dev_env.client)
    with sqlite3.connect(tmp_path / "cartrecovery.db") as db:
        db.execute("ALTER TABLE carts DROP COLUMN stage")  # an old schema, say
    body = json.dumps(unique_checkout()).encode()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post("/webhooks/shopify", content=body, headers=shopify_headers(body))
    assert response.status_code == 500
    assert carts(app.state.engine) == 0


@pytest.mark.parametrize(
    "header,status", [(None, 401), ("Bearer nope", 401), ("Basic x", 401), (f"Bearer {ADMIN}", 404)]
)
async def test_v1_requires_the_admin_key(api, header, status):
    headers = {"Authorization": header} if header else {}
    response = await api.get("/v1/carts/unknown", headers=headers)
    assert response.status_code == status
    if status == 404:
        assert response.json()["detail"] == "no cart 'unknown'"


async def test_report_rejects_inverted_range(api):
    response = await api.get(
        "/v1/reports/recovery",
        params={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert response.status_code == 422
    assert "since" in response.json()["detail"]
