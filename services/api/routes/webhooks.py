"""POST /webhooks/shopify and POST /webhooks/generic.

Order of checks, each with its own status: size (413) -> signature (401) -> JSON (400) ->
schema (422) -> topic (200 ignored) -> duplicate delivery (200) -> store -> journeys (503 if the
database - services/api/app.py answers for it on every route - or Temporal is unreachable; the
platform retries and the retry repairs everything).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from temporalio.service import RPCError

from services.api.database import Database
from services.api.deps import get_journeys
from services.core.bounds import BodyError, load_json
from services.core.clock import service_now
from services.core.events import GenericWebhook, Ignored, PrivacyRequest
from services.core.settings import Settings
from services.core.signing import generic_signature_valid, shopify_hmac_valid
from services.ingest import intake
from services.ingest.journeys import Journeys
from services.ingest.platforms import PayloadError, generic, shopify
from workflows.types import ClockSpec

log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks", tags=["webhooks"])

_SHOP_DOMAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,254}$")
TEMPORAL_TIMEOUT_S = 5


@dataclass(frozen=True)
class Intake:
    """What a webhook needs of the app, as one dependency: FastAPI resolves each dependency and
    header per request, and on this path that showed in the ingest benchmark."""

    settings: Settings
    database: Database
    clock: ClockSpec
    journeys: Journeys


async def intake_context(request: Request) -> Intake:
    state = request.app.state
    return Intake(state.settings, state.database, state.clock, await get_journeys(request))


IntakeDep = Annotated[Intake, Depends(intake_context)]


@router.post(
    "/shopify",
    summary="Shopify webhooks (checkouts, orders, customers, mandatory privacy topics)",
    responses={400: {}, 401: {}, 413: {}, 422: {}, 503: {}},
)
async def shopify_webhook(
    request: Request,
    ctx: IntakeDep,
    x_shopify_topic: Annotated[str | None, Header()] = None,
    x_shopify_hmac_sha256: Annotated[str | None, Header()] = None,
    x_shopify_webhook_id: Annotated[str | None, Header()] = None,
    x_shopify_shop_domain: Annotated[str | None, Header()] = None,
) -> dict:
    body = await read_body(request, ctx.settings.max_webhook_bytes)
    if not ctx.settings.shopify_webhook_secret:
        raise HTTPException(401, "Shopify webhooks cannot be verified: CR_SHOPIFY_WEBHOOK_SECRET is not set")
    if not shopify_hmac_valid(ctx.settings.shopify_webhook_secret, body, x_shopify_hmac_sha256):
        raise HTTPException(401, "invalid or missing X-Shopify-Hmac-Sha256 signature")
    payload = parse_json(body)
    if not x_shopify_topic:
        raise HTTPException(400, "missing X-Shopify-Topic header")
    shop = x_shopify_shop_domain or "default"
    if not _SHOP_DOMAIN.match(shop):
        raise HTTPException(400, "X-Shopify-Shop-Domain is not a shop domain")
    try:
        event = shopify.parse(x_shopify_topic, payload)
    except PayloadError as err:
        raise HTTPException(422, validation_detail(err)) from None
    if isinstance(event, Ignored):
        log.info("ignored Shopify topic %s", x_shopify_topic)
        return {"status": "ignored", "detail": f"topic {x_shopify_topic} is not handled"}
    delivery = x_shopify_webhook_id or hashlib.sha256(body).hexdigest()
    return await handle(
        ctx,
        shop,
        "shopify",
        receipt_key("shopify", shop, delivery),
        x_shopify_topic,
        event,
    )


@router.post(
    "/generic",
    summary="Any platform: carts, orders, consent, behaviour signals, privacy requests",
    description=(
        "Body: the GenericWebhook JSON below. Sign it like Shopify does, with a timestamp against replays: "
        "`X-Cartrecovery-Timestamp: <unix seconds>` and `X-Cartrecovery-Hmac-Sha256: base64(HMAC-SHA256(CR_WEBHOOK_SECRET, "
        "'<timestamp>.' + raw body))`. Deliveries more than 5 minutes old are refused; a repeated `id` is acknowledged once."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GenericWebhook"}}},
        }
    },
    responses={400: {}, 401: {}, 413: {}, 422: {}, 503: {}},
)
async def generic_webhook(
    request: Request,
    ctx: IntakeDep,
    x_cartrecovery_hmac_sha256: Annotated[str | None, Header()] = None,
    x_cartrecovery_timestamp: Annotated[str | None, Header()] = None,
) -> dict:
    body = await read_body(request, ctx.settings.max_webhook_bytes)
    if not ctx.settings.webhook_secret:
        raise HTTPException(401, "generic webhooks cannot be verified: CR_WEBHOOK_SECRET is not set")
    if not generic_signature_valid(
        ctx.settings.webhook_secret, body, x_cartrecovery_hmac_sha256, x_cartrecovery_timestamp
    ):
        raise HTTPException(
            401, "invalid, missing or expired X-Cartrecovery-Hmac-Sha256 / X-Cartrecovery-Timestamp signature"
        )
    payload = parse_json(body)
    try:
        webhook: GenericWebhook = generic.parse(payload)
    except PayloadError as err:
        raise HTTPException(422, validation_detail(err)) from None
    event = webhook.event
    return await handle(
        ctx,
        webhook.shop,
        "generic",
        receipt_key("generic", webhook.shop, webhook.id),
        event.type,
        event,
    )


def receipt_key(platform: str, shop: str, delivery: str) -> str:
    """The dedupe key of a delivery. The delivery id comes from an unsigned header (Shopify's
    X-Shopify-Webhook-Id) and may be any length: a long one is kept as its digest."""
    key = f"{platform}:{shop}:{delivery}"
    return key if len(key) <= 300 else f"{platform}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


async def handle(ctx: Intake, shop, platform, receipt_id, topic, event) -> dict:
    try:
        now = service_now(ctx.clock)
        # A privacy request's erasure or export can touch many rows: never on the event loop.
        write = ctx.database.in_thread if isinstance(event, PrivacyRequest) else ctx.database.write
        stored = await write(intake.store_event, ctx.settings, shop, platform, event, now, receipt_id, topic)
        async with asyncio.timeout(TEMPORAL_TIMEOUT_S):
            await intake.tell_journeys(ctx.journeys, shop, stored.actions)
    except (TimeoutError, RPCError, ConnectionError, RuntimeError):
        # RuntimeError: the SDK's "failed client connect" when the server is down
        log.exception("workflow engine unavailable while handling %s", topic)
        raise HTTPException(503, "workflow engine unavailable; retry later") from None
    if stored.duplicate:
        return {"status": "duplicate", "detail": "this delivery was already processed"}
    response: dict[str, Any] = {"status": "accepted", "detail": stored.summary}
    if stored.body is not None:
        response["data"] = stored.body
    return response


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes):
    """400 for a body that is not JSON at all, 422 naming the field for one that breaks a bound."""
    try:
        return load_json(body)
    except BodyError as err:
        if err.malformed:
            raise HTTPException(400, err.message) from None
        raise HTTPException(422, [{"field": err.field, "message": err.message}]) from None


def validation_detail(err: PayloadError) -> list[dict]:
    """Field paths and messages; the adapters never echo submitted values (they may be personal)."""
    return [{"field": field, "message": message} for field, message in err.field_errors]
