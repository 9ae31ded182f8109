"""Features: what the models see of a cart, built one way online and in training.

A decision row stores ``snapshot(ctx)``: a flat, JSON-ready dict of raw values (counts, amounts,
categories; never contact data). Models never read a PlanContext directly: online they encode the
snapshot with ``encode_row``, retraining encodes the logged snapshots with ``encode_frame`` (the
same arithmetic, vectorised with pandas), so what a model was trained on is what it sees live.
A test holds the two equal on random snapshots.

Features (FEATURE_NAMES, in this order):

* cart - ``log_value`` ln(1 + value), ``item_count``, one-hot ``stage_*``
* customer history - ``log_orders``, ``log_spent``, ``returning`` (has ordered before),
  ``previous_abandonments``
* recency / frequency / time between events over the feature window (the customer's earlier
  carts and orders): ``recency_days`` (since the latest event; the window length when there is
  none), ``frequency`` (events in the window), ``mean_gap_days`` (mean time between them; the
  window length with fewer than two)
* when - ``hour_sin`` / ``hour_cos`` of the recipient's local hour, ``weekday`` (Mon = 0),
  ``weekend``; ``hours_since_abandonment``, ``touch``
* device and traffic source, one-hot (``device_*``, ``source_*``), unknown ones in ``*_other``
* behaviour - one count per known signal kind (``signal_*``)
* per-channel past engagement - ``{channel}_sent`` / ``_clicked`` / ``_recovered`` for this
  customer's earlier carts, and ``{channel}_reachable`` (captured and consent given or not needed)
* this journey - ``last_channel_*`` one-hot of the previous touch's channel
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from channel_models.context import PlanContext
from channel_models.vocabulary import CHANNELS

STAGES = ("cart", "checkout", "shipping", "payment")
DEVICES = ("mobile", "desktop", "tablet")
SOURCES = ("direct", "search", "social", "email", "paid")
SIGNALS = (
    "shipping_page_view",
    "price_sort",
    "discount_filter",
    "add_remove",
    "comparison_view",
    "payment_failed",
    "slow_page",
    "coupon_attempt",
    "product_view",
)
ENGAGEMENT = ("sent", "clicked", "recovered")

FEATURE_NAMES: tuple[str, ...] = (
    "log_value",
    "item_count",
    *(f"stage_{s}" for s in STAGES),
    "log_orders",
    "log_spent",
    "returning",
    "previous_abandonments",
    "recency_days",
    "frequency",
    "mean_gap_days",
    "hour_sin",
    "hour_cos",
    "weekday",
    "weekend",
    "hours_since_abandonment",
    "touch",
    *(f"device_{d}" for d in (*DEVICES, "other")),
    *(f"source_{s}" for s in (*SOURCES, "other")),
    *(f"signal_{k}" for k in SIGNALS),
    *(f"{c}_{e}" for c in CHANNELS for e in ENGAGEMENT),
    *(f"{c}_reachable" for c in CHANNELS),
    *(f"last_channel_{c}" for c in CHANNELS),
)
# source keywords, checked in order: "google-ads" is paid, "facebook" is social
_SOURCE_WORDS = (
    ("paid", ("ads", "cpc", "paid", "adwords", "campaign")),
    ("email", ("email", "newsletter", "klaviyo", "mail")),
    ("social", ("facebook", "instagram", "tiktok", "pinterest", "twitter", "social", "x.com")),
    ("search", ("google", "bing", "duckduckgo", "search", "yahoo")),
    ("direct", ("direct", "none", "(direct)")),
)


def normalize_source(source: str | None) -> str | None:
    """Map a free-text traffic source to one of SOURCES, "other", or None when unknown."""
    if not source:
        return None
    text = source.strip().lower()
    for name, words in _SOURCE_WORDS:
        if any(word in text for word in words):
            return name
    return "other"


def _reachable(ctx: PlanContext, channel: str) -> bool:
    reach = ctx.reachability.get(channel)
    if reach is None or not reach.captured:
        return False
    if channel == "email":
        return reach.consent != "revoked" and (reach.consent == "granted" or not ctx.email_requires_consent)
    return reach.consent == "granted"


def _history(events: Sequence[datetime], now: datetime, window_days: float) -> tuple[float, int, float]:
    since = [e for e in events if 0 <= (now - e).total_seconds() <= window_days * 86400]
    if not since:
        return window_days, 0, window_days
    since.sort()
    recency = (now - since[-1]).total_seconds() / 86400
    if len(since) < 2:
        return recency, len(since), window_days
    gap = (since[-1] - since[0]).total_seconds() / 86400 / (len(since) - 1)
    return recency, len(since), gap


def snapshot(ctx: PlanContext) -> dict[str, Any]:
    """The flat raw-value record a decision row keeps (and explanations show)."""
    zone = ctx.timezone or ctx.fallback_timezone or "UTC"
    try:
        local = ctx.now.astimezone(ZoneInfo(zone))
    except (KeyError, ValueError):
        local = ctx.now
    recency, frequency, gap = _history(ctx.customer_events, ctx.now, ctx.feature_window_days)
    record: dict[str, Any] = {
        "cart_value": round(float(ctx.cart_value), 2),
        "item_count": int(ctx.item_count),
        "stage": ctx.stage,
        "orders": int(ctx.orders),
        "total_spent": round(float(ctx.total_spent), 2),
        "previous_abandonments": int(ctx.previous_abandonments),
        "recency_days": round(recency, 3),
        "frequency": frequency,
        "mean_gap_days": round(gap, 3),
        "local_hour": local.hour + local.minute / 60,
        "weekday": local.weekday(),
        "hours_since_abandonment": round((ctx.now - ctx.abandoned_at).total_seconds() / 3600, 3),
        "touch": int(ctx.touch),
        "device": (ctx.device or None) and ctx.device.strip().lower(),
        "source": normalize_source(ctx.source),
        "last_channel": ctx.previous_channels[-1] if ctx.previous_channels else None,
        "previous_channels": list(ctx.previous_channels),
        "excluded": list(ctx.excluded),
    }
    for kind in SIGNALS:
        record[f"signal_{kind}"] = max(0, int(ctx.signal_counts.get(kind, 0) or 0))
    for channel in CHANNELS:
        counts = ctx.engagement.get(channel, (0, 0, 0))
        for name, value in zip(ENGAGEMENT, counts):
            record[f"{channel}_{name}"] = int(value)
        record[f"{channel}_reachable"] = _reachable(ctx, channel)
    return record


def _category(value: Any, known: Sequence[str]) -> str | None:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    return value if value in known else "other"


def encode_row(record: Mapping[str, Any]) -> np.ndarray:
    """One snapshot as a float vector in FEATURE_NAMES order (the online path)."""
    get = record.get
    hour = float(get("local_hour", 0.0) or 0.0)
    weekday = int(get("weekday", 0) or 0)
    device = _category(get("device"), DEVICES)
    source = _category(get("source"), SOURCES)
    last = get("last_channel")
    orders = float(get("orders", 0) or 0)
    values = [
        math.log1p(max(0.0, float(get("cart_value", 0.0) or 0.0))),
        float(get("item_count", 0) or 0),
        *(float(get("stage") == s) for s in STAGES),
        math.log1p(max(0.0, orders)),
        math.log1p(max(0.0, float(get("total_spent", 0.0) or 0.0))),
        float(orders > 0),
        float(get("previous_abandonments", 0) or 0),
        float(get("recency_days", 0.0) or 0.0),
        float(get("frequency", 0) or 0),
        float(get("mean_gap_days", 0.0) or 0.0),
        math.sin(2 * math.pi * hour / 24),
        math.cos(2 * math.pi * hour / 24),
        float(weekday),
        float(weekday >= 5),
        float(get("hours_since_abandonment", 0.0) or 0.0),
        float(get("touch", 1) or 1),
        *(float(device == d) for d in (*DEVICES, "other")),
        *(float(source == s) for s in (*SOURCES, "other")),
        *(float(get(f"signal_{k}", 0) or 0) for k in SIGNALS),
        *(float(get(f"{c}_{e}", 0) or 0) for c in CHANNELS for e in ENGAGEMENT),
        *(float(bool(get(f"{c}_reachable", False))) for c in CHANNELS),
        *(float(last == c) for c in CHANNELS),
    ]
    return np.asarray(values, dtype=np.float64)


def encode_frame(records: pd.DataFrame) -> np.ndarray:
    """Many snapshots (one per row, columns as in ``snapshot``) as a float32 matrix (training)."""
    n = len(records)

    def column(name: str, default: float = 0.0) -> pd.Series:
        if name not in records:
            return pd.Series(np.full(n, default), index=records.index, dtype="float64")
        return pd.to_numeric(records[name], errors="coerce").fillna(default).astype("float64")

    def text(name: str) -> pd.Series:
        if name not in records:
            return pd.Series([None] * n, index=records.index, dtype="object")
        return records[name].astype("object").where(records[name].notna(), None)

    def one_hot(name: str, known: Sequence[str], other: bool) -> list[np.ndarray]:
        values = text(name)
        out = [(values == k).to_numpy(dtype=np.float64) for k in known]
        if other:
            present = values.notna() & (values != "")
            out.append((present & ~values.isin(list(known))).to_numpy(dtype=np.float64))
        return out

    hour = column("local_hour")
    weekday = column("weekday")
    orders = column("orders").clip(lower=0)
    columns = [
        np.log1p(column("cart_value").clip(lower=0)),
        column("item_count"),
        *one_hot("stage", STAGES, other=False),
        np.log1p(orders),
        np.log1p(column("total_spent").clip(lower=0)),
        (orders > 0).astype("float64"),
        column("previous_abandonments"),
        column("recency_days"),
        column("frequency"),
        column("mean_gap_days"),
        np.sin(2 * np.pi * hour / 24),
        np.cos(2 * np.pi * hour / 24),
        weekday,
        (weekday >= 5).astype("float64"),
        column("hours_since_abandonment"),
        column("touch", 1.0).replace(0.0, 1.0),
        *one_hot("device", DEVICES, other=True),
        *one_hot("source", SOURCES, other=True),
        *(column(f"signal_{k}") for k in SIGNALS),
        *(column(f"{c}_{e}") for c in CHANNELS for e in ENGAGEMENT),
        *(column(f"{c}_reachable").astype(bool).astype("float64") for c in CHANNELS),
        *one_hot("last_channel", CHANNELS, other=False),
    ]
    return np.column_stack([np.asarray(c, dtype=np.float64) for c in columns]).astype(np.float32)
