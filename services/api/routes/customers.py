"""GDPR / CCPA for one customer: export everything held, or erase it and stop their journeys."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session
from temporalio.service import RPCError

from services.api.auth import AdminDep
from services.api.deps import ClockDep, EngineDep, JourneysDep
from services.core.clock import service_now
from services.store.privacy import erase_by_id, export
from services.store.tables import Customer
from workflows.cart_recovery import CartRecoveryWorkflow

router = APIRouter(prefix="/v1/customers", tags=["customers"], dependencies=[AdminDep])


@router.get("/{customer_id}/export", summary="Everything held about a customer (GDPR art. 15)")
async def export_customer(engine: EngineDep, customer_id: str) -> dict:
    def load():
        with Session(engine) as session:
            customer = session.get(Customer, customer_id)
            return export(session, customer) if customer is not None else None

    data = await run_in_threadpool(load)
    if data is None:
        raise HTTPException(404, f"no customer {customer_id!r}")
    return data


@router.delete("/{customer_id}", summary="Erase a customer's personal data and stop their journeys (GDPR art. 17)")
async def erase_customer(engine: EngineDep, clock: ClockDep, journeys: JourneysDep, customer_id: str) -> dict:
    now = service_now(clock)

    def erase():
        with Session(engine) as session:
            running = erase_by_id(session, customer_id, now)
            session.commit()
            return running

    running = await run_in_threadpool(erase)
    if running is None:
        raise HTTPException(404, f"no customer {customer_id!r}")
    unreached = 0
    for shop, key in running:
        try:
            await journeys.signal(shop, key, CartRecoveryWorkflow.erase)
        except (RPCError, RuntimeError):
            # The data is gone already: a journey not told now finds no contact at its next step.
            unreached += 1
    return {"status": "erased", "journeys_stopped": len(running) - unreached, "journeys_not_reached": unreached}
