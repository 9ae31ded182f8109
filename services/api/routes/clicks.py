"""`GET /c/{token}`: a shopper opened the cart link of a message. The first click is recorded
(messages.clicked_at, the per-channel engagement the models learn from), then the browser is
sent on to the cart's recovery URL. A link that is forged, mangled or whose cart is gone answers
a short 404 page; no login, nothing personal in the link (services/messaging/click_links.py)."""

from __future__ import annotations

from datetime import datetime
from html import escape

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from services.api.deps import ClockDep, EngineDep, SettingsDep
from services.core.clock import service_now
from services.messaging.click_links import read_click_token
from services.store.tables import Cart, Message

router = APIRouter(tags=["click tracking"])

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Link not found</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem">
<h1>Link not found</h1><p>{message}</p></body></html>"""


def _not_found(message: str) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(message=escape(message)), status_code=404)


def record_click(engine: Engine, cart_id: str, touch: int, now: datetime) -> str | None:
    """Mark the message clicked (the first click only) and return where the cart link leads."""
    with Session(engine) as session:
        session.execute(
            update(Message)
            .where(col(Message.cart_id) == cart_id, col(Message.touch) == touch, col(Message.clicked_at).is_(None))
            .values(clicked_at=now)
        )
        cart = session.get(Cart, cart_id)
        target = cart.recovery_url if cart is not None else None
        session.commit()
    return target


@router.get(
    "/c/{token}",
    summary="Tracked cart link: record the click, redirect to the cart",
    status_code=302,
    response_class=RedirectResponse,
    responses={404: {"description": "unknown or forged link"}},
)
async def follow_cart_link(token: str, settings: SettingsDep, engine: EngineDep, clock: ClockDep) -> Response:
    found = read_click_token(settings.signing_key(), token)
    if found is None:
        return _not_found("This link is not valid. Please use the link from your message, or visit the shop directly.")
    target = await run_in_threadpool(record_click, engine, *found, service_now(clock))
    if not target or not target.lower().startswith(("https://", "http://")):
        return _not_found(f"This cart is no longer available. Please visit {settings.shop_name} directly.")
    return RedirectResponse(
        target, status_code=302, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )
