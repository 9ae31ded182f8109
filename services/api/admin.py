"""The /v1 API: cart journeys and recovery reports (Bearer CR_ADMIN_API_KEY)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from services.api.auth import ViewerDep
from services.api.deps import EngineDep
from services.reports import recovery_report
from services.store.views import cart_journey, find_cart

router = APIRouter(prefix="/v1", tags=["journeys and reports"], dependencies=[ViewerDep])


@router.get("/carts/{cart_id}", summary="A cart's journey: state, touches, decision log and outcome")
async def get_cart(engine: EngineDep, cart_id: str, shop: str | None = Query(None, max_length=255)) -> dict:
    def load():
        with Session(engine) as session:
            cart = find_cart(session, cart_id, shop)
            return cart_journey(session, cart) if cart is not None else None

    journey = await run_in_threadpool(load)
    if journey is None:
        raise HTTPException(404, f"no cart {cart_id!r}" + (f" in shop {shop!r}" if shop else ""))
    return journey


@router.get("/reports/recovery", summary="Recovery rate, recovered revenue, by channel, lift over the holdout")
async def get_recovery_report(
    engine: EngineDep,
    shop: str | None = Query(None, max_length=255),
    since: datetime | None = Query(None, description="abandoned at or after (ISO 8601)"),
    until: datetime | None = Query(None, description="abandoned before (ISO 8601)"),
) -> dict:
    if since and until and since >= until:
        raise HTTPException(422, "'since' must be before 'until'")

    def load():
        with Session(engine) as session:
            return recovery_report(session, shop, since, until)

    return await run_in_threadpool(load)
