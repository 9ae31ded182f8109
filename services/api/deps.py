"""Typed dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from sqlmodel import Session

from channel_models.economics import Economics
from services.core.bounds import SHOP_FILTER_PATTERN, Moment
from services.core.settings import Settings
from services.ingest.journeys import Journeys
from services.reports import recovery_report
from services.reports.scope import ReportScope
from workflows.types import ClockSpec


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


async def get_clock(request: Request) -> ClockSpec:
    return request.app.state.clock


async def get_journeys(request: Request) -> Journeys:
    journeys = request.app.state.journeys
    if journeys is None:
        raise HTTPException(503, "the workflow engine is not connected yet; retry shortly")
    return journeys


# A row id in a URL: bounded so that no database is asked to compare a number wider than its column.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
VersionNumber = Annotated[int, Query(ge=1, le=2**31 - 1)]

SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
ClockDep = Annotated[ClockSpec, Depends(get_clock)]
JourneysDep = Annotated[Journeys, Depends(get_journeys)]


async def report_scope(
    shop: Annotated[
        str | None, Query(pattern=SHOP_FILTER_PATTERN, description="one shop; all shops when absent or empty")
    ] = None,
    since: Annotated[
        Moment | None, Query(description="abandoned at or after (ISO 8601; UTC unless an offset is given)")
    ] = None,
    until: Annotated[Moment | None, Query(description="abandoned before (ISO 8601, exclusive)")] = None,
) -> ReportScope:
    if since and until and since >= until:
        raise HTTPException(422, "'since' must be before 'until'")
    return ReportScope(shop or None, since, until)


ScopeDep = Annotated[ReportScope, Depends(report_scope)]


async def load_report(engine: Engine, scope: ReportScope, settings: Settings) -> dict:
    costs = Economics.from_settings(settings).incentive_costs()

    def load():
        with Session(engine) as session:
            return recovery_report(session, scope.shop, scope.since, scope.until, costs)

    return await run_in_threadpool(load)
