"""The learned models: their status and versions (viewer), and retraining on demand (admin).

`GET /v1/models` reads the database only. Starting or watching a retraining talks to Temporal;
when it is unreachable the answer is 503, as for webhooks (reading a run waits up to 5 s more for
a worker to answer its progress query).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlmodel import Session
from temporalio.service import RPCError

from services.api.auth import AdminDep, Principal, ViewerDep
from services.api.deps import EngineDep, SettingsDep, get_journeys
from services.model_ops.overview import models_overview
from services.model_ops.retraining import RetrainAlreadyRunning, Retraining

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/models", tags=["models"])
TEMPORAL_TIMEOUT_S = 5
UNAVAILABLE = (RPCError, asyncio.TimeoutError, ConnectionError, RuntimeError)


async def get_retraining(request: Request) -> Retraining:
    journeys = await get_journeys(request)  # 503 while the workflow engine is not connected
    retraining = getattr(request.app.state, "retraining", None)
    if retraining is None or retraining.client is not journeys.client:
        retraining = request.app.state.retraining = Retraining(journeys.client, request.app.state.settings)
    return retraining


RetrainingDep = Annotated[Retraining, Depends(get_retraining)]


@router.get(
    "",
    summary="Each model's status (Learning / Active / Alert), what it still needs, its active version; recent versions",
    dependencies=[ViewerDep],
)
async def get_models(engine: EngineDep, settings: SettingsDep) -> dict:
    def load() -> dict:
        with Session(engine) as session:
            return models_overview(session, settings)

    try:
        return await run_in_threadpool(load)
    except OperationalError:
        log.exception("database unavailable while reading model status")
        raise HTTPException(503, "database unavailable; retry later") from None


@router.post(
    "/retrain",
    status_code=202,
    summary="Start a retraining now (RetrainWorkflow); 409 with the running one's id when one is running",
    responses={409: {}, 503: {}},
)
async def start_retraining(principal: Annotated[Principal, AdminDep], retraining: RetrainingDep):
    try:
        workflow_id = await asyncio.wait_for(retraining.start("manual", principal.role), TEMPORAL_TIMEOUT_S)
    except RetrainAlreadyRunning as running:
        return JSONResponse({"detail": str(running), "workflow_id": running.workflow_id}, status_code=409)
    except UNAVAILABLE:
        log.exception("workflow engine unavailable while starting a retraining")
        raise HTTPException(503, "workflow engine unavailable; retry later") from None
    return {"workflow_id": workflow_id, "status": "started", "progress_url": f"/v1/models/retrain/{workflow_id}"}


@router.get(
    "/retrain/{workflow_id:path}",
    summary="A retraining's progress while it runs (step, done, total), then its result per model",
    dependencies=[ViewerDep],
    responses={404: {}, 503: {}},
)
async def retraining_state(
    retraining: RetrainingDep,
    workflow_id: Annotated[str, Path(max_length=200, description="as returned by POST /v1/models/retrain")],
) -> dict:
    try:
        state = await asyncio.wait_for(retraining.state(workflow_id), TEMPORAL_TIMEOUT_S * 2)
    except LookupError as err:
        raise HTTPException(404, str(err)) from None
    except UNAVAILABLE:
        log.exception("workflow engine unavailable while reading a retraining")
        raise HTTPException(503, "workflow engine unavailable; retry later") from None
    return dataclasses.asdict(state)
