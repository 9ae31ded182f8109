"""The headline of a recovery report as (label, value) rows, worded for people: the table that
`cartrecovery report` prints and the dashboard shows as #headline."""

from __future__ import annotations


def headline_rows(report: dict) -> list[tuple[str, str]]:
    r = report
    money = _money_suffix(r["currencies"])
    lift = r["incremental_recovery_rate"]
    ttr = r["time_to_recovery"]
    model = r["model"]
    return [
        (
            "Abandoned carts",
            f"{r['abandoned_carts']:,} ({r['treated_carts']:,} treated, {r['holdout_carts']:,} holdout)",
        ),
        ("Carts messaged", f"{r['messaged_carts']:,} ({r['messages_sent']:,} messages sent)"),
        ("Recovered carts", f"{r['recovered_carts']:,} treated, {r['attributed_recoveries']:,} after a message"),
        ("Recovery rate", f"{_percent(r['recovery_rate'])} (holdout {_percent(r['holdout_recovery_rate'])})"),
        (
            "Incremental recovery",
            "n/a (needs treated and holdout carts)"
            if lift is None
            else f"{_points(lift['estimate'])} (95% CI {_points(lift['ci95_low'])} to {_points(lift['ci95_high'])})",
        ),
        ("Recovered revenue", f"{r['recovered_revenue']:,.2f}{money}"),
        (
            "Incentive cost",
            f"{r['incentive_cost']:,.2f}{money} estimated, on "
            f"{sum(row['recovered_carts'] for row in r['incentives']):,} recoveries with a code "
            f"(net revenue {r['recovered_revenue_net_of_incentives']:,.2f}{money})",
        ),
        ("Average order value", _amount(r["average_order_value"], money)),
        ("Revenue per message", _amount(r["revenue_per_message"], money)),
        (
            "Time to recovery",
            "n/a" if ttr["median_hours"] is None else f"median {ttr['median_hours']:g} h, mean {ttr['mean_hours']:g} h",
        ),
        (
            "Planner",
            ", ".join(f"{name} ({n:,} touches)" for name, n in model["planners"].items()) or "no touch planned",
        ),
    ]


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _points(value: float) -> str:
    return f"{value * 100:+.1f} pts"


def _amount(value: float | None, money: str) -> str:
    return "n/a" if value is None else f"{value:,.2f}{money}"


def _money_suffix(currencies: list[str]) -> str:
    # amounts are summed as recorded; with several currencies the sum mixes them, and says so
    if not currencies:
        return ""
    if len(currencies) == 1:
        return f" {currencies[0]}"
    return f" (mixed: {', '.join(currencies)})"
