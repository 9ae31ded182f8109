"""A realistic render context, for tests and for the template editor's live preview."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from channel_models.vocabulary import BUCKETS
from message_templates.context_limits import (
    LONGEST_NAME,
    MAX_IMAGE_URL_CHARS,
    MAX_ITEM_TEXT_CHARS,
    MAX_ITEMS_SHOWN,
)

# (title, variant, quantity, unit price, image)
_CATALOGUE: tuple[tuple[str, str | None, int, str, str | None], ...] = (
    ("Merino Crew Sweater", "Charcoal / M", 1, "89.00", "https://cdn.acme-outfitters.example/p/merino-crew.jpg"),
    ("Trail Running Socks", "3-pack", 2, "14.50", "https://cdn.acme-outfitters.example/p/trail-socks.jpg"),
    ("Waxed Canvas Tote", None, 1, "65.00", None),
    ("Leather Card Holder", "Tan", 1, "39.00", "https://cdn.acme-outfitters.example/p/card-holder.jpg"),
    ("Insulated Bottle", "750 ml", 3, "29.00", None),
)

_INCENTIVES: dict[str, dict[str, Any]] = {
    "free_shipping": {"kind": "free_shipping", "code": "SHIPFREE", "percent": None},
    "discount": {"kind": "discount", "code": "COMEBACK10", "percent": 10},
}


_LONGEST_IMAGE = ("https://cdn.acme-outfitters.example/p/" + "x" * MAX_IMAGE_URL_CHARS)[:MAX_IMAGE_URL_CHARS]


def _longest(text: str) -> str:
    """As long as a webhook admits, with the characters HTML escaping lengthens most (& < > " ')."""
    return (text + " " + "Extra-long <product> & \"wording\" 'n' more " * 40)[:MAX_ITEM_TEXT_CHARS]


def _sha256(value: str) -> str:
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()


def sample_context(
    reason: str = "shipping_cost",
    incentive: str | dict[str, Any] | None = None,
    first_name: str | None = "Ada",
    items: int = 2,
    returning: bool = False,
    *,
    touch: int = 1,
    longest: bool = False,
) -> dict[str, Any]:
    """Build the full context every template receives (see renderer.py for the keys).

    ``incentive`` is None, an incentive kind ("free_shipping" / "discount") or a ready dict.
    ``items`` picks that many products (the catalogue repeats past five); a message lists at most
    MAX_ITEMS_SHOWN of them, as at send time. ``longest``: every title, variant and image URL as long
    as the webhooks admit, and the largest quantity - the worst case for a message's size.
    """
    if isinstance(incentive, str):
        incentive = dict(_INCENTIVES[incentive])
    lines: list[dict[str, Any]] = []
    for index in range(min(items, MAX_ITEMS_SHOWN)):
        title, variant, quantity, price, image = _CATALOGUE[index % len(_CATALOGUE)]
        if longest:
            title, variant = _longest(title), _longest(variant or "Size")
            image, quantity, price = _LONGEST_IMAGE, 99_999, "99999.99"
        lines.append(
            {
                "title": title,
                "variant_title": variant,
                "quantity": quantity,
                "price": price,
                "line_total": f"{Decimal(price) * quantity:.2f}",
                "image_url": image,
            }
        )
    total = sum((Decimal(line["line_total"]) for line in lines), Decimal("0"))
    return {
        "shop": {
            "name": "Acme Outfitters",
            "address": "12 Market Street, Springfield, IL 62701, USA",
            "support_url": "https://acme-outfitters.example/help",
        },
        "customer": {"first_name": first_name, "is_returning": returning},
        "cart": {
            "items": lines,
            "total": f"{total:.2f}",
            "currency": "USD",
            "item_count": sum(line["quantity"] for line in lines) + max(0, items - len(lines)),
            "line_count": items,
            "recovery_url": "https://acme-outfitters.example/cart/recover/8f3k2?token=c29b7e",
        },
        "reason": reason,
        "touch": touch,
        "bucket": "Moderate",
        "incentive": incentive,
        "unsubscribe_url": "https://acme-outfitters.example/unsubscribe/8f3k2?sig=9a1c04",
        "sms_opt_out": "Reply STOP to opt out",
        "audience": {
            "hashed_email": _sha256("ada.lovelace@example.com"),
            "hashed_phone": _sha256("+15555550123"),
        },
    }


# What the editor's locale selector changes in the sample: a typical name (which may push an SMS
# out of GSM-7) and the currency. The template text itself is the locale's own version.
SAMPLE_LOCALES = {
    "en": ("Ada", "USD"),
    "de": ("Jürgen", "EUR"),
    "fr": ("Zoë", "EUR"),
    "es": ("Begoña", "EUR"),
}


def preview_context(
    reason: str = "other",
    bucket: str = "Moderate",
    items: int = 2,
    returning: bool = False,
    locale: str = "en",
    incentive: str | None = "auto",
    *,
    first_name: bool = True,
    touch: int = 1,
    longest: bool = False,
) -> dict[str, Any]:
    """The editor's live-preview sample. ``incentive="auto"`` grants what the cold-start planner
    would for this reason and bucket: none for shoppers likely to return anyway (High, Very high),
    free shipping for shipping-cost hesitation, a discount for price. ``longest``: the worst case the
    webhooks admit (the longest name a message shows, every item text at its longest)."""
    if bucket not in BUCKETS:
        raise ValueError(f"unknown bucket {bucket!r}; expected one of {', '.join(BUCKETS)}")
    if incentive == "auto":
        likely_back = bucket in ("High", "Very high")
        incentive = None if likely_back else {"shipping_cost": "free_shipping", "price": "discount"}.get(reason)
    name, currency = SAMPLE_LOCALES.get(locale, SAMPLE_LOCALES["en"])
    if longest:
        name = LONGEST_NAME
    context = sample_context(
        reason, incentive, name if first_name else None, items, returning, touch=touch, longest=longest
    )
    context["bucket"] = bucket
    context["cart"]["currency"] = currency
    return context
