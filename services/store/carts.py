"""Storing carts, orders and behaviour signals, and deciding which journey an event concerns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import update
from sqlmodel import Session, col, select

from services.core.clock import utc
from services.core.events import BehaviorSignal, CartEvent, OrderEvent
from services.store import prepared
from services.store.customers import find_customer_id, record_consents, upsert_customer
from services.store.prepared import run
from services.store.tables import BehaviorSignalRow, Cart, CartAlias, Order, saved_id


def cart_key(shop: str, token: str) -> str:
    """Opaque, stable key for a cart: the workflow id is built from it, never from the token itself
    (a checkout token opens the shopper's checkout)."""
    return hashlib.sha256(f"{shop}\x00{token}".encode()).hexdigest()[:32]


def cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


@dataclass
class CartChange:
    cart_key: str
    version: int
    journey_open: bool  # the cart still wants a running journey
    created: bool
    superseded: list[str] = field(default_factory=list)  # older open carts of the same customer
    order_id: int | None = None  # set when the event itself says the checkout completed


def store_cart(session: Session, shop: str, platform: str, event: CartEvent, now: datetime, region: str) -> CartChange:
    customer_id = upsert_customer(session, shop, event.contact, now, region)
    if customer_id is not None:
        record_consents(session, customer_id, event.consents, now)
    key = cart_key(shop, event.cart_id)
    stored = run(
        session,
        prepared.upsert_cart,
        id=key,
        shop=shop,
        token=event.cart_id,
        platform=platform,
        version=1,
        status="open",
        journey_state="watching",
        created_at=now,
        updated_at=now,
        holdout=None,
        abandoned_at=None,
        closed_at=None,
        customer_id=customer_id,
        currency=event.currency,
        value_cents=cents(event.total_value),
        items=[item.model_dump(mode="json") for item in event.items],
        stage=event.stage,
        recovery_url=event.recovery_url,
        device=event.device,
        source=event.source,
        platform_updated_at=utc(event.updated_at),
    ).first()
    if stored is None:  # an older update than the one stored: nothing changed
        stored = run(session, prepared.cart_state, id=key).one()
    version, status, owner = stored
    for token in dict.fromkeys([event.cart_id, *event.alt_ids]):
        run(session, prepared.add_alias, shop=shop, token=token, cart_id=key)
    created = version == 1
    change = CartChange(key, version, status == "open", created)
    if event.completed_at is not None:
        # Keyed by our opaque cart key, not the token: the token opens the shopper's checkout and
        # order ids outlive erasure (outcomes copy them).
        change.order_id = _store_order_row(
            session,
            shop,
            f"checkout:{key}",
            key,
            owner,
            event.currency,
            cents(event.total_value),
            utc(event.completed_at),
            now,
        )
    if created and owner:
        change.superseded = _supersede_older(session, owner, key)
    return change


def _supersede_older(session: Session, customer_id: str, key: str) -> list[str]:
    """Older open carts of the customer; marked at once so each older journey is told only once."""
    older = list(run(session, prepared.older_open_carts, customer_id=customer_id, id=key).scalars())
    if older:
        session.execute(update(Cart).where(col(Cart.id).in_(older)).values(journey_state="superseded"))
    return older


@dataclass
class OrderMatch:
    order_id: int
    cart_key: str | None  # the open journey to convert, if any
    duplicate: bool


def mark_abandoned(cart: Cart, at: datetime, holdout: bool) -> None:
    """The cart's journey reached abandonment: in the holdout (no message) or to be treated."""
    cart.abandoned_at = at
    cart.holdout = holdout
    cart.journey_state = "holdout" if holdout else "abandoned"


def store_order(
    session: Session, shop: str, event: OrderEvent, now: datetime, region: str, window: timedelta
) -> OrderMatch:
    existing = session.exec(select(Order).where(Order.shop == shop, Order.order_id == event.order_id)).first()
    if existing is not None:
        return OrderMatch(existing.id, _open_cart_key(session, existing.cart_id), True)
    customer_id = upsert_customer(session, shop, event.contact, now, region, order=True)
    cart = _cart_by_tokens(session, shop, [event.cart_id, *event.alt_cart_ids])
    if cart is None and customer_id is not None:
        cart = _recent_cart_of(session, customer_id, now - window)
    provisional = (
        cart and session.exec(select(Order).where(Order.shop == shop, Order.order_id == f"checkout:{cart.id}")).first()
    )
    if provisional:  # the completed checkout already stood for this order: it becomes the real one
        provisional.order_id, provisional.value_cents = event.order_id, cents(event.total_value)
        provisional.customer_id = provisional.customer_id or customer_id
        session.add(provisional)
        return OrderMatch(provisional.id, _open_cart_key(session, cart.id), False)
    order_id = _store_order_row(
        session,
        shop,
        event.order_id,
        cart.id if cart else None,
        customer_id or (cart.customer_id if cart else None),
        event.currency,
        cents(event.total_value),
        utc(event.placed_at) or now,
        now,
    )
    return OrderMatch(order_id, _open_cart_key(session, cart.id if cart else None), False)


def store_signal(session: Session, shop: str, event: BehaviorSignal, now: datetime) -> str | None:
    cart = _cart_by_tokens(session, shop, [event.cart_id])
    if cart is None:
        return None
    session.add(BehaviorSignalRow(cart_id=cart.id, kind=event.kind, at=utc(event.at) or now))
    return cart.id if cart.status == "open" else None


def open_carts_of(session: Session, shop: str, contact, region: str) -> list[str]:
    customer_id = find_customer_id(session, shop, contact, region)
    if customer_id is None:
        return []
    return list(session.exec(select(Cart.id).where(Cart.customer_id == customer_id, Cart.status == "open")))


def _store_order_row(session, shop, order_id, cart_id, customer_id, currency, value_cents, placed_at, now) -> int:
    existing = session.exec(select(Order).where(Order.shop == shop, Order.order_id == order_id)).first()
    if existing is not None:
        return existing.id
    row = Order(
        shop=shop,
        order_id=order_id,
        customer_id=customer_id,
        cart_id=cart_id,
        currency=currency,
        value_cents=value_cents,
        placed_at=placed_at,
        received_at=now,
    )
    session.add(row)
    session.flush()
    return saved_id(row)


def _cart_by_tokens(session: Session, shop: str, tokens: list[str | None]) -> Cart | None:
    for token in tokens:
        if not token:
            continue
        alias = session.get(CartAlias, (shop, token))
        if alias is not None:
            return session.get(Cart, alias.cart_id)
    return None


def _recent_cart_of(session: Session, customer_id: str, since: datetime) -> Cart | None:
    """The customer's latest cart not yet abandoned (still watched) or abandoned inside the
    attribution window. An open cart abandoned earlier is only waiting for its journey to record
    the outcome (a late timer, a stopped worker): an order now is outside its window."""
    watched = (Cart.status == "open") & col(Cart.abandoned_at).is_(None)
    return session.exec(
        select(Cart)
        .where(Cart.customer_id == customer_id)
        .where(watched | (col(Cart.abandoned_at) >= since))
        .order_by(col(Cart.updated_at).desc())
    ).first()


def _open_cart_key(session: Session, cart_id: str | None) -> str | None:
    if cart_id is None:
        return None
    cart = session.get(Cart, cart_id)
    return cart.id if cart is not None and cart.status == "open" else None
