"""A recovery report as CSV.

Without a split: one file, one section per table - `headline` (metric, value), then `channel`,
`touch`, `template`, `reason`, `bucket`, `platform`, `daily`, `incentive` - each with its own header row whose
first column is `section`, every row starting with its section's name, and a blank line between
sections (so `grep '^channel,'` or a filter on the first column picks one table out).
With a split (`?split=channel`): that table alone, as a plain CSV (no section column).
The 95% interval of the incremental recovery rate is flattened to three columns.
"""

from __future__ import annotations

import csv
import io

SPLITS = {
    "headline": None,
    "channel": "by_channel",
    "touch": "by_touch",
    "template": "by_template",
    "reason": "by_reason",
    "bucket": "by_bucket",
    "platform": "by_platform",
    "daily": "daily",
    "incentive": "incentives",
}
HEADLINE = (
    "abandoned_carts",
    "treated_carts",
    "holdout_carts",
    "messaged_carts",
    "messages_sent",
    "recovered_carts",
    "attributed_recoveries",
    "recovery_rate",
    "holdout_recovery_rate",
    "incremental_recovery_rate",
    "recovered_revenue",
    "average_order_value",
    "revenue_per_message",
    "incentive_cost",
    "recovered_revenue_net_of_incentives",
    "time_to_recovery",
)


def report_csv(report: dict, split: str | None = None) -> str:
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: one of {', '.join(SPLITS)}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for i, name in enumerate([split] if split else SPLITS):
        header, rows = section(report, name)
        if split:
            writer.writerows([header, *rows])
            break
        if i:
            writer.writerow([])
        writer.writerow(["section", *header])
        writer.writerows([name, *row] for row in rows)
    return out.getvalue()


def section(report: dict, name: str) -> tuple[list[str], list[list]]:
    if name == "headline":
        rows = []
        for key in HEADLINE:
            rows += [[metric, _cell(value)] for metric, value in _flatten(key, report[key]).items()]
        rows.append(["currencies", " ".join(report["currencies"])])
        return ["metric", "value"], rows
    from services.reports import SPLIT_COLUMNS

    split = SPLITS[name]
    if split is None:
        raise ValueError(f"{name!r} is not a split")
    header = list(_flatten_row(dict.fromkeys(SPLIT_COLUMNS[split])))
    records = [_flatten_row(row) for row in report[split]]
    return header, [[_cell(record.get(column)) for column in header] for record in records]


def _flatten(key: str, value) -> dict:
    if key == "incremental_recovery_rate":
        value = value or {}
        return {
            key: value.get("estimate"),
            f"{key}_ci95_low": value.get("ci95_low"),
            f"{key}_ci95_high": value.get("ci95_high"),
        }
    if key == "time_to_recovery":
        return {
            "time_to_recovery_median_hours": value["median_hours"],
            "time_to_recovery_mean_hours": value["mean_hours"],
        }
    return {key: value}


def _flatten_row(row: dict) -> dict:
    flat: dict = {}
    for key, value in row.items():
        flat.update(_flatten(key, value))
    return flat


def _cell(value) -> str:
    return "" if value is None else str(value)
