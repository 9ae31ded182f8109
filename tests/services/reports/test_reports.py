"""`recovery_report` on a fixed set of rows, against numbers worked out by hand, on SQLite and
PostgreSQL. The splits (reason, bucket, touch, template, platform, day) and the time to recovery
are in tests/services/reports/test_report_splits.py, on the same rows (tests/utils/report_rows.py)."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from tests.utils.report_rows import OTHER, SHOP, SINCE, UNTIL, Z, insert, report


def test_report_for_a_shop_and_period_matches_hand_computed_numbers(db):
    r = report(db, shop=SHOP, since=SINCE, until=UNTIL)

    assert (r["shop"], r["since"], r["until"], r["currencies"]) == (SHOP, SINCE, UNTIL, ["USD"])
    assert (r["abandoned_carts"], r["treated_carts"], r["holdout_carts"]) == (30, 20, 10)
    # carts with a sent message: t00-t04 (5) + t06-t15 (10) + t16, t17 (2) = 17; not t18 (failed)
    assert r["messaged_carts"] == 17
    # e-mail: t00 1, t01 2, t02 1, t03 1, t04 1, t06-t15 10 = 16; sms: t02, t04, t16, t17 = 4
    assert r["messages_sent"] == 20
    assert (r["recovered_carts"], r["attributed_recoveries"]) == (6, 5)
    assert r["recovery_rate"] == pytest.approx(6 / 20, abs=1e-9)  # 0.3
    assert r["holdout_recovery_rate"] == pytest.approx(2 / 10, abs=1e-9)  # 0.2
    # attributed revenue: e-mail 49.99 + 80.00 + 120.50 + 30.26 = 280.75, sms 40.25 -> 321.00
    # (t05's 99.00 came without a touch, holdout orders are not the service's revenue)
    assert r["recovered_revenue"] == pytest.approx(321.00, abs=1e-9)
    assert r["revenue_per_message"] == pytest.approx(16.05, abs=1e-9)  # 321.00 / 20
    assert r["average_order_value"] == pytest.approx(64.20, abs=1e-9)  # 321.00 / 5 attributed recoveries
    assert r["by_channel"] == [
        # 280.75 / 16 = 17.546875 -> 17.55; 4 / 16 = 0.25
        {
            "channel": "email",
            "messages_sent": 16,
            "recovered_carts": 4,
            "recovered_revenue": pytest.approx(280.75, abs=1e-9),
            "revenue_per_message": 17.55,
            "recoveries_per_message": 0.25,
        },
        # 40.25 / 4 = 10.0625 (exact in binary, rounds half to even) -> 10.06; 1 / 4 = 0.25
        {
            "channel": "sms",
            "messages_sent": 4,
            "recovered_carts": 1,
            "recovered_revenue": pytest.approx(40.25, abs=1e-9),
            "revenue_per_message": 10.06,
            "recoveries_per_message": 0.25,
        },
    ]
    # lift = 0.3 - 0.2 = 0.1
    # se = sqrt(0.3 * 0.7 / 20 + 0.2 * 0.8 / 10) = sqrt(0.0105 + 0.016) = sqrt(0.0265) = 0.1627882...
    # 1.959964 * 0.1627882 = 0.3190590 -> interval 0.1 -/+ 0.3190590
    se = math.sqrt(0.0265)
    lift = r["incremental_recovery_rate"]
    assert lift["estimate"] == pytest.approx(0.1, abs=1e-6)
    assert lift["ci95_low"] == pytest.approx(0.1 - Z * se, abs=1e-6)  # -0.219059...
    assert lift["ci95_high"] == pytest.approx(0.1 + Z * se, abs=1e-6)  # 0.419059...
    assert lift["ci95_low"] == pytest.approx(-0.219059, abs=1e-6)


def test_report_for_a_shop_over_all_time(db):
    r = report(db, shop=SHOP)
    # + "early" (email, recovered 10.00 by touch 1) and "late" (sms, 20.00 EUR by touch 1); "bought" never abandoned
    assert (r["abandoned_carts"], r["treated_carts"], r["holdout_carts"]) == (32, 22, 10)
    assert (r["messaged_carts"], r["messages_sent"]) == (19, 22)
    assert (r["recovered_carts"], r["attributed_recoveries"]) == (8, 7)
    assert r["recovery_rate"] == pytest.approx(round(8 / 22, 6), abs=1e-9)  # 0.363636
    assert r["recovered_revenue"] == pytest.approx(351.00, abs=1e-9)  # 321.00 + 10.00 + 20.00
    assert r["revenue_per_message"] == pytest.approx(15.95, abs=1e-9)  # 351.00 / 22 = 15.9545...
    assert r["average_order_value"] == pytest.approx(50.14, abs=1e-9)  # 351.00 / 7 = 50.142857...
    assert r["currencies"] == ["EUR", "USD"]
    assert [
        (c["channel"], c["messages_sent"], c["recovered_carts"], c["recovered_revenue"]) for c in r["by_channel"]
    ] == [
        ("email", 17, 5, pytest.approx(290.75)),
        ("sms", 5, 2, pytest.approx(60.25)),
    ]
    # lift = 8/22 - 2/10 = 0.363636... - 0.2 = 0.163636...
    # se = sqrt((8/22)(14/22)/22 + 0.016) = sqrt(0.0105184... + 0.016) = sqrt(0.0265184...)
    p1 = 8 / 22
    se = math.sqrt(p1 * (1 - p1) / 22 + 0.2 * 0.8 / 10)
    lift = r["incremental_recovery_rate"]
    assert lift["estimate"] == pytest.approx(p1 - 0.2, abs=1e-6)
    assert (lift["ci95_low"], lift["ci95_high"]) == (
        pytest.approx(p1 - 0.2 - Z * se, abs=1e-6),
        pytest.approx(p1 - 0.2 + Z * se, abs=1e-6),
    )


def test_since_is_inclusive_and_until_exclusive(db):
    at_since = report(db, shop=SHOP, since=SINCE - timedelta(seconds=1))  # picks up "early"
    assert (at_since["treated_carts"], at_since["recovered_carts"]) == (22, 8)  # and "late" (no until)
    until_only = report(db, shop=SHOP, until=UNTIL)  # "early" in, "late" (== until) out
    assert (until_only["treated_carts"], until_only["messages_sent"], until_only["recovered_revenue"]) == (
        21,
        21,
        pytest.approx(331.00),
    )
    assert report(db, shop=SHOP, until=UNTIL + timedelta(microseconds=1))["treated_carts"] == 22


def test_report_across_shops(db):
    r = report(db, since=SINCE, until=UNTIL)
    # shop-a's period numbers + shop-b: b00 treated (email + push sent, recovered 100.00 by push), b01 holdout
    assert (r["shop"], r["abandoned_carts"], r["treated_carts"], r["holdout_carts"]) == (None, 32, 21, 11)
    assert (r["messaged_carts"], r["messages_sent"], r["recovered_carts"]) == (18, 22, 7)
    assert r["recovered_revenue"] == pytest.approx(421.00)
    assert r["currencies"] == ["GBP", "USD"]
    assert [
        (c["channel"], c["messages_sent"], c["recovered_carts"], c["recovered_revenue"]) for c in r["by_channel"]
    ] == [
        ("email", 17, 4, pytest.approx(280.75)),
        ("push", 1, 1, pytest.approx(100.00)),
        ("sms", 4, 1, pytest.approx(40.25)),
    ]
    assert r["holdout_recovery_rate"] == pytest.approx(round(2 / 11, 6), abs=1e-9)


def test_every_cart_of_every_shop(db):
    """No shop, no period: the message counts skip the join to carts (see touch_counts)."""
    r = report(db)
    # shop-a all time (32) + shop-b (2); "bought" was never abandoned
    assert (r["abandoned_carts"], r["treated_carts"], r["holdout_carts"]) == (34, 23, 11)
    assert (r["messaged_carts"], r["messages_sent"]) == (20, 24)  # 19 + b00; 22 + b00's e-mail and push
    assert (r["recovered_carts"], r["attributed_recoveries"], r["recovered_revenue"]) == (9, 8, pytest.approx(451.00))
    assert r["currencies"] == ["EUR", "GBP", "USD"]


def test_other_shop_alone(db):
    r = report(db, shop=OTHER)
    # 1 treated recovered of 1, 0 of 1 holdout: lift 1.0 with zero variance in both groups
    assert (r["treated_carts"], r["holdout_carts"], r["recovery_rate"], r["holdout_recovery_rate"]) == (1, 1, 1.0, 0.0)
    assert r["incremental_recovery_rate"] == {"estimate": 1.0, "ci95_low": 1.0, "ci95_high": 1.0}
    assert r["revenue_per_message"] == pytest.approx(50.00)  # 100.00 / 2


def test_without_a_holdout_group_there_is_no_lift(engine):
    insert(engine, lambda rows: rows.cart("t00", sent=["email"], outcome="recovered", touch=1, value="12.34"))
    r = report(engine)
    assert (r["treated_carts"], r["recovery_rate"], r["holdout_recovery_rate"], r["incremental_recovery_rate"]) == (
        1,
        1.0,
        None,
        None,
    )
    assert r["recovered_revenue"] == pytest.approx(12.34)


def test_incentives_cost_what_their_recoveries_gave_away(engine):
    def rows(r):
        r.cart(
            "d1", sent=["email", "email"], incentives=[None, "discount"], outcome="recovered", touch=2, value="100.00"
        )
        r.cart("d2", sent=["sms"], incentives=["discount"], outcome="recovered", touch=1, value="50.00")
        r.cart("f1", sent=["email"], incentives=["free_shipping"], outcome="recovered", touch=1, value="80.00")
        r.cart(
            "plain", sent=["email", "email"], incentives=[None, "discount"], outcome="recovered", touch=1, value="70.00"
        )
        r.cart("unused", sent=["email"], incentives=["discount"], outcome="not_recovered")  # a code never used
        r.cart(
            "elsewhere",
            shop=OTHER,
            sent=["email"],
            incentives=["discount"],
            outcome="recovered",
            touch=1,
            value="30.00",
        )

    insert(engine, rows)
    r = report(engine, shop=SHOP, incentive_costs={"discount": 0.2, "free_shipping": 0.1})
    assert r["incentives"] == [
        {"incentive": "discount", "recovered_carts": 2, "recovered_revenue": 150.0, "estimated_cost": 30.0},
        {"incentive": "free_shipping", "recovered_carts": 1, "recovered_revenue": 80.0, "estimated_cost": 8.0},
    ]  # "plain" came back after its first, code-less touch: its later discount cost nothing
    assert r["incentive_cost"] == 38.0
    assert r["recovered_revenue_net_of_incentives"] == pytest.approx(300.0 - 38.0)
    everywhere = report(engine)  # default costs (10 % / 5 %), both shops
    assert [(row["incentive"], row["recovered_carts"], row["estimated_cost"]) for row in everywhere["incentives"]] == [
        ("discount", 3, 18.0),
        ("free_shipping", 1, 4.0),
    ]


def test_unknown_shop_and_empty_period_give_zeros(db):
    for r in (report(db, shop="nobody"), report(db, since=UNTIL + timedelta(days=30))):
        assert_empty(r)


def test_empty_database_gives_zeros_and_nones(engine):
    assert_empty(report(engine))


def assert_empty(r: dict) -> None:
    assert {k: v for k, v in r.items() if k not in ("shop", "since", "until", "model")} == {
        "currencies": [],
        "abandoned_carts": 0,
        "treated_carts": 0,
        "holdout_carts": 0,
        "messaged_carts": 0,
        "messages_sent": 0,
        "recovered_carts": 0,
        "attributed_recoveries": 0,
        "recovery_rate": None,
        "holdout_recovery_rate": None,
        "incremental_recovery_rate": None,
        "recovered_revenue": 0.0,
        "revenue_per_message": None,
        "incentives": [],
        "incentive_cost": 0,
        "recovered_revenue_net_of_incentives": 0.0,
        "average_order_value": None,
        "time_to_recovery": {"recoveries": 0, "median_hours": None, "mean_hours": None},
        "by_channel": [],
        "by_touch": [],
        "by_template": [],
        "by_reason": [],
        "by_bucket": [],
        "by_platform": [],
        "daily": [],
    }
    assert r["model"]["data"] == {"planned_carts": 0, "attributed_recoveries": 0, "days_with_carts": 0}
