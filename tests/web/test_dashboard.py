"""The recovery dashboard in real headless Chromium: a viewer signs in and sees every chart drawn."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from services.store.tables import Cart, Decision, Message, Outcome
from tests.utils.browser import create_key, screenshot, sign_in

pytestmark = pytest.mark.e2e

CHARTS = ["chart-rate", "chart-channel", "chart-reason", "chart-bucket", "chart-touch", "chart-daily"]


def seed(engine, now: datetime) -> None:
    """40 abandoned carts over four days: 30 treated (12 recovered), 10 holdout (2 recovered)."""
    with Session(engine) as session:
        for i in range(40):
            abandoned = now - timedelta(days=i % 4, hours=i)
            holdout = i >= 30
            key = f"cart{i:04d}"
            reason = ("price", "shipping_cost", "indecision", "technical")[i % 4]
            bucket = ("Very low", "Low", "Moderate", "High", "Very high")[i % 5]
            session.add(
                Cart(
                    id=key,
                    shop="web",
                    token=f"t{i}",
                    platform="generic",
                    value_cents=5000 + 100 * i,
                    created_at=abandoned,
                    updated_at=abandoned,
                    abandoned_at=abandoned,
                    holdout=holdout,
                    status="open",
                    journey_state="done",
                    reason=None if holdout else reason,
                    bucket=None if holdout else bucket,
                )
            )
            session.flush()
            recovered = (not holdout and i % 5 < 2) or (holdout and i in (30, 31))
            channel = ("email", "sms", "push")[i % 3]
            if not holdout:
                decision = Decision(
                    cart_id=key,
                    touch=1,
                    decided_at=abandoned,
                    policy="rules-v1",
                    channel=channel,
                    reason=reason,
                    reason_confidence=0.6,
                    propensity=0.1 * (i % 10),
                    bucket=bucket,
                )
                session.add(decision)
                session.flush()
                session.add(
                    Message(
                        idempotency_key=f"k{i}",
                        cart_id=key,
                        decision_id=decision.id,
                        touch=1,
                        channel=channel,
                        template=f"{channel}/other@v1/A",
                        status="sent",
                        created_at=abandoned,
                        sent_at=abandoned + timedelta(hours=1),
                    )
                )
            session.add(
                Outcome(
                    cart_id=key,
                    status="recovered" if recovered else "not_recovered",
                    holdout=holdout,
                    value_cents=5000 + 100 * i if recovered else 0,
                    attributed_touch=1 if recovered and not holdout else None,
                    attributed_channel=channel if recovered and not holdout else None,
                    touches_sent=0 if holdout else 1,
                    time_to_recovery_s=7200.0 if recovered else None,
                    recorded_at=abandoned + timedelta(days=1),
                )
            )
        session.commit()


async def test_viewer_sees_the_dashboard_with_its_charts(web, page):
    base, _settings, engine = web
    seed(engine, datetime.now(UTC) - timedelta(hours=1))
    await sign_in(page, base, await create_key(base, "viewer"), "/dashboard")
    for chart in CHARTS:
        await page.wait_for_selector(f"#{chart}[data-rendered=true]")
        box = await page.locator(f"#{chart}").bounding_box()
        assert box, chart
        assert box["width"] > 100, chart
        assert box["height"] > 100, chart
        drawn = await page.evaluate(f"Chart.getChart('{chart}').data.datasets.reduce((n, d) => n + d.data.length, 0)")
        assert drawn > 0, chart
    headline = await page.inner_text("#headline")
    assert "40" in headline  # abandoned carts
    await screenshot(page, "dashboard-viewer")
