"""A hand-built set of journeys whose every reward is known, for the training-data tests (test_training_*.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from channel_models.context import PlanContext
from channel_models.learning.features import snapshot
from services.store.frames.feature_rows import feature_row
from services.store.tables import Cart, Decision, Message, Order, Outcome

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
FEATURE_COLUMNS = list(
    snapshot(
        PlanContext(
            touch=1, max_touches=1, now=T0, abandoned_at=T0, deadline=T0, cart_value=0, item_count=0, stage="cart"
        )
    )
)


def snap(value: float, touch: int = 1, now: datetime = T0, **extra) -> dict:
    """A real snapshot whose cart value tells the rows apart."""
    ctx = PlanContext(
        touch=touch,
        max_touches=3,
        now=now,
        abandoned_at=T0,
        deadline=T0 + 120 * H,
        cart_value=value,
        item_count=2,
        stage="payment",
        device="mobile",
        source="newsletter",
        previous_channels=("email",) * (touch - 1),
        signal_counts={"price_sort": 2},
        **extra,
    )
    return snapshot(ctx)


def key(name: str) -> str:
    return name.ljust(32, "0")


def flat(name: str, features: dict | None) -> str | None:
    """Half the journeys keep the flat copy the service writes, half only JSON (bulk-loaded or
    older rows): both must load the same."""
    return feature_row(features) if name in ("a", "b", "d", "g") else None


def cart(session, name, *, features=None, holdout=False, value=5000, abandoned=T0):
    session.add(
        Cart(
            id=key(name),
            shop="s",
            token=name,
            platform="generic",
            value_cents=value,
            created_at=abandoned - H,
            updated_at=abandoned,
            abandoned_at=abandoned,
            holdout=holdout,
            features=features,
            feature_row=flat(name, features),
        )
    )
    session.flush()


def decision(
    session, name, touch, at, *, action=3, allowed=(3, 5), stop=False, features=None, sent=True, rule_action=None
) -> int:
    features = features or snap(1.0, touch, at)
    row = Decision(
        cart_id=key(name),
        touch=touch,
        decided_at=at,
        policy="rules-v1+explore",
        stop=stop,
        reason="price",
        reason_confidence=0.6,
        propensity=0.2,
        bucket="Low",
        action_propensity=0.75,
        action=action,
        allowed_actions=list(allowed),
        features=features,
        feature_row=flat(name, features),
        model_versions={"policy": 4},
        rule_action=rule_action,
    )
    session.add(row)
    session.flush()
    if sent is not None:
        session.add(
            Message(
                idempotency_key=f"{name}/{touch}",
                cart_id=key(name),
                decision_id=row.id,
                touch=touch,
                channel="email",
                status="sent" if sent else "skipped",
                created_at=at,
            )
        )
    return row.id


def outcome(session, name, status, *, touches=1, placed=None, received=None, value=5000, ttr=None):
    order_id = None
    if placed is not None:
        order_id = f"order-{name}"
        session.add(
            Order(
                shop="s",
                order_id=order_id,
                cart_id=key(name),
                value_cents=value,
                placed_at=placed,
                received_at=received or placed,
            )
        )
    session.add(
        Outcome(
            cart_id=key(name),
            status=status,
            order_id=order_id,
            touches_sent=touches,
            value_cents=value,
            time_to_recovery_s=ttr,
            recorded_at=T0 + 120 * H,
        )
    )
