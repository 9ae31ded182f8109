"""The recovery report as JSON and CSV (role viewer). The dashboard page (services/api/pages/dashboard.py)
shows the same numbers."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.api.auth import ViewerDep
from services.api.deps import EngineDep, ScopeDep, SettingsDep, load_report
from services.reports.csv_export import SPLITS, report_csv

router = APIRouter(prefix="/v1/reports", tags=["journeys and reports"], dependencies=[ViewerDep])


@router.get(
    "/recovery",
    summary="Recovery rate, revenue, time to recovery, lift over the holdout; by channel, touch, template, reason, bucket, platform, day",
)
async def get_recovery_report(engine: EngineDep, scope: ScopeDep, settings: SettingsDep) -> dict:
    return await load_report(engine, scope, settings)


@router.get(
    "/recovery.csv",
    summary="The recovery report as CSV: every section in one file, or one split",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def get_recovery_report_csv(
    engine: EngineDep,
    scope: ScopeDep,
    settings: SettingsDep,
    split: str | None = Query(
        None, pattern=f"^({'|'.join(SPLITS)})$", description=f"only this section, as a plain table: {', '.join(SPLITS)}"
    ),
) -> Response:
    report = await load_report(engine, scope, settings)
    name = f"recovery-{split or 'report'}.csv"
    return Response(
        report_csv(report, split),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
