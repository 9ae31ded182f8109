"""GDPR / CCPA: export everything held about a customer, or erase it.

Erasure removes contacts, names, consent evidence and cart contents, and keeps only what has no
personal data: opaque ids, amounts and outcomes, so aggregate reports stay true.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, delete, select

from services.core.events import Contact as ContactIn
from services.store.customers import find_customer, privacy_subjects
from services.store.tables import Cart, CartAlias, ConsentRecord, Contact, Customer, Message, Order


def export_customer(session: Session, shop: str, contact: ContactIn, region: str) -> dict:
    customer = find_customer(session, shop, contact, region)
    return {"customer": None} if customer is None else export(session, customer)


def export(session: Session, customer: Customer) -> dict:
    carts = session.exec(select(Cart).where(Cart.customer_id == customer.id)).all()
    cart_ids = [c.id for c in carts]
    return {
        "customer": customer.model_dump(mode="json"),
        "contacts": [
            c.model_dump(mode="json", exclude={"id"})
            for c in session.exec(select(Contact).where(Contact.customer_id == customer.id))
        ],
        "consent_ledger": [
            r.model_dump(mode="json")
            for r in session.exec(select(ConsentRecord).where(ConsentRecord.customer_id == customer.id))
        ],
        "carts": [c.model_dump(mode="json") for c in carts],
        "orders": [
            o.model_dump(mode="json") for o in session.exec(select(Order).where(Order.customer_id == customer.id))
        ],
        "messages": [
            m.model_dump(mode="json") for m in session.exec(select(Message).where(Message.cart_id.in_(cart_ids)))
        ]
        if cart_ids
        else [],
    }


def erase_customer(session: Session, shop: str, contact: ContactIn, region: str, now: datetime) -> list[str] | None:
    """Erase whom the request is about (`privacy_subjects`); the open carts whose journeys must
    stop, or None when nobody matched."""
    erased = [
        session.get_one(Customer, customer_id) for customer_id in privacy_subjects(session, shop, contact, region)
    ]
    if not erased:
        return None
    running = list(
        session.exec(select(Cart.id).where(col(Cart.customer_id).in_([c.id for c in erased]), Cart.status == "open"))
    )
    for customer in erased:
        _erase(session, customer, now)
    return running


def erase_by_id(session: Session, customer_id: str, now: datetime) -> list[tuple[str, str]] | None:
    """Erase one customer; returns (shop, cart key) of the journeys to stop, None if unknown."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    running = list(
        session.exec(select(Cart.shop, Cart.id).where(Cart.customer_id == customer.id, Cart.status == "open"))
    )
    _erase(session, customer, now)
    return running


def erase_shop(session: Session, shop: str, now: datetime) -> list[str]:
    """Erase every customer of a shop; returns the carts whose journeys must stop."""
    open_keys = list(session.exec(select(Cart.id).where(Cart.shop == shop, Cart.status == "open")))
    for customer in session.exec(select(Customer).where(Customer.shop == shop, Customer.erased_at.is_(None))).all():
        _erase(session, customer, now)
    # Anonymous carts too: their token and recovery URL still open the shopper's checkout.
    for cart in session.exec(select(Cart).where(Cart.shop == shop, Cart.customer_id.is_(None))).all():
        _scrub_cart(session, cart)
    return open_keys


def _erase(session: Session, customer: Customer, now: datetime) -> None:
    session.exec(delete(Contact).where(Contact.customer_id == customer.id))
    session.exec(delete(ConsentRecord).where(ConsentRecord.customer_id == customer.id))
    # A guest cart is linked to the person only through the order they placed from it.
    ordered = select(Order.cart_id).where(Order.customer_id == customer.id, col(Order.cart_id).is_not(None))
    for cart in session.exec(select(Cart).where((Cart.customer_id == customer.id) | col(Cart.id).in_(ordered))).all():
        _scrub_cart(session, cart)
    customer.external_id = customer.first_name = customer.locale = customer.timezone = None
    customer.country = customer.province = None
    customer.erased_at = now
    session.add(customer)


def _scrub_cart(session: Session, cart: Cart) -> None:
    cart.items, cart.recovery_url, cart.source = [], None, None
    session.exec(delete(CartAlias).where(CartAlias.cart_id == cart.id))
    cart.token = f"erased:{cart.id}"
    session.add(cart)
