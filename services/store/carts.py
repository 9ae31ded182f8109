"""Storing carts, orders and behaviour signals, and deciding which journey an event concerns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlmodel import Session, col, select

from services.clock import to_ts
from services.events import BehaviorSignal, CartEvent, OrderEvent
from services.store.customers import find_customer, record_consents, upsert_customer
from services.store.tables import BehaviorSignalRow, Cart, CartAlias, Order


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
    customer = upsert_customer(session, shop, event.contact, now, region)
    if customer is not None:
        record_consents(session, customer, event.consents, now)
    key = cart_key(shop, event.cart_id)
    cart = session.get(Cart, key)
    created = cart is None
    if cart is None:
        cart = Cart(id=key, shop=shop, token=event.cart_id, platform=platform, created_at=now, updated_at=now, version=0)
    stale = (
        cart.platform_updated_at is not None
        and event.updated_at is not None
        and to_ts(event.updated_at) < to_ts(cart.platform_updated_at)
    )
    if not stale:
        cart.customer_id = customer.id if customer else cart.customer_id
        cart.currency = event.currency
        cart.value_cents = cents(event.total_value)
        cart.items = [item.model_dump(mode="json") for item in event.items]
        cart.recovery_url = event.recovery_url or cart.recovery_url
        cart.stage = event.stage
        cart.device = event.device or cart.device
        cart.source = event.source or cart.source
        cart.platform_updated_at = event.updated_at or cart.platform_updated_at
        cart.version += 1
        cart.updated_at = now
    session.add(cart)
    session.flush()
    for token in [event.cart_id, *event.alt_ids]:
        if token and session.get(CartAlias, (shop, token)) is None:
            session.add(CartAlias(shop=shop, token=token, cart_id=key))
    change = CartChange(key, cart.version, cart.status == "open", created)
    if event.completed_at is not None:
        change.order_id = _store_order_row(
            session, shop, f"checkout:{event.cart_id}", cart, event.currency, cents(event.total_value), event.completed_at, now
        )
    if created and cart.customer_id:
        change.superseded = list(
            session.exec(
                select(Cart.id).where(Cart.customer_id == cart.customer_id, Cart.status == "open", Cart.id != key)
            )
        )
    return change


@dataclass
class OrderMatch:
    order_id: int
    cart_key: str | None  # the open journey to convert, if any
    duplicate: bool


def store_order(session: Session, shop: str, event: OrderEvent, now: datetime, region: str, window: timedelta) -> OrderMatch:
    existing = session.exec(select(Order).where(Order.shop == shop, Order.order_id == event.order_id)).first()
    if existing is not None:
        return OrderMatch(existing.id, _open_cart_key(session, existing.cart_id), True)
    customer = upsert_customer(session, shop, event.contact, now, region)
    cart = _cart_by_tokens(session, shop, [event.cart_id, *event.alt_cart_ids])
    if cart is None and customer is not None:
        cart = _recent_cart_of(session, customer.id, now - window)
    order_id = _store_order_row(
        session, shop, event.order_id, cart, event.currency, cents(event.total_value), event.placed_at or now, now,
        customer_id=customer.id if customer else None,
    )
    return OrderMatch(order_id, _open_cart_key(session, cart.id if cart else None), False)


def store_signal(session: Session, shop: str, event: BehaviorSignal, now: datetime) -> str | None:
    cart = _cart_by_tokens(session, shop, [event.cart_id])
    if cart is None:
        return None
    session.add(BehaviorSignalRow(cart_id=cart.id, kind=event.kind, at=event.at or now))
    return cart.id if cart.status == "open" else None


def open_carts_of(session: Session, shop: str, contact, region: str) -> list[str]:
    customer = find_customer(session, shop, contact, region)
    if customer is None:
        return []
    return list(session.exec(select(Cart.id).where(Cart.customer_id == customer.id, Cart.status == "open")))


def _store_order_row(session, shop, order_id, cart, currency, value_cents, placed_at, now, customer_id=None) -> int:
    existing = session.exec(select(Order).where(Order.shop == shop, Order.order_id == order_id)).first()
    if existing is not None:
        return existing.id
    row = Order(
        shop=shop,
        order_id=order_id,
        customer_id=customer_id or (cart.customer_id if cart else None),
        cart_id=cart.id if cart else None,
        currency=currency,
        value_cents=value_cents,
        placed_at=placed_at,
        received_at=now,
    )
    session.add(row)
    session.flush()
    return row.id


def _cart_by_tokens(session: Session, shop: str, tokens: list[str | None]) -> Cart | None:
    for token in tokens:
        if not token:
            continue
        alias = session.get(CartAlias, (shop, token))
        if alias is not None:
            return session.get(Cart, alias.cart_id)
    return None


def _recent_cart_of(session: Session, customer_id: str, since: datetime) -> Cart | None:
    """The customer's latest cart still open or abandoned inside the attribution window."""
    return session.exec(
        select(Cart)
        .where(Cart.customer_id == customer_id)
        .where((Cart.status == "open") | (col(Cart.abandoned_at) >= since))
        .order_by(col(Cart.updated_at).desc())
    ).first()


def _open_cart_key(session: Session, cart_id: str | None) -> str | None:
    if cart_id is None:
        return None
    cart = session.get(Cart, cart_id)
    return cart.id if cart is not None and cart.status == "open" else None
