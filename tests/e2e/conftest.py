"""The whole service on loopback: real Temporal dev server, worker, uvicorn API, SMTP and HTTP sinks."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest
import uvicorn
from sqlmodel import Session, select

from services.api.app import create_app
from services.core.settings import Settings
from services.core.signing import sign_generic, sign_shopify
from services.entrypoints.worker import build_worker
from services.store.db import make_engine
from services.store.tables import Message
from tests.utils.e2e.log_scan import remember
from tests.utils.e2e.sinks import HttpSink, SmtpSink, free_port

SHOPIFY_SECRET = "shopify-test-secret"
GENERIC_SECRET = "generic-test-secret"


class Service:
    def __init__(self, settings: Settings, engine, client: httpx.AsyncClient, temporal, smtp: SmtpSink, http: HttpSink):
        self.settings, self.engine, self.http, self.temporal, self.smtp, self.sink = (
            settings,
            engine,
            client,
            temporal,
            smtp,
            http,
        )
        # journeys of every test share one dev server: a shop per test keeps their workflow ids apart
        self.shop = f"e2e-{uuid.uuid4().hex[:8]}.myshopify.com"
        self.generic_shop = f"e2e-{uuid.uuid4().hex[:8]}"

    async def shopify(self, topic: str, payload: dict | bytes, webhook_id: str | None = None) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        remember(json.loads(body))
        headers = {
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": sign_shopify(SHOPIFY_SECRET, body),
            "X-Shopify-Shop-Domain": self.shop,
            "X-Shopify-Webhook-Id": webhook_id or uuid.uuid4().hex,
            "Content-Type": "application/json",
        }
        return await self.http.post("/webhooks/shopify", content=body, headers=headers)

    async def generic(self, event: dict, delivery_id: str | None = None) -> httpx.Response:
        remember(event)
        body = json.dumps({"id": delivery_id or uuid.uuid4().hex, "shop": self.generic_shop, "event": event}).encode()
        ts = str(int(time.time()))
        headers = {"X-Cartrecovery-Timestamp": ts, "X-Cartrecovery-Hmac-Sha256": sign_generic(GENERIC_SECRET, body, ts)}
        return await self.http.post("/webhooks/generic", content=body, headers=headers)

    async def cart(self, cart_id: str, generic: bool = False) -> dict:
        shop = self.generic_shop if generic else self.shop
        response = await self.http.get(f"/v1/carts/{cart_id}", params={"shop": shop}, headers=self.admin)
        assert response.status_code == 200, response.text
        return response.json()

    @property
    def admin(self) -> dict:
        return {"Authorization": f"Bearer {self.settings.admin_api_key}"}

    def sent_messages(self) -> list[Message]:
        with Session(self.engine) as session:
            return list(session.exec(select(Message).where(Message.status == "sent")))


@pytest.fixture
async def service(dev_env, tmp_path, request):
    """Settings come from the test's `service_settings` marker kwargs, on top of e2e defaults."""
    marker = request.node.get_closest_marker("service_settings")
    overrides = dict(marker.kwargs) if marker else {}
    with SmtpSink() as smtp, HttpSink() as http_sink:
        channel_urls = {
            "email_url": f"mailto://127.0.0.1:{smtp.port}?to={{to}}&from=shop%40example.com&mode=insecure",
            "sms_url": http_sink.url("sms?:to={to}"),
            "push_url": http_sink.url("push?:to={to}"),
            "retargeting_url": http_sink.url("audience?:to={to}"),
        }
        base = dict(
            data_dir=tmp_path,
            database_url=f"sqlite:///{tmp_path / 'app.db'}",
            api_port=free_port(),
            shopify_webhook_secret=SHOPIFY_SECRET,
            webhook_secret=GENERIC_SECRET,
            admin_api_key="admin-key-for-e2e-tests",
            email_from="shop@example.com",
            shop_name="E2E Shop",
            shop_address="1 Test Street, Springfield",
            time_scale=7200,
            holdout_percent=0,
            task_queue=f"e2e-{uuid.uuid4().hex[:8]}",
            # journeys here assert the rule prior's documented choices; exploration would vary them
            policy="rules",
        )
        enabled = overrides.pop("channels", ("email", "sms", "push", "retargeting"))
        base.update({f"{c}_url": u for c, u in ((k[:-4], v) for k, v in channel_urls.items()) if c in enabled})
        base.update(overrides)
        settings = Settings(_env_file=None, **base)
        engine = make_engine(settings.database_url)
        app = create_app(settings, engine=engine, client=dev_env.client)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.api_port, log_level="warning"))
        async with build_worker(dev_env.client, settings, engine):
            serving = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.05)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.api_port}", timeout=30) as client:
                yield Service(settings, engine, client, dev_env.client, smtp, http_sink)
            server.should_exit = True
            await serving
        engine.dispose()
