"""The recovery dashboard page (role viewer): a date range and shop form, the headline table and
charts. The report is embedded as JSON (`<script type="application/json" id="report-data">`) and
drawn by services/api/static/dashboard.js with the vendored Chart.js - nothing from a CDN.

Stable element ids for browser tests: #report-form, #headline, #chart-rate, #chart-channel,
#chart-reason, #chart-bucket, #chart-touch, #chart-daily, #report-data, #table-template,
#table-platform, #model-status, #send-timing, #report-error.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from markupsafe import Markup
from pydantic_core import to_jsonable_python
from sqlmodel import Session

from services.api.auth import Principal
from services.api.deps import EngineDep, SettingsDep, load_report
from services.api.pages import render_page
from services.api.pages.access import require_page_role
from services.core.bounds import SHOP_PATTERN, within_calendar
from services.core.lateness import BEHIND_AFTER_S
from services.model_ops.overview import models_overview
from services.reports.headline import headline_rows
from services.reports.scope import ReportScope
from services.reports.send_timing import send_timing

router = APIRouter(tags=["reports pages"], include_in_schema=False)
ViewerPage = Annotated[Principal, Depends(require_page_role("viewer"))]


def _day(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{field}' must be a date like 2024-05-31, not {value[:40]!r}") from None


def _midnight(day: date | None, field: str) -> datetime | None:
    if day is None:
        return None
    try:
        return within_calendar(datetime.combine(day, time(), UTC))
    except ValueError as err:
        raise ValueError(f"'{field}' {err}") from None


def scope_from_form(shop: str, since: str, to: str) -> ReportScope:
    """`to` is inclusive, as date pickers read: the report covers carts abandoned until the end of
    that day (UTC). Raises ValueError with a message for the page."""
    shop = shop.strip()
    if shop and not re.fullmatch(SHOP_PATTERN, shop):
        raise ValueError("'shop' may hold only letters, digits, '.', '_' and '-'")
    first, last = _day(since, "from"), _day(to, "to")
    if first and last and first > last:
        raise ValueError("'from' must not be after 'to'")
    start = _midnight(first, "from")
    end = _midnight(last, "to")
    if end is not None:
        end += timedelta(days=1)  # cannot overflow: `last` lies within the calendar bounds
    return ReportScope(shop or None, start, end)


def embedded_json(data: dict) -> Markup:
    """JSON safe inside a <script> element: no '</script>' or '<!--' can end it early."""
    text = json.dumps(to_jsonable_python(data), separators=(",", ":"))  # as the JSON endpoint encodes it
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


@router.get("/dashboard")
async def dashboard(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    _viewer: ViewerPage,
    shop: str = Query("", max_length=255),
    since: str = Query("", max_length=40),
    to: str = Query("", max_length=40),
):
    form = {"shop": shop, "since": since, "to": to}
    try:
        scope = scope_from_form(shop, since, to)
    except ValueError as err:
        return render_page(request, "dashboard.html", status_code=422, form=form, error=str(err), report=None)
    report = await load_report(engine, scope, settings)
    models, timing = await run_in_threadpool(_operations, engine, settings)
    query = {k: v.isoformat() for k, v in (("since", scope.since), ("until", scope.until)) if v}
    if scope.shop:
        query["shop"] = scope.shop
    suffix = f"?{urlencode(query)}" if query else ""
    return render_page(
        request,
        "dashboard.html",
        form=form,
        error=None,
        report=report,
        headline=headline_rows(report),
        report_json=embedded_json(report),
        json_url=f"/v1/reports/recovery{suffix}",
        csv_url=f"/v1/reports/recovery.csv{suffix}",
        models=models,
        timing=timing,
        behind_after_s=BEHIND_AFTER_S,
    )


def _operations(engine, settings) -> tuple[list[dict], dict]:
    """Each model's status line (the same as GET /v1/models and `cartrecovery status`), and how late
    the latest sends left."""
    with Session(engine) as session:
        models = models_overview(session, settings)["models"]
        timing = send_timing(session, settings.time_scale)
    for model in models:  # the badge shows the status: the line without it ("Learning: needs ..." -> "needs ...")
        model["detail"] = model["line"].removeprefix(model["status"]).lstrip(":, ")
    return models, timing
