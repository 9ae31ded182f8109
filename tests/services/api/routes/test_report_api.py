"""The recovery report through the real app - JSON, CSV, the dashboard page - and through
`cartrecovery report`, on the rows of tests/utils/report_rows.py."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import uuid
from types import SimpleNamespace

import httpx
import pytest
from sqlmodel import Session

from services.api.app import create_app
from services.core.settings import Settings
from services.store.api_keys import create_key
from tests.utils.cli import run_cli_sync
from tests.utils.report_rows import fixture_rows, insert

ADMIN = "admin-key-0123456789"
MAY = {"shop": "shop-a", "since": "2024-05-01", "until": "2024-06-01"}
CHART_IDS = ("chart-rate", "chart-channel", "chart-reason", "chart-bucket", "chart-touch", "chart-daily")


@pytest.fixture
async def api(tmp_path, engine):
    insert(engine, fixture_rows)
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        webhook_secret="generic-secret",
        admin_api_key=ADMIN,
        task_queue=f"reports-{uuid.uuid4().hex[:8]}",
    )
    app = create_app(settings, engine=engine, client=SimpleNamespace())  # reports never reach Temporal
    with Session(engine) as session:
        _, viewer = create_key(session, "report reader", "viewer", created_by="test")
        session.commit()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.headers["Authorization"] = f"Bearer {viewer}"
            yield client


async def test_json_report_for_a_viewer(api):
    response = await api.get("/v1/reports/recovery", params=MAY)
    assert response.status_code == 200, response.text
    r = response.json()
    assert (r["abandoned_carts"], r["recovered_carts"], r["recovered_revenue"]) == (30, 6, 321.0)
    assert r["since"].startswith("2024-05-01T00:00:00")
    assert r["until"].startswith("2024-06-01T00:00:00")
    assert [row["touch"] for row in r["by_touch"]] == [1, 2]
    assert r["model"]["planner"] == "rules-v1"


async def test_bad_periods_and_missing_keys_are_refused(api):
    response = await api.get("/v1/reports/recovery", params={"since": "2024-06-01", "until": "2024-05-01"})
    assert (response.status_code, response.json()["detail"]) == (422, "'since' must be before 'until'")
    assert (await api.get("/v1/reports/recovery", params={"since": "May"})).status_code == 422
    response = await api.get("/v1/reports/recovery", headers={"Authorization": ""})
    assert response.status_code == 401
    assert "missing API key" in response.json()["detail"]


async def test_csv_has_a_section_per_split(api):
    response = await api.get("/v1/reports/recovery.csv", params=MAY)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="recovery-report.csv"' in response.headers["content-disposition"]
    blocks = [list(csv.reader(io.StringIO(block))) for block in response.text.strip("\n").split("\n\n")]
    assert [block[0][0] for block in blocks] == ["section"] * 9
    # no incentive recovered a cart in these rows: the section is its header alone
    assert blocks.pop() == [["section", "incentive", "recovered_carts", "recovered_revenue", "estimated_cost"]]
    assert [block[1][0] for block in blocks] == [
        "headline",
        "channel",
        "touch",
        "template",
        "reason",
        "bucket",
        "platform",
        "daily",
    ]
    assert [len(block) - 1 for block in blocks] == [
        20,
        2,
        2,
        8,
        6,
        6,
        2,
        2,
    ]  # rows per section (headline: 19 metrics + currencies)
    sections = {block[1][0]: [dict(zip(block[0], row)) for row in block[1:]] for block in blocks}
    headline = {row["metric"]: row["value"] for row in sections["headline"]}
    assert (headline["abandoned_carts"], headline["recovered_revenue"], headline["incremental_recovery_rate"]) == (
        "30",
        "321.0",
        "0.1",
    )
    assert (headline["incentive_cost"], headline["recovered_revenue_net_of_incentives"]) == ("0.0", "321.0")
    assert (headline["incremental_recovery_rate_ci95_low"], headline["time_to_recovery_median_hours"]) == (
        "-0.219059",
        "2.0",
    )
    assert sections["channel"][0] == {
        "section": "channel",
        "channel": "email",
        "messages_sent": "16",
        "recovered_carts": "4",
        "recovered_revenue": "280.75",
        "revenue_per_message": "17.55",
        "recoveries_per_message": "0.25",
    }
    shopify = sections["platform"][1]
    assert (
        shopify["platform"],
        shopify["incremental_recovery_rate"],
        shopify["incremental_recovery_rate_ci95_low"],
    ) == (
        "shopify",
        "0.15",
        "-0.453704",
    )
    assert [row["reason"] for row in sections["reason"]][-1] == ""  # not planned yet: empty, not "None"


async def test_csv_of_one_split_is_a_plain_table(api):
    response = await api.get("/v1/reports/recovery.csv", params=MAY | {"split": "touch"})
    assert response.status_code == 200
    assert 'filename="recovery-touch.csv"' in response.headers["content-disposition"]
    assert list(csv.reader(io.StringIO(response.text))) == [
        [
            "touch",
            "messages_sent",
            "recovered_carts",
            "recovered_revenue",
            "revenue_per_message",
            "recoveries_per_message",
        ],
        ["1", "17", "2", "80.25", "4.72", "0.117647"],
        ["2", "3", "3", "240.75", "80.25", "1.0"],
    ]
    empty = await api.get("/v1/reports/recovery.csv", params={"shop": "nobody", "split": "template"})
    assert empty.text.splitlines() == [
        "template,channel,reason,locale,version,variant,messages_sent,recovered_carts,recovered_revenue,"
        "revenue_per_message,recoveries_per_message",
    ]
    assert (await api.get("/v1/reports/recovery.csv", params={"split": "weekday"})).status_code == 422


async def test_dashboard_renders_for_a_viewer_with_its_charts_and_data(api):
    response = await api.get("/dashboard", params={"shop": "shop-a", "since": "2024-05-01", "to": "2024-05-31"})
    assert response.status_code == 200, response.text
    page = response.text
    for element in (
        "headline",
        "report-form",
        "report-data",
        "table-template",
        "table-platform",
        "model-status",
        "send-timing",
        *CHART_IDS,
    ):
        assert f'id="{element}"' in page, element
    assert '<script src="/static/vendor/chart.umd.js">' in page
    assert '<script src="/static/dashboard.js">' in page
    embedded = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S).group(1)
    data = json.loads(embedded)
    # "to" is inclusive: the whole of May, the same report as the JSON endpoint's
    assert data == (await api.get("/v1/reports/recovery", params=MAY)).json()
    assert "Recovered revenue</th><td>321.00 USD" in page
    models = re.search(r'<section class="card" id="model-status">(.*?)</section>', page, re.S).group(1)
    shown = " ".join(re.sub(r"<[^>]+>", " ", models).split())
    assert "policy · Alert training is overdue" in shown  # the status once, as its badge, then why
    assert not re.search(r"\b(Learning|Active|Alert):? \1\b", shown)
    assert "Incentive cost</th><td>0.00 USD estimated, on 0 recoveries with a code (net revenue 321.00 USD)" in page
    assert 'href="/v1/reports/recovery.csv?since=2024-05-01T00%3A00%3A00%2B00%3A00&amp;until=2024-06-01' in page


async def test_dashboard_static_files_are_served(api):
    chart = await api.get("/static/vendor/chart.umd.js")
    assert chart.status_code == 200
    assert chart.text.startswith("/*!\n * Chart.js v4")
    assert "MIT License" in chart.text[:300]
    assert "report-data" in (await api.get("/static/dashboard.js")).text


async def test_dashboard_without_sign_in_sends_to_login_and_bad_dates_say_why(api):
    response = await api.get("/dashboard", headers={"Authorization": "", "Accept": "text/html"})
    assert (response.status_code, response.headers["location"]) == (303, "/login?next=/dashboard")
    response = await api.get("/dashboard", headers={"Authorization": "", "Accept": "application/json"})
    assert response.status_code == 401
    response = await api.get("/dashboard", params={"since": "2024-05-31", "to": "2024-05-01"})
    assert response.status_code == 422
    assert 'id="report-error"' in response.text
    assert "'from' must not be after 'to'" in html.unescape(response.text)
    response = await api.get("/dashboard", params={"since": "yesterday"})
    assert response.status_code == 422
    assert "'from' must be a date like 2024-05-31, not 'yesterday'" in html.unescape(response.text)


def test_cli_report_prints_the_headline(tmp_path, sqlite_engine):
    insert(sqlite_engine, fixture_rows)
    env = {"CR_DATABASE_URL": str(sqlite_engine.url), "CR_DATA_DIR": str(tmp_path), "COLUMNS": "160"}
    result = run_cli_sync(env, "report", "--shop", "shop-a", "--since", "2024-05-01", "--until", "2024-06-01")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Recovery report: shop-a, 2024-05-01 to 2024-06-01" in out
    for line in (
        "Abandoned carts",
        "30 (20 treated, 10 holdout)",
        "Carts messaged",
        "17 (20 messages sent)",
        "Recovery rate",
        "30.0% (holdout 20.0%)",
        "Incremental recovery",
        "+10.0 pts (95% CI -21.9 pts to +41.9 pts)",
        "Recovered revenue",
        "321.00 USD",
        "Average order value",
        "64.20 USD",
        "Revenue per message",
        "16.05 USD",
        "Time to recovery",
        "median 2 h, mean 7.5 h",
        "Planner",
        "rules-v1 (",
    ):
        assert line in out, line
    bad = run_cli_sync(env, "report", "--since", "2024-06-01", "--until", "2024-05-01")
    assert bad.exit_code == 2
    assert "--since must be before --until" in bad.output
