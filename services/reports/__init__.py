"""Recovery report: how many abandoned carts came back, how much revenue, through which channel,
touch, template, reason, score bucket and platform, and what the service adds over the holdout
group (difference of proportions, 95% Wald interval).

Definitions:
- abandoned: carts whose journey reached abandonment in the period (by abandonment time);
- treated / holdout: the deterministic split made at abandonment (not recorded yet: treated);
- recovered: an order arrived after abandonment and inside the attribution window;
- attributed: recovered after at least one touch; credited to the last touch before the order.
  Recovered revenue, average order value and time to recovery count attributed recoveries;
- incremental recovery rate: treated rate - holdout rate;
- a cart's reason and score bucket: those of its decision for the attributed touch, else of its
  first decision (kept on the cart as report columns by plan_touch and record_outcome). Holdout
  carts are never planned, so the reason and bucket splits cover treated carts, with `null` for
  carts not planned yet;
- message splits (channel, touch, template): messages sent, and the recoveries credited to them
  (each split adds up to the attributed recoveries and revenue);
- incentives: the attributed recoveries whose recovering message carried a code, and what the
  codes cost by the settings' estimate (services/reports/incentives.py); the recovered revenue
  net of it.

Every number comes from a few GROUP BY queries (services/reports/carts.py, touches.py) whose
grouped rows Python adds up; bench/reports.py times them over a million carts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlmodel import Session

from channel_models.economics import Economics
from channel_models.vocabulary import BUCKETS, REASONS
from services.reports.carts import Tally, cart_counts, median_time_to_recovery
from services.reports.incentives import incentive_rows
from services.reports.policies import planning_policies
from services.reports.scope import ReportScope
from services.reports.stats import lift, rate, ratio
from services.reports.touches import TouchTally, parse_template, touch_counts

__all__ = ["SPLIT_COLUMNS", "recovery_report"]


def recovery_report(
    session: Session,
    shop: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    incentive_costs: Mapping[str, float] | None = None,
) -> dict:
    """``incentive_costs``: each incentive's cost as a share of the order (the settings', from
    Economics.incentive_costs; the defaults' when None)."""
    scope = ReportScope(shop, since, until)
    incentives = incentive_rows(session, scope, incentive_costs or Economics().incentive_costs())
    incentive_cost = round(float(sum(row["estimated_cost"] for row in incentives)), 2)
    counts = cart_counts(session, scope)
    touches = touch_counts(session, scope)

    split = counts.by(lambda holdout, platform, reason, bucket, day: holdout)
    treated, held = split.get(False, Tally()), split.get(True, Tally())
    messages = touches.messages
    median_s = median_time_to_recovery(session, scope, treated.ttr_n)
    treated_only = {k: t for k, t in counts.groups.items() if not k[0]}
    return {
        "shop": shop,
        "since": since,
        "until": until,
        "currencies": counts.currencies,
        **_cart_numbers(treated, held),
        "messaged_carts": touches.messaged_carts,
        "messages_sent": messages,
        "revenue_per_message": ratio(treated.revenue_cents / 100, messages),
        "incentives": incentives,
        "incentive_cost": incentive_cost,
        "recovered_revenue_net_of_incentives": round(treated.revenue_cents / 100 - incentive_cost, 2),
        "time_to_recovery": {
            "recoveries": treated.ttr_n,
            "median_hours": round(median_s / 3600, 2) if median_s is not None else None,
            "mean_hours": ratio(treated.ttr_sum_s / 3600, treated.ttr_n),
        },
        "by_channel": _touch_rows("channel", touches.by(lambda channel, touch, template: channel)),
        "by_touch": _touch_rows("touch", touches.by(lambda channel, touch, template: touch)),
        "by_template": [
            _template_row(channel, template, tally)
            for (channel, template), tally in sorted(
                touches.by(lambda channel, touch, template: (channel, template)).items(),
                key=lambda item: (item[0][0], item[0][1] or ""),
            )
        ],
        "by_reason": _assessed_rows("reason", treated_only, 2, REASONS),
        "by_bucket": _assessed_rows("bucket", treated_only, 3, BUCKETS),
        "by_platform": [
            _cart_row("platform", platform, groups.get(False, Tally()), groups.get(True, Tally()))
            for platform, groups in sorted(_nested(counts.by(lambda h, platform, r, b, d: (platform, h))).items())
        ],
        "daily": [
            _daily_row(day, groups.get(False, Tally()), groups.get(True, Tally()))
            for day, groups in sorted(_nested(counts.by(lambda h, p, r, b, day: (day, h))).items())
        ],
        "model": planning_policies(
            session,
            scope,
            planned_carts=sum(t.carts for k, t in treated_only.items() if k[2] is not None),
            attributed_recoveries=treated.attributed,
            days_with_carts=len({k[4] for k, t in counts.groups.items() if t.carts}),
        ),
    }


def _nested(flat: dict) -> dict:
    out: dict = {}
    for (outer, inner), tally in flat.items():
        out.setdefault(outer, {})[inner] = tally
    return out


def _touch_row(name: str, key, tally: TouchTally) -> dict:
    return {
        name: key,
        "messages_sent": tally.messages,
        "recovered_carts": tally.recovered,
        "recovered_revenue": tally.revenue_cents / 100,
        "revenue_per_message": ratio(tally.revenue_cents / 100, tally.messages),
        "recoveries_per_message": rate(tally.recovered, tally.messages),
    }


def _template_row(channel: str | None, template: str | None, tally: TouchTally) -> dict:
    return {
        "template": template,
        "channel": channel,
        **parse_template(template),
        **_touch_row("template", template, tally),
    }


def _touch_rows(name: str, tallies: dict) -> list[dict]:
    return [_touch_row(name, key, tallies[key]) for key in sorted(tallies)]


def _cart_row(name: str, key, treated: Tally, held: Tally) -> dict:
    return {name: key, **_cart_numbers(treated, held)}


def _cart_numbers(treated: Tally, held: Tally) -> dict:
    """The cart figures shared by the headline and every split row."""
    return {
        "abandoned_carts": treated.carts + held.carts,
        "treated_carts": treated.carts,
        "holdout_carts": held.carts,
        "recovered_carts": treated.recovered,
        "attributed_recoveries": treated.attributed,
        "recovery_rate": rate(treated.recovered, treated.carts),
        "holdout_recovery_rate": rate(held.recovered, held.carts),
        "incremental_recovery_rate": lift(treated.recovered, treated.carts, held.recovered, held.carts),
        "recovered_revenue": treated.revenue_cents / 100,
        "average_order_value": ratio(treated.revenue_cents / 100, treated.attributed),
    }


def _assessed_rows(name: str, treated: dict, position: int, order: tuple) -> list[dict]:
    """Treated carts by reason (key position 2) or bucket (3); `null` holds the carts not planned yet."""
    tallies: dict = {}
    for key, tally in treated.items():
        tallies.setdefault(key[position], Tally()).add(tally)
    known = {value: i for i, value in enumerate(order)}
    keys = sorted(tallies, key=lambda k: (k is None, known.get(k, len(known)), k or ""))
    return [_assessed_row(name, key, tallies[key]) for key in keys]


def _assessed_row(name: str, key, t: Tally) -> dict:
    return {
        name: key,
        "treated_carts": t.carts,
        "recovered_carts": t.recovered,
        "attributed_recoveries": t.attributed,
        "recovery_rate": rate(t.recovered, t.carts),
        "recovered_revenue": t.revenue_cents / 100,
        "average_order_value": ratio(t.revenue_cents / 100, t.attributed),
    }


def _daily_row(day: str, treated: Tally, held: Tally) -> dict:
    return {
        "date": day,
        "abandoned_carts": treated.carts + held.carts,
        "treated_carts": treated.carts,
        "holdout_carts": held.carts,
        "recovered_carts": treated.recovered,
        "holdout_recovered_carts": held.recovered,
        "recovery_rate": rate(treated.recovered, treated.carts),
        "holdout_recovery_rate": rate(held.recovered, held.carts),
        "recovered_revenue": treated.revenue_cents / 100,
    }


# the columns of each split's rows, for exports that need them without rows (an empty CSV)
SPLIT_COLUMNS = {
    "by_channel": list(_touch_row("channel", None, TouchTally())),
    "by_touch": list(_touch_row("touch", None, TouchTally())),
    "by_template": list(_template_row(None, None, TouchTally())),
    "by_reason": list(_assessed_row("reason", None, Tally())),
    "by_bucket": list(_assessed_row("bucket", None, Tally())),
    "by_platform": list(_cart_row("platform", None, Tally(), Tally())),
    "daily": list(_daily_row("", Tally(), Tally())),
    "incentives": ["incentive", "recovered_carts", "recovered_revenue", "estimated_cost"],
}
