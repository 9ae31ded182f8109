"""Typed dependencies shared by the routers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.core.clock import utc
from services.core.settings import Settings
from services.ingest.journeys import Journeys
from services.reports import recovery_report
from services.reports.scope import ReportScope
from workflows.types import ClockSpec


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_clock(request: Request) -> ClockSpec:
    return request.app.state.clock


def get_journeys(request: Request) -> Journeys:
    journeys = request.app.state.journeys
    if journeys is None:
        raise HTTPException(503, "the workflow engine is not connected yet; retry shortly")
    return journeys


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
ClockDep = Annotated[ClockSpec, Depends(get_clock)]
JourneysDep = Annotated[Journeys, Depends(get_journeys)]


def report_scope(
    shop: Annotated[str | None, Query(max_length=255, description="one shop; all shops when absent")] = None,
    since: Annotated[
        datetime | None, Query(description="abandoned at or after (ISO 8601; UTC unless an offset is given)")
    ] = None,
    until: Annotated[datetime | None, Query(description="abandoned before (ISO 8601, exclusive)")] = None,
) -> ReportScope:
    since, until = utc(since), utc(until)
    if since and until and since >= until:
        raise HTTPException(422, "'since' must be before 'until'")
    return ReportScope(shop or None, since, until)


ScopeDep = Annotated[ReportScope, Depends(report_scope)]


async def load_report(engine: Engine, scope: ReportScope) -> dict:
    def load():
        with Session(engine) as session:
            return recovery_report(session, scope.shop, scope.since, scope.until)

    return await run_in_threadpool(load)
