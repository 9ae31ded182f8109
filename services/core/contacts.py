"""Normalising contact data: e-mail with email-validator (and apprise's own check), phone numbers with
phonenumbers (E.164).

Retargeting audiences only ever receive `audience_hash` of these normalised values (SHA-256 hex, the
form ad platforms ask for), never the values themselves.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import phonenumbers
from apprise.utils.parse import is_email  # the check apprise applies before it sends
from email_validator import EmailNotValidError, validate_email
from phonenumbers import timezone


def normalize_email(raw: str | None) -> str | None:
    """The address as we can send to it - lower-cased, syntax-checked, an internationalised domain
    in its ASCII (IDNA) form - or None when it is not one the mailer can deliver to: a non-ASCII
    local part needs SMTPUTF8, which apprise's e-mail service does not speak, so such an address is
    treated as no address rather than accepted and dropped at send time."""
    if not raw:
        return None
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError:
        return None
    address = (result.ascii_email or "").lower()
    parsed = is_email(address) if address else False
    # apprise must read back exactly this address: it takes "o'brien@x" as the name "o" and the
    # address "brien@x", which would send someone else the shopper's cart
    if not isinstance(parsed, dict) or parsed["name"] or parsed["full_email"] != address:
        return None
    return address


def normalize_phone(raw: str | None, default_region: str = "US") -> str | None:
    """E.164 number, or None when the number is not a valid one."""
    if not raw:
        return None
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=4096)  # every plan and send asks for a customer's; parsing costs about as much as the query
def phone_whereabouts(e164: str) -> tuple[str | None, tuple[str, ...]]:
    """(region code, candidate IANA zones) of a number; several zones when the region spans them."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return None, ()
    zones = tuple(z for z in timezone.time_zones_for_number(number) if z != "Etc/Unknown")
    return phonenumbers.region_code_for_number(number), zones


def audience_hash(normalized: str | None) -> str | None:
    if not normalized:
        return None
    return hashlib.sha256(normalized.strip().lower().encode()).hexdigest()
