"""The recovery report as JSON and CSV (role viewer). The dashboard page (services/api/pages/dashboard.py)
shows the same numbers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.api.auth import ViewerDep
from services.api.deps import EngineDep
from services.core.clock import utc
from services.reports import recovery_report
from services.reports.csv_export import SPLITS, report_csv
from services.reports.scope import ReportScope

router = APIRouter(prefix="/v1/reports", tags=["journeys and reports"], dependencies=[ViewerDep])


def report_scope(
    shop: str | None = Query(None, max_length=255, description="one shop; all shops when absent"),
    since: datetime | None = Query(None, description="abandoned at or after (ISO 8601; UTC unless an offset is given)"),
    until: datetime | None = Query(None, description="abandoned before (ISO 8601, exclusive)"),
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


@router.get(
    "/recovery",
    summary="Recovery rate, revenue, time to recovery, lift over the holdout; by channel, touch, template, reason, bucket, platform, day",
)
async def get_recovery_report(engine: EngineDep, scope: ScopeDep) -> dict:
    return await load_report(engine, scope)


@router.get(
    "/recovery.csv",
    summary="The recovery report as CSV: every section in one file, or one split",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def get_recovery_report_csv(
    engine: EngineDep,
    scope: ScopeDep,
    split: str | None = Query(
        None, pattern=f"^({'|'.join(SPLITS)})$", description=f"only this section, as a plain table: {', '.join(SPLITS)}"
    ),
) -> Response:
    report = await load_report(engine, scope)
    name = f"recovery-{split or 'report'}.csv"
    return Response(
        report_csv(report, split),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
