"""A seeded shop of ended journeys for the retraining tests, with the settings and readers they share."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlmodel import Session, select

from channel_models.actions import action_index
from channel_models.context import PlanContext, Reachability
from channel_models.learning.features import snapshot
from services.core.clock import service_now
from services.core.settings import Settings
from services.model_ops.overview import kind_status
from services.store.service_clock import stored_clock
from services.store.tables import Cart, Decision, Message, ModelVersion, Outcome, ReasonLabel

SECRET = "training-activity-secret-0123456789"
# touch 1 of a treated cart may be e-mail or SMS at any delay, no incentive: 10 actions, logged uniformly
LOGGED_ACTIONS = [
    action_index(channel, delay, None) for channel in ("email", "sms") for delay in (0.25, 1.0, 4.0, 24.0, 48.0)
]
FAST_EMAIL = {action_index("email", 0.25, None), action_index("email", 1.0, None)}


def low_threshold_settings(tmp_path, **overrides) -> Settings:
    """Thresholds a few thousand seeded carts pass; overdue training never alerts in the test."""
    values = dict(
        _env_file=None,
        data_dir=tmp_path,
        secret_key=SECRET,
        model_min_days=3,
        model_min_carts=200,
        model_min_conversions=20,
        reason_min_labels=50,
        model_overdue_hours=24 * 365,
        model_stale_hours=24 * 365,
    )
    return Settings(**(values | overrides))


def seed_shop(engine, *, carts: int = 3000, days: int = 20, seed: int = 0) -> None:
    """Ended journeys over `days` before the latest Monday: half holdout, half one uniformly
    explored touch.

    Ground truth the rule prior cannot see: desktop shoppers and e-mail traffic come back on their
    own more often (propensity), and a fast e-mail recovers many more (policy); survey reasons
    follow the device (reason classifier)."""
    rng = random.Random(seed)
    # the latest Monday midnight: local hour and weekday features, and so the fits, are the same every run
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    now = today - timedelta(days=today.weekday())
    rows = {name: [] for name in ("carts", "decisions", "messages", "outcomes", "labels")}
    for i in range(carts):
        abandoned = now - timedelta(days=days) + timedelta(seconds=rng.uniform(0, (days - 0.5) * 86400))
        device, source = rng.choice(["mobile", "desktop"]), rng.choice(["email", "search", "social"])
        ctx = PlanContext(
            touch=1,
            max_touches=3,
            now=abandoned + timedelta(minutes=10),
            abandoned_at=abandoned,
            deadline=abandoned + timedelta(days=5),
            cart_value=rng.uniform(20, 200),
            item_count=rng.randint(1, 4),
            stage="checkout",
            configured=("email", "sms"),
            device=device,
            source=source,
            reachability={c: Reachability(True, "granted") for c in ("email", "sms")},
        )
        features = snapshot(ctx)
        organic = 0.1 + 0.3 * (device == "desktop") + 0.2 * (source == "email")
        holdout = i % 2 == 0
        cart_id = f"c{i:06d}"
        recovered = rng.random() < organic
        if not holdout:
            action = rng.choice(LOGGED_ACTIONS)
            recovered = recovered or rng.random() < (0.9 if action in FAST_EMAIL else 0.0)
            rows["decisions"].append(
                dict(
                    id=i + 1,
                    cart_id=cart_id,
                    touch=1,
                    decided_at=ctx.now,
                    policy="rules-v1+explore",
                    stop=False,
                    channel="email" if action < 15 else "sms",
                    send_at=ctx.now,
                    reason="other",
                    reason_confidence=0.5,
                    propensity=0.3,
                    bucket="Moderate",
                    action_propensity=1 / len(LOGGED_ACTIONS),
                    allowed={},
                    blocked={},
                    explanation=[],
                    features=features,
                    action=action,
                    allowed_actions=LOGGED_ACTIONS,
                    model_versions={},
                )
            )
            rows["messages"].append(
                dict(
                    idempotency_key=f"recovery/s/{cart_id}/1",
                    cart_id=cart_id,
                    decision_id=i + 1,
                    touch=1,
                    channel="email" if action < 15 else "sms",
                    status="sent",
                    created_at=ctx.now,
                    sent_at=ctx.now,
                )
            )
        rows["carts"].append(
            dict(
                id=cart_id,
                shop="s",
                token=cart_id,
                platform="generic",
                value_cents=int(ctx.cart_value * 100),
                items=[],
                stage="checkout",
                status="recovered" if recovered else "not_recovered",
                journey_state="done",
                holdout=holdout,
                created_at=abandoned - timedelta(minutes=30),
                updated_at=abandoned,
                abandoned_at=abandoned,
                features=features,
            )
        )
        rows["outcomes"].append(
            dict(
                cart_id=cart_id,
                status="recovered" if recovered else "not_recovered",
                holdout=holdout,
                value_cents=0,
                touches_sent=0 if holdout else 1,
                time_to_recovery_s=3 * 3600.0 if recovered else None,
                recorded_at=min(abandoned + timedelta(days=5), now),
            )
        )
        if i % 10 == 0:
            reason = "shipping_cost" if (device == "desktop") == (rng.random() < 0.85) else "price"
            rows["labels"].append(
                dict(cart_id=cart_id, reason=reason, source="survey", recorded_at=abandoned + timedelta(hours=1))
            )
    with Session(engine) as session:
        for table, name in (
            (Cart, "carts"),
            (Decision, "decisions"),
            (Message, "messages"),
            (Outcome, "outcomes"),
            (ReasonLabel, "labels"),
        ):
            session.execute(insert(table), rows[name])
        session.commit()


def versions(engine) -> dict[str, list[tuple[int, str]]]:
    with Session(engine) as session:
        out: dict[str, list] = {}
        for row in session.exec(select(ModelVersion).order_by(ModelVersion.id)):
            out.setdefault(row.kind, []).append((row.version, row.status, row.artifact is not None))
        return out


def statuses(engine, settings) -> dict[str, str]:
    with Session(engine) as session:
        now = service_now(stored_clock(session))
        return {kind: kind_status(session, settings, kind, now).status for kind in ("policy", "propensity", "reason")}
