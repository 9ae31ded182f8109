"""Customers, their contacts and the consent ledger.

The webhook path uses the prepared statements of services/store/prepared.py.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session, select

from channel_models.vocabulary import CONTACTS_FOR
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
    return _by_contact(session, shop, contacts, prepared.customer_by_contact)


def _by_contact(
    session: Session, shop: str, contacts: dict[str, tuple[str, str]], statement: prepared.Builder
) -> str | None:
    """The first customer `statement` finds by the e-mail, else by the phone number."""
    for kind in ("email", "phone"):
        if kind in contacts:
            found = run(session, statement, shop=shop, kind=kind, normalized=contacts[kind][1]).scalar()
            if found:
                return found
    return None


def privacy_subjects(session: Session, shop: str, contact: ContactIn, region: str) -> list[str]:
    """Whom a privacy request is about: the customer its platform customer id names, else every
    customer holding its e-mail - the address is the requester's, whichever record holds it - else,
    without an e-mail anyone holds, every customer holding its phone (a phone is more often shared
    by a household, so it decides only when the e-mail cannot)."""
    if contact.customer_id:
        found = run(session, prepared.customer_by_external, shop=shop, external_id=contact.customer_id).scalar()
        if found:
            return [found]
    contacts = normalized_contacts(contact, region)
    for kind in ("email", "phone"):
        if kind in contacts:
            holders = session.exec(
                select(Contact.customer_id).where(
                    Contact.shop == shop, Contact.kind == kind, Contact.normalized == contacts[kind][1]
                )
            ).all()
            if holders:
                return sorted(set(holders))
    return []


def find_customer(session: Session, shop: str, contact: ContactIn, region: str) -> Customer | None:
    customer_id = find_customer_id(session, shop, contact, region)
    return session.get(Customer, customer_id) if customer_id else None


def upsert_customer(
    session: Session, shop: str, contact: ContactIn, now: datetime, region: str, *, order: bool = False
) -> str | None:
    """Find or create the customer an event is about, store what it tells us, return the id.
    None for an anonymous event (no customer id and no usable contact).

    Who is who (README, "Who is who"): a platform customer id is the identity - found by it, else a
    new customer, never by a contact detail. Without one the event is a guest's: the guest holding
    its e-mail (else its phone) is the same guest and learns what the event says; a contact that only
    identified customers hold gives a new guest, so a stranger's checkout never renames them, never
    changes their contacts and never supersedes their journeys. An ``order`` (a completed purchase,
    not a typed-in checkout) may still be matched to such a customer, to convert their cart, but
    writes nothing on them."""
    contacts = normalized_contacts(contact, region)
    writable = True
    if contact.customer_id:
        customer_id = run(session, prepared.customer_by_external, shop=shop, external_id=contact.customer_id).scalar()
    else:
        customer_id = _by_contact(session, shop, contacts, prepared.guest_by_contact)
        if customer_id is None and order:
            customer_id = find_customer_id(session, shop, contact, region, contacts)
            writable = customer_id is None
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
    elif not writable:
        return customer_id
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


# A revocation follows the address: channel -> the contact whose other holders' revocations apply.
REVOKED_WITH = {"email": "email", "sms": "phone"}
# channel -> the contact it reaches (retargeting reaches an audience, not an inbox: no cap is shared)
SHARED_ADDRESS = {channel: CONTACTS_FOR[channel][0] for channel in ("email", "sms", "push")}


def effective_consent(session: Session, shop: str, customer_id: str) -> tuple[set[str], dict[str, str]]:
    """(the kinds of contact the customer has, channel -> their consent state): the customer's own
    latest state per channel, unless another customer holding the same e-mail (or phone) has that
    channel revoked: a revocation counts for everyone holding the address, a grant only for the
    customer it was recorded for (README, "Who is who"). So a stranger's checkout can neither lift
    an unsubscribe nor be messaged at an address that unsubscribed, until the customer who revoked
    grants again. Prepared statements: the planner and every send read this."""
    held: dict[str, str] = dict(run(session, prepared.contact_addresses, customer_id=customer_id).all())
    consent: dict[str, str] = dict(run(session, prepared.consent_states, customer_id=customer_id).all())
    for channel, kind in REVOKED_WITH.items():
        if kind not in held or consent.get(channel) == "revoked":
            continue
        others = dict(
            run(
                session,
                prepared.others_consent_at,
                shop=shop,
                kind=kind,
                normalized=held[kind],
                channel=channel,
                customer_id=customer_id,
            ).all()
        )  # each other holder's latest state
        if "revoked" in others.values():
            consent[channel] = "revoked"
    return set(held), consent


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
