"""Customers, their contacts and the consent ledger."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session, col, select

from services.contacts import normalize_email, normalize_phone
from services.events import ConsentChange, Contact as ContactIn
from services.store.tables import ConsentRecord, Contact, Customer


def normalized_contacts(contact: ContactIn, region: str) -> dict[str, tuple[str, str]]:
    """kind -> (value, normalized) for the usable contact data in an event."""
    found: dict[str, tuple[str, str]] = {}
    email = normalize_email(contact.email)
    if email:
        found["email"] = (contact.email or email, email)
    phone = normalize_phone(contact.phone, region)
    if phone:
        found["phone"] = (phone, phone)
    if contact.push_token:
        found["push_token"] = (contact.push_token, contact.push_token)
    if contact.audience_id:
        found["audience_id"] = (contact.audience_id, contact.audience_id)
    return found


def find_customer(session: Session, shop: str, contact: ContactIn, region: str) -> Customer | None:
    if contact.customer_id:
        found = session.exec(
            select(Customer).where(Customer.shop == shop, Customer.external_id == contact.customer_id)
        ).first()
        if found:
            return found
    for kind, (_value, normalized) in normalized_contacts(contact, region).items():
        if kind not in ("email", "phone"):
            continue
        found = session.exec(
            select(Customer)
            .join(Contact, col(Contact.customer_id) == col(Customer.id))
            .where(Contact.shop == shop, Contact.kind == kind, Contact.normalized == normalized)
        ).first()
        if found:
            return found
    return None


def upsert_customer(session: Session, shop: str, contact: ContactIn, now: datetime, region: str) -> Customer | None:
    """Find or create the customer an event is about and store what it tells us. None if anonymous."""
    contacts = normalized_contacts(contact, region)
    customer = find_customer(session, shop, contact, region)
    if customer is None:
        if not contacts and not contact.customer_id:
            return None
        customer = Customer(id=uuid.uuid4().hex, shop=shop, created_at=now)
    customer.external_id = contact.customer_id or customer.external_id
    customer.first_name = contact.first_name or customer.first_name
    customer.locale = contact.locale or customer.locale
    customer.timezone = contact.timezone or customer.timezone
    session.add(customer)
    session.flush()
    existing = {c.kind: c for c in session.exec(select(Contact).where(Contact.customer_id == customer.id))}
    for kind, (value, normalized) in contacts.items():
        row = existing.get(kind) or Contact(customer_id=customer.id, shop=shop, kind=kind, value=value, normalized=normalized, updated_at=now)
        row.value, row.normalized, row.updated_at = value, normalized, now
        session.add(row)
    return customer


def current_consent(session: Session, customer_id: str) -> dict[str, ConsentRecord]:
    latest: dict[str, ConsentRecord] = {}
    rows = session.exec(
        select(ConsentRecord).where(ConsentRecord.customer_id == customer_id).order_by(col(ConsentRecord.id))
    )
    for row in rows:
        latest[row.channel] = row
    return latest


def record_consents(session: Session, customer: Customer, changes: list[ConsentChange], now: datetime) -> int:
    """Append the changes that change something; returns how many were appended."""
    latest = current_consent(session, customer.id)
    appended = 0
    for change in changes:
        previous = latest.get(change.channel)
        if previous is not None and previous.state == change.state:
            continue
        row = ConsentRecord(
            customer_id=customer.id,
            channel=change.channel,
            state=change.state,
            source=change.source,
            evidence=change.evidence,
            occurred_at=change.at or now,
            recorded_at=now,
        )
        session.add(row)
        latest[change.channel] = row
        appended += 1
    return appended


def contacts_of(session: Session, customer_id: str) -> dict[str, Contact]:
    return {c.kind: c for c in session.exec(select(Contact).where(Contact.customer_id == customer_id))}
