"""Shopify's consent fields as canonical consent changes (the rules are in shopify.py's docstring):
the customer topics and the consent objects in checkout and customer payloads."""

from __future__ import annotations

from services.core.events import ConsentEvent
from services.ingest.platforms.payload_reader import Built, PayloadReader, compact, join

_CONSENT_STATES = {"subscribed": "granted", "unsubscribed": "revoked", "redacted": "revoked"}


def consent_object(r: PayloadReader, data: dict, key: str, where: str, channel: str) -> dict | None:
    """`{state, opt_in_level, consent_updated_at, consent_collected_from}` -> a ledger entry."""
    consent = r.obj(data, key, where)
    path = join(where, key)
    state = (r.text(consent, "state", path, limit=50) or "").lower()
    at = r.moment(consent, "consent_updated_at", path)
    if state not in _CONSENT_STATES:
        return None
    details = [f"state={state}"] + [
        f"{field}={value}"
        for field in ("opt_in_level", "consent_collected_from")
        if (value := r.text(consent, field, path, limit=100))
    ]
    return compact(
        {
            "channel": channel,
            "state": _CONSENT_STATES[state],
            "source": f"shopify:{path}",
            "evidence": "; ".join(details),
            "at": at,
        }
    )


def customer_consents(r: PayloadReader, customer: dict, where: str) -> list[dict]:
    found = [
        consent_object(r, customer, "email_marketing_consent", where, "email"),
        consent_object(r, customer, "sms_marketing_consent", where, "sms"),
    ]
    return [consent for consent in found if consent]


def customer_update(r: PayloadReader, p: dict) -> Built:
    consents = customer_consents(r, p, "")
    accepts = r.flag(p, "accepts_marketing")
    if p.get("email_marketing_consent") is None and accepts is not None:
        # Legacy API versions: a customer's flag is a recorded state, unlike a checkout tick, so
        # false is read as "do not email" (an unsubscribe must never be missed).
        consents.append(
            {
                "channel": "email",
                "state": "granted" if accepts else "revoked",
                "source": "shopify:accepts_marketing",
                "evidence": f"accepts_marketing={str(accepts).lower()}",
                "at": r.moment(p, "accepts_marketing_updated_at"),
            }
        )
    contact = {
        "customer_id": r.ident(p, "id", required=True),
        "email": r.text(p, "email", limit=320, drop_if_long=True),
        "phone": r.text(p, "phone", limit=40, drop_if_long=True),
        "first_name": r.text(p, "first_name", limit=200),
        "locale": r.text(p, "locale", limit=20, drop_if_long=True),
    }
    return ConsentEvent, {"contact": compact(contact), "consents": [compact(c) for c in consents]}


def email_consent(r: PayloadReader, p: dict) -> Built:
    contact = {
        "customer_id": r.ident(p, "customer_id", required=True),
        "email": r.text(p, "email_address", limit=320, drop_if_long=True),
    }
    consent = consent_object(r, p, "email_marketing_consent", "", "email")
    return ConsentEvent, {"contact": compact(contact), "consents": [consent] if consent else []}


def sms_consent(r: PayloadReader, p: dict) -> Built:
    contact = {
        "customer_id": r.ident(p, "id", required=True),
        "phone": r.text(p, "phone", limit=40, drop_if_long=True),
    }
    consent = consent_object(r, p, "sms_marketing_consent", "", "sms")
    return ConsentEvent, {"contact": compact(contact), "consents": [consent] if consent else []}
