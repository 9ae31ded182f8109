"""Customers, their contacts and the consent ledger.

The webhook path uses the prepared statements of services/store/prepared.py.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session, col, select

from services.core.clock import utc
from services.core.contacts import normalize_email, normalize_phone
from services.core.events import ConsentChange
from services.core.events import Contact as ContactIn
from services.store import prepared
from services.store.prepared import run
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


def find_customer_id(session: Session, shop: str, contact: ContactIn, region: str, contacts=None) -> str | None:
    """By platform customer id, else by normalised e-mail, else by phone number."""
    if contact.customer_id:
        found = run(session, prepared.customer_by_external, shop=shop, external_id=contact.customer_id).scalar()
        if found:
            return found
    contacts = normalized_contacts(contact, region) if contacts is None else contacts
    for kind in ("email", "phone"):
        if kind in contacts:
            found = run(
                session, prepared.customer_by_contact, shop=shop, kind=kind, normalized=contacts[kind][1]
            ).scalar()
            if found:
                return found
    return None


def find_customer(session: Session, shop: str, contact: ContactIn, region: str) -> Customer | None:
    customer_id = find_customer_id(session, shop, contact, region)
    return session.get(Customer, customer_id) if customer_id else None


def upsert_customer(session: Session, shop: str, contact: ContactIn, now: datetime, region: str) -> str | None:
    """Find or create the customer an event is about, store what it tells us, return the id.
    None for an anonymous event (no customer id and no usable contact)."""
    contacts = normalized_contacts(contact, region)
    customer_id = find_customer_id(session, shop, contact, region, contacts)
    fields = {
        "external_id": contact.customer_id or None,
        "first_name": contact.first_name or None,
        "locale": contact.locale or None,
        "timezone": contact.timezone or None,
        "country": contact.country or None,
        "province": contact.province or None,
    }
    if customer_id is None:
        if not contacts and not contact.customer_id:
            return None
        customer_id = uuid.uuid4().hex
        run(session, prepared.insert_customer, id=customer_id, shop=shop, created_at=now, erased_at=None, **fields)
    elif any(fields.values()):
        run(session, prepared.update_customer, customer_id=customer_id, **{f"new_{k}": v for k, v in fields.items()})
    for kind, (value, normalized) in contacts.items():
        run(
            session,
            prepared.upsert_contact,
            customer_id=customer_id,
            shop=shop,
            kind=kind,
            value=value,
            normalized=normalized,
            updated_at=now,
        )
    return customer_id


def current_consent(session: Session, customer_id: str) -> dict[str, ConsentRecord]:
    latest: dict[str, ConsentRecord] = {}
    rows = session.exec(
        select(ConsentRecord).where(ConsentRecord.customer_id == customer_id).order_by(col(ConsentRecord.id))
    )
    for row in rows:
        latest[row.channel] = row
    return latest


def record_consents(session: Session, customer_id: str, changes: list[ConsentChange], now: datetime) -> int:
    """Append the changes that change something; returns how many were appended."""
    if not changes:
        return 0
    latest: dict[str, str] = dict(run(session, prepared.consent_states, customer_id=customer_id).all())
    appended = 0
    for change in changes:
        if latest.get(change.channel) == change.state:
            continue
        session.add(
            ConsentRecord(
                customer_id=customer_id,
                channel=change.channel,
                state=change.state,
                source=change.source,
                evidence=change.evidence,
                occurred_at=utc(change.at) or now,
                recorded_at=now,
            )
        )
        latest[change.channel] = change.state
        appended += 1
    return appended


def contacts_of(session: Session, customer_id: str) -> dict[str, Contact]:
    return {c.kind: c for c in session.exec(select(Contact).where(Contact.customer_id == customer_id))}
