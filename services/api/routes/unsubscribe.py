"""One-click unsubscribe (RFC 8058): GET shows a confirmation page, POST unsubscribes at once."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlmodel import Session, select

from services.api.deps import ClockDep, EngineDep, JourneysDep, SettingsDep
from services.core.clock import service_now
from services.core.events import ConsentChange
from services.messaging.unsubscribe import read_token
from services.store.customers import record_consents
from services.store.tables import Cart, Customer
from workflows.cart_recovery import CartRecoveryWorkflow
from workflows.types import ConsentChanged

router = APIRouter(tags=["unsubscribe"])

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem">{body}</body></html>"""


@router.get("/unsubscribe/{token}", response_class=HTMLResponse, include_in_schema=False)
async def confirm_page(token: str, settings: SettingsDep) -> HTMLResponse:
    request = read_token(settings.signing_key(), token)
    if request is None:
        raise HTTPException(404, "this unsubscribe link is invalid or has expired")
    body = (
        f"<h1>Unsubscribe</h1><p>Stop {escape(request.channel)} messages about carts from {escape(settings.shop_name)}?</p>"
        f'<form method="post"><button type="submit">Unsubscribe</button></form>'
    )
    return HTMLResponse(_PAGE.format(title="Unsubscribe", body=body))


@router.post("/unsubscribe/{token}", response_class=HTMLResponse, summary="One-click unsubscribe (RFC 8058)")
async def unsubscribe(
    token: str, settings: SettingsDep, engine: EngineDep, clock: ClockDep, journeys: JourneysDep
) -> HTMLResponse:
    request = read_token(settings.signing_key(), token)
    if request is None:
        raise HTTPException(404, "this unsubscribe link is invalid or has expired")
    now = service_now(clock)

    def revoke() -> list[tuple[str, str]]:
        with Session(engine) as session:
            customer = session.get(Customer, request.customer_id)
            if customer is None or customer.erased_at is not None:
                return []
            change = ConsentChange(
                channel=request.channel, state="revoked", source="unsubscribe_link", evidence="one-click link", at=now
            )
            record_consents(session, customer.id, [change], now)
            carts = session.exec(
                select(Cart.shop, Cart.id).where(Cart.customer_id == customer.id, Cart.status == "open")
            ).all()
            session.commit()
            return list(carts)

    for shop, key in await run_in_threadpool(revoke):
        await journeys.signal(shop, key, CartRecoveryWorkflow.consent_changed, ConsentChanged())
    body = f"<h1>You are unsubscribed</h1><p>You will not receive further {escape(request.channel)} messages about your cart.</p>"
    return HTMLResponse(_PAGE.format(title="Unsubscribed", body=body))
