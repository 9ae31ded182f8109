"""The report's splits - reason, score bucket, touch, template, platform, day - its time to
recovery, average order value and model status, against hand-computed numbers on the rows of
tests/utils/report_rows.py (shop-a, May 2024), on SQLite and PostgreSQL."""

from __future__ import annotations

import math

import pytest

from services.reports.touches import parse_template
from tests.utils.report_rows import SHOP, SINCE, UNTIL, Z, report


@pytest.fixture
def may(db):
    return report(db, shop=SHOP, since=SINCE, until=UNTIL)


def rows(split: list[dict], *columns) -> list[tuple]:
    return [tuple(row[c] for c in columns) for row in split]


def test_reason_of_a_cart_is_its_attributed_decisions_else_its_first(may):
    # t00 shipping_cost (49.99); t04 planned price, recovered by touch 2 planned shipping_cost (40.25);
    # t01 planned indecision, recovered by touch 2 planned price (80.00); t02 technical then price
    # (120.50, touch 2); t03 price (30.26); t16, t17 price, not recovered; t06-t10 indecision and
    # t11-t15 other, not recovered; t18 technical (its only touch failed); t05 (ordered before any
    # touch) and t19 (still running) were never planned: null. Holdout carts are not in this split.
    assert rows(
        may["by_reason"],
        "reason",
        "treated_carts",
        "recovered_carts",
        "attributed_recoveries",
        "recovery_rate",
        "recovered_revenue",
        "average_order_value",
    ) == [
        ("shipping_cost", 2, 2, 2, 1.0, pytest.approx(90.24), 45.12),  # 49.99 + 40.25; / 2
        ("price", 5, 3, 3, 0.6, pytest.approx(230.76), 76.92),  # 80.00 + 120.50 + 30.26; / 3
        ("indecision", 5, 0, 0, 0.0, 0.0, None),
        ("technical", 1, 0, 0, 0.0, 0.0, None),
        ("other", 5, 0, 0, 0.0, 0.0, None),
        (None, 2, 1, 0, 0.5, 0.0, None),
    ]
    assert sum(r["treated_carts"] for r in may["by_reason"]) == may["treated_carts"] == 20


def test_score_bucket_split(may):
    # t00 Low; t01 High (its touch-2 decision); t03 High; t02 Very high (touch 2); t04 Moderate;
    # t06-t15 and t18 Moderate; t16, t17 Very low; t05, t19 null
    assert rows(
        may["by_bucket"],
        "bucket",
        "treated_carts",
        "recovered_carts",
        "recovery_rate",
        "recovered_revenue",
        "average_order_value",
    ) == [
        ("Very low", 2, 0, 0.0, 0.0, None),
        ("Low", 1, 1, 1.0, pytest.approx(49.99), 49.99),
        ("Moderate", 12, 1, 0.083333, pytest.approx(40.25), 40.25),  # 1 / 12 = 0.0833333...
        ("High", 2, 2, 1.0, pytest.approx(110.26), 55.13),  # 80.00 + 30.26; / 2
        ("Very high", 1, 1, 1.0, pytest.approx(120.50), 120.5),
        (None, 2, 1, 0.5, 0.0, None),
    ]


def test_touch_split_credits_the_attributed_touch(may):
    # touch 1 sent to 17 carts (t00-t04, t06-t17; t18's failed); credited: t00 49.99 + t03 30.26 = 80.25
    # touch 2 sent to t01, t02, t04; credited: 80.00 + 120.50 + 40.25 = 240.75
    assert rows(
        may["by_touch"],
        "touch",
        "messages_sent",
        "recovered_carts",
        "recovered_revenue",
        "revenue_per_message",
        "recoveries_per_message",
    ) == [
        (1, 17, 2, pytest.approx(80.25), 4.72, 0.117647),  # 80.25 / 17 = 4.7205...; 2 / 17 = 0.1176470...
        (2, 3, 3, pytest.approx(240.75), 80.25, 1.0),
    ]
    assert may["messaged_carts"] == 17  # every messaged cart has exactly one sent touch 1


def test_template_split_parses_versions_and_variants(may):
    assert rows(
        may["by_template"],
        "template",
        "channel",
        "reason",
        "locale",
        "version",
        "variant",
        "messages_sent",
        "recovered_carts",
        "recovered_revenue",
        "revenue_per_message",
    ) == [
        # packaged defaults: no version, no variant
        ("email/indecision", "email", "indecision", None, None, None, 6, 0, 0.0, 0.0),  # t01 touch 1, t06-t10
        ("email/other", "email", "other", None, None, None, 5, 0, 0.0, 0.0),  # t11-t15
        # t02 touch 2 (120.50) and t03 touch 1 (30.26): 150.76 / 2 = 75.38
        ("email/price@v3/A", "email", "price", "en", 3, "A", 2, 2, pytest.approx(150.76), 75.38),
        # t01 touch 2 (80.00) and t04 touch 1 (not credited: t04 came back after touch 2)
        ("email/price@v3/B", "email", "price", "en", 3, "B", 2, 1, pytest.approx(80.00), 40.0),
        ("email/shipping_cost@v2/A", "email", "shipping_cost", "en", 2, "A", 1, 1, pytest.approx(49.99), 49.99),
        ("sms/price", "sms", "price", None, None, None, 2, 0, 0.0, 0.0),  # t16, t17
        ("sms/shipping_cost/fr@v1/A", "sms", "shipping_cost", "fr", 1, "A", 1, 1, pytest.approx(40.25), 40.25),
        ("sms/technical", "sms", "technical", None, None, None, 1, 0, 0.0, 0.0),  # t02 touch 1
    ]


@pytest.mark.parametrize(
    "name, parsed",
    [
        ("email/price@v3/A", ("price", "en", 3, "A")),
        ("sms/price/fr@v12/control", ("price", "fr", 12, "control")),
        ("email/price", ("price", None, None, None)),
        ("email", (None, None, None, None)),
        ("email/price@vX/A", (None, None, None, None)),
        ("a/b/c/d", (None, None, None, None)),
        ("", (None, None, None, None)),
        (None, (None, None, None, None)),
    ],
)
def test_template_names_are_parsed_defensively(name, parsed):
    p = parse_template(name)
    assert (p["reason"], p["locale"], p["version"], p["variant"]) == parsed


def test_platform_split_has_its_own_lift(may):
    # generic: treated t00, t02, t04, t05, t08-t15, t17, t18, t19 = 15, recovered t00, t02, t04, t05 = 4
    #          (attributed 3: 49.99 + 120.50 + 40.25 = 210.74, / 3 = 70.2466...); holdout h01, h05-h09
    #          = 6, recovered h01 = 1
    # shopify: treated t01, t03, t06, t07, t16 = 5, recovered t01, t03 = 2 (80.00 + 30.26 = 110.26);
    #          holdout h00, h02, h03, h04 = 4, recovered h00 = 1
    assert rows(
        may["by_platform"],
        "platform",
        "abandoned_carts",
        "treated_carts",
        "holdout_carts",
        "recovered_carts",
        "attributed_recoveries",
        "recovery_rate",
        "holdout_recovery_rate",
        "recovered_revenue",
        "average_order_value",
    ) == [
        ("generic", 21, 15, 6, 4, 3, 0.266667, 0.166667, pytest.approx(210.74), 70.25),
        ("shopify", 9, 5, 4, 2, 2, 0.4, 0.25, pytest.approx(110.26), 55.13),
    ]
    generic, shopify = (row["incremental_recovery_rate"] for row in may["by_platform"])
    # generic: 4/15 - 1/6 = 0.1; se = sqrt((4/15)(11/15)/15 + (1/6)(5/6)/6) = sqrt(0.0130370 + 0.0231481)
    #          = sqrt(0.0361852) = 0.1902240; 1.959964 * 0.1902240 = 0.3728322
    se = math.sqrt((4 / 15) * (11 / 15) / 15 + (1 / 6) * (5 / 6) / 6)
    assert generic == {
        "estimate": pytest.approx(0.1, abs=1e-6),
        "ci95_low": pytest.approx(0.1 - Z * se, abs=1e-6),
        "ci95_high": pytest.approx(0.1 + Z * se, abs=1e-6),
    }
    assert (generic["ci95_low"], generic["ci95_high"]) == (
        pytest.approx(-0.272832, abs=1e-6),
        pytest.approx(0.472832, abs=1e-6),
    )
    # shopify: 0.4 - 0.25 = 0.15; se = sqrt(0.4 * 0.6 / 5 + 0.25 * 0.75 / 4) = sqrt(0.048 + 0.046875) = 0.3080179;
    #          1.959964 * 0.3080179 = 0.6037040
    se = math.sqrt(0.048 + 0.046875)
    assert shopify["estimate"] == pytest.approx(0.15, abs=1e-6)
    assert (shopify["ci95_low"], shopify["ci95_high"]) == (
        pytest.approx(-0.453704, abs=1e-6),
        pytest.approx(0.753704, abs=1e-6),
    )
    assert shopify["ci95_high"] == pytest.approx(0.15 + Z * se, abs=1e-6)


def test_daily_series_by_utc_day_of_abandonment(may):
    # 2024-05-04: t00-t09 and h00-h04; 2024-05-10 23:30 UTC: t10-t19 and h05-h09
    assert rows(
        may["daily"],
        "date",
        "abandoned_carts",
        "treated_carts",
        "holdout_carts",
        "recovered_carts",
        "holdout_recovered_carts",
        "recovery_rate",
        "holdout_recovery_rate",
        "recovered_revenue",
    ) == [
        ("2024-05-04", 15, 10, 5, 6, 2, 0.6, 0.4, pytest.approx(321.00)),
        ("2024-05-10", 15, 10, 5, 0, 0, 0.0, 0.0, 0.0),
    ]


def test_time_to_recovery_over_attributed_recoveries(may, db):
    # attributed: t03 0.5 h, t00 1 h, t01 2 h, t02 10 h, t04 24 h (not t05's 600 s: no touch; not
    # h00: holdout). Median of 5 = the 3rd = 2 h; mean = 37.5 / 5 = 7.5 h
    assert may["time_to_recovery"] == {"recoveries": 5, "median_hours": 2.0, "mean_hours": 7.5}
    # all time adds "early" (1.5 h; "late" has no recorded time): 6 values, the median is the mean
    # of the 3rd and 4th, (1.5 + 2) / 2 = 1.75 h; mean = (37.5 + 1.5) / 6 = 6.5 h
    assert report(db, shop=SHOP)["time_to_recovery"] == {"recoveries": 6, "median_hours": 1.75, "mean_hours": 6.5}


def test_model_section_names_the_policies_that_planned_the_touches(may):
    model = may["model"]
    assert model["planner"] == "rules-v1"
    assert set(model["planners"]) == {"rules-v1"}
    assert model["status_url"] == "/v1/models"
    # planned: the 20 treated carts but t05 and t19; 5 attributed recoveries; 2 days with carts
    assert model["data"] == {"planned_carts": 18, "attributed_recoveries": 5, "days_with_carts": 2}


@pytest.mark.parametrize("filters", [{"shop": SHOP, "since": SINCE, "until": UNTIL}, {"shop": SHOP}, {}])
def test_every_split_adds_up_to_the_headline(db, filters):
    r = report(db, **filters)
    for split in ("by_channel", "by_touch", "by_template"):
        assert sum(row["messages_sent"] for row in r[split]) == r["messages_sent"]
        assert sum(row["recovered_carts"] for row in r[split]) == r["attributed_recoveries"]
        assert sum(row["recovered_revenue"] for row in r[split]) == pytest.approx(r["recovered_revenue"])
    for split in ("by_reason", "by_bucket"):
        assert sum(row["treated_carts"] for row in r[split]) == r["treated_carts"]
        assert sum(row["recovered_carts"] for row in r[split]) == r["recovered_carts"]
    for split in ("by_platform", "daily"):
        assert sum(row["abandoned_carts"] for row in r[split]) == r["abandoned_carts"]
        assert sum(row["recovered_carts"] for row in r[split]) == r["recovered_carts"]
        assert sum(row["recovered_revenue"] for row in r[split]) == pytest.approx(r["recovered_revenue"])
