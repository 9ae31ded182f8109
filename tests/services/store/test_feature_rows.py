"""Feature rows (services/store/frames/feature_rows.py) on SQLite and PostgreSQL: a snapshot read back
from its flat row, from a row of another layout, or from its JSON alone gives the same columns."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from channel_models.context import PlanContext, Reachability
from channel_models.learning.features import snapshot
from channel_models.vocabulary import CHANNELS
from services.store.frames.feature_rows import FEATURES, feature_row
from services.store.frames.training_data import load_frames
from services.store.tables import Cart, Decision, Outcome

T0 = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
ODD_DEVICES = [None, "mobile", 'pixel "8", pro', "tab\nlet", "ünïcode 📱", "null", "nan", ",", '"', 'a,b,"c"\n,d']


def random_snapshot(rng: random.Random, i: int) -> dict:
    ctx = PlanContext(
        touch=rng.randint(1, 3),
        max_touches=3,
        now=T0 + timedelta(minutes=rng.randint(0, 10_000)),
        abandoned_at=T0,
        deadline=T0 + timedelta(days=5),
        cart_value=rng.choice([0.0, 0.1, 19.99, 1e6 + 0.37, rng.uniform(0, 900)]),
        item_count=rng.randint(0, 40),
        stage=rng.choice(["cart", "checkout", "shipping", "payment"]),
        orders=rng.randint(0, 50),
        total_spent=rng.uniform(0, 5000),
        previous_abandonments=rng.randint(0, 9),
        signal_counts={"price_sort": rng.randint(0, 5), "payment_failed": rng.randint(0, 2)},
        reachability={c: Reachability(rng.random() < 0.5, rng.choice([None, "granted", "revoked"])) for c in CHANNELS},
        previous_channels=tuple(rng.choice(CHANNELS) for _ in range(rng.randint(0, 2))),
        excluded=tuple(rng.sample(CHANNELS, rng.randint(0, 2))),
        device=ODD_DEVICES[i % len(ODD_DEVICES)],
        source=rng.choice([None, "google", "Facebook Ads", "weird,source"]),
        timezone=rng.choice([None, "Asia/Kolkata"]),
        customer_events=tuple(T0 - timedelta(days=rng.uniform(0, 80)) for _ in range(rng.randint(0, 4))),
        engagement={c: (rng.randint(0, 5), rng.randint(0, 3), rng.randint(0, 1)) for c in rng.sample(CHANNELS, 2)},
    )
    return snapshot(ctx)


def same(a, b) -> bool:
    """Equal, a missing text being NaN in pandas' string columns."""
    if b is None:
        return a is None or (isinstance(a, float) and math.isnan(a))
    return a == b or (isinstance(a, float) and math.isclose(a, b, rel_tol=1e-12))


@pytest.mark.parametrize("stored", ["flat", "json only", "other layout"])
def test_every_way_a_snapshot_is_stored_reads_back_the_same(engine, stored):
    rng = random.Random(11)
    snaps = [random_snapshot(rng, i) for i in range(40)]
    with Session(engine) as session:
        for i, snap in enumerate(snaps):
            key = f"{i:032x}"
            row = {"flat": feature_row(snap), "json only": None, "other layout": "0badc0de," + ",".join(["9"] * 60)}[
                stored
            ]
            session.add(
                Cart(
                    id=key,
                    shop="s",
                    token=key,
                    platform="generic",
                    created_at=T0,
                    updated_at=T0,
                    abandoned_at=T0 + timedelta(seconds=i),
                    features=snap,
                    feature_row=row,
                )
            )
            session.flush()
            session.add(
                Decision(
                    cart_id=key,
                    touch=snap["touch"],
                    decided_at=T0 + timedelta(seconds=i),
                    policy="p",
                    reason="price",
                    reason_confidence=0.5,
                    propensity=0.1,
                    bucket="Low",
                    action=i % 60,
                    allowed_actions=[i % 60],
                    features=snap,
                    feature_row=row,
                )
            )
            session.add(Outcome(cart_id=key, status="not_recovered", recorded_at=T0))
        session.commit()
    frames = load_frames(engine)
    for frame in (frames.decisions, frames.carts):
        assert len(frame) == len(snaps)
        for snap, (_, row) in zip(snaps, frame.iterrows()):
            for name in FEATURES.names:
                assert same(row[name], snap[name]), (stored, name, row[name], snap[name])


def test_a_row_is_the_layout_then_every_feature():
    snap = random_snapshot(random.Random(3), 2)
    row = feature_row(snap)
    assert row.startswith(FEATURES.layout + ",")
    assert feature_row(None) is None
    assert len(FEATURES.layout) == 8
    assert FEATURES.names[0] == "cart_value"


def test_missing_values_read_as_zero_false_nan_none_and_empty(engine):
    """A snapshot written before a feature existed (here: only three keys)."""
    old = {"cart_value": 12.5, "stage": "cart", "email_reachable": True}
    with Session(engine) as session:
        session.add(
            Cart(
                id="a" * 32,
                shop="s",
                token="t",
                platform="generic",
                created_at=T0,
                updated_at=T0,
                abandoned_at=T0,
                features=old,
                feature_row=None,
            )
        )
        session.add(Outcome(cart_id="a" * 32, status="recovered", recorded_at=T0))
        session.commit()
    [row] = [r for _, r in load_frames(engine).carts.iterrows()]
    assert (row["cart_value"], row["stage"], row["email_reachable"]) == (12.5, "cart", True)
    assert (row["item_count"], row["sms_reachable"], row["previous_channels"]) == (0, False, [])
    assert math.isnan(row["recency_days"])
    assert same(row["device"], None)
