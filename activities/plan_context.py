"""Builds the planner's view of a cart from the database: counts and booleans, no contact data."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from channel_models.context import PlanContext, Reachability
from services.clock import utc
from services.contacts import phone_whereabouts
from services.settings import Settings
from services.store.customers import contacts_of, current_consent
from services.store.tables import BehaviorSignalRow, Cart, Contact as ContactRow, Customer, Message, Order

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
    where = _whereabouts(session, settings, cart)
    sent = _sent_history(session, cart, now)
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
        timezone=where[0],
        country=where[1],
        province=where[2],
        sent_history=tuple((channel, at) for channel, at, _ in sent),
        journey_history=tuple((channel, at) for channel, at, cart_id in sent if cart_id == cart.id),
        fallback_timezone=settings.shop_timezone,
        cap_hours={
            "email_hours": settings.email_cap_hours,
            "sms_hours": settings.sms_cap_hours,
            "push_hours": settings.push_cap_hours,
        },
    )


HISTORY = timedelta(days=2)  # longer than any cap


def _sent_history(session: Session, cart: Cart, now: datetime) -> list[tuple[str, datetime, str]]:
    """(channel, sent_at, cart id) of what this customer (or, for a guest, this cart) was sent lately."""
    query = select(Message.channel, Message.sent_at, Message.cart_id).where(
        Message.status == "sent", col(Message.sent_at) >= now - HISTORY
    )
    if cart.customer_id:
        query = query.join(Cart, col(Cart.id) == col(Message.cart_id)).where(Cart.customer_id == cart.customer_id)
    else:
        query = query.where(Message.cart_id == cart.id)
    return [(channel, utc(at), cart_id) for channel, at, cart_id in session.exec(query)]


def _whereabouts(session: Session, settings: Settings, cart: Cart) -> tuple[str | None, str | None, str | None]:
    """(time zone, country, province): the customer record, else the phone number's region."""
    customer = session.get(Customer, cart.customer_id) if cart.customer_id else None
    zone = customer.timezone if customer else None
    country = customer.country if customer else None
    phone = session.exec(
        select(ContactRow.normalized).where(ContactRow.customer_id == cart.customer_id, ContactRow.kind == "phone")
    ).first() if customer else None
    if phone and (zone is None or country is None):
        region, zones = phone_whereabouts(phone)
        country = country or region
        zone = zone or (zones[0] if len(zones) == 1 else None)  # a country spanning zones stays unknown
    return zone, country, customer.province if customer else None


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
