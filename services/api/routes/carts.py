"""The /v1 API: cart journeys (role viewer). Recovery reports: services/api/routes/reports.py."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from services.api.auth import ViewerDep
from services.api.deps import EngineDep
from services.store.db import snapshot
from services.store.views import cart_journey, find_cart

router = APIRouter(prefix="/v1", tags=["journeys and reports"], dependencies=[ViewerDep])


@router.get("/carts/{cart_id}", summary="A cart's journey: state, touches, decision log and outcome")
async def get_cart(engine: EngineDep, cart_id: str, shop: str | None = Query(None, max_length=255)) -> dict:
    def load():
        with Session(engine) as session:
            snapshot(session)
            cart = find_cart(session, cart_id, shop)
            return cart_journey(session, cart) if cart is not None else None

    journey = await run_in_threadpool(load)
    if journey is None:
        raise HTTPException(404, f"no cart {cart_id!r}" + (f" in shop {shop!r}" if shop else ""))
    return journey
