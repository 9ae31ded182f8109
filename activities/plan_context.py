"""Builds the planner's view of a cart from the database: counts and booleans, no contact data."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlmodel import Session, col, func, select

from channel_models.context import PlanContext, Reachability
from services.settings import Settings
from services.store.customers import contacts_of, current_consent
from services.store.tables import BehaviorSignalRow, Cart, Message, Order

_CAPTURE_KIND = {"email": ("email",), "sms": ("phone",), "push": ("push_token",), "retargeting": ("audience_id", "email", "phone")}


def build_plan_context(
    session: Session,
    settings: Settings,
    cart: Cart,
    *,
    touch: int,
    max_touches: int,
    now: datetime,
    abandoned_at: datetime,
    deadline: datetime,
    excluded: tuple[str, ...] = (),
) -> PlanContext:
    orders, spent, abandonments = 0, 0.0, 0
    reachability: dict[str, Reachability] = {}
    if cart.customer_id:
        orders, spent_cents = session.exec(
            select(func.count(col(Order.id)), func.coalesce(func.sum(Order.value_cents), 0)).where(
                Order.customer_id == cart.customer_id, (col(Order.cart_id) != cart.id) | col(Order.cart_id).is_(None)
            )
        ).one()
        spent = spent_cents / 100
        abandonments = session.exec(
            select(func.count(col(Cart.id))).where(
                Cart.customer_id == cart.customer_id, Cart.id != cart.id, col(Cart.abandoned_at).is_not(None)
            )
        ).one()
        contacts = contacts_of(session, cart.customer_id)
        consent = current_consent(session, cart.customer_id)
        for channel, kinds in _CAPTURE_KIND.items():
            reachability[channel] = Reachability(
                captured=any(k in contacts for k in kinds),
                consent=consent[channel].state if channel in consent else None,
            )
    signals = Counter(session.exec(select(BehaviorSignalRow.kind).where(BehaviorSignalRow.cart_id == cart.id)))
    previous = tuple(
        session.exec(
            select(Message.channel)
            .where(Message.cart_id == cart.id, Message.status == "sent", Message.touch < touch)
            .order_by(col(Message.touch))
        )
    )
    incentives = tuple(
        name for name, code in (("free_shipping", settings.free_shipping_code), ("discount", settings.discount_code)) if code
    )
    return PlanContext(
        touch=touch,
        max_touches=max_touches,
        now=now,
        abandoned_at=abandoned_at,
        deadline=deadline,
        cart_value=cart.value_cents / 100,
        item_count=sum(int(item.get("quantity", 1)) for item in cart.items),
        stage=cart.stage,
        orders=int(orders),
        total_spent=float(spent),
        previous_abandonments=int(abandonments),
        signal_counts=dict(signals),
        configured=settings.configured_channels(),
        reachability=reachability,
        email_requires_consent=settings.email_requires_consent,
        previous_channels=previous,
        excluded=tuple(excluded),
        incentives_available=incentives,
        device=cart.device,
    )


def features_snapshot(ctx: PlanContext) -> dict:
    """What the decision row keeps of the context, for explanations and retraining."""
    return {
        "cart_value": ctx.cart_value,
        "item_count": ctx.item_count,
        "stage": ctx.stage,
        "orders": ctx.orders,
        "total_spent": ctx.total_spent,
        "previous_abandonments": ctx.previous_abandonments,
        "signal_counts": dict(ctx.signal_counts),
        "previous_channels": list(ctx.previous_channels),
        "excluded": list(ctx.excluded),
        "device": ctx.device,
        "hours_since_abandonment": round((ctx.now - ctx.abandoned_at).total_seconds() / 3600, 3),
    }
