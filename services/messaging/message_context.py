"""The template context for one touch (see message_templates/renderer.py for the documented keys)."""

from __future__ import annotations

from decimal import Decimal

from message_templates.context_limits import lines_for_message, name_for_message
from services.core.contacts import audience_hash
from services.core.settings import Settings
from services.messaging.click_links import click_url
from services.store.tables import Cart, Contact, Customer, Decision


def money(cents: int | Decimal) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def incentive_for(decision: Decision, settings: Settings) -> dict | None:
    if decision.incentive == "free_shipping" and settings.free_shipping_code:
        return {"kind": "free_shipping", "code": settings.free_shipping_code, "percent": None}
    if decision.incentive == "discount" and settings.discount_code:
        return {"kind": "discount", "code": settings.discount_code, "percent": settings.discount_percent}
    return None


def cart_link(settings: Settings, cart: Cart, touch: int) -> str:
    """The link a message sends the shopper to: the tracked link that records the click and
    redirects to the cart's recovery URL, or the shop's public URL when the cart has none."""
    if not cart.recovery_url:
        return settings.public_url
    return click_url(settings.public_url, settings.signing_key(), cart.id, touch)


def build_message_context(
    settings: Settings,
    cart: Cart,
    customer: Customer | None,
    contacts: dict[str, Contact],
    decision: Decision,
    *,
    returning: bool,
    unsubscribe_url: str,
) -> dict:
    items = []
    for item in lines_for_message(cart.items):
        price = Decimal(str(item.get("price", "0")))
        quantity = int(item.get("quantity", 1))
        items.append(
            {
                "title": item.get("title", ""),
                "variant_title": item.get("variant_title"),
                "quantity": quantity,
                "price": f"{price:.2f}",
                "line_total": f"{price * quantity:.2f}",
                "image_url": item.get("image_url"),
            }
        )
    email = contacts.get("email")
    phone = contacts.get("phone")
    return {
        "shop": {
            "name": settings.shop_name,
            "address": settings.shop_address,
            "support_url": settings.support_url or None,
        },
        "customer": {
            "first_name": name_for_message(customer.first_name if customer else None),
            "is_returning": returning,
        },
        "cart": {
            "items": items,
            "total": money(cart.value_cents),
            "currency": cart.currency,
            "item_count": sum(int(item.get("quantity", 1)) for item in cart.items),
            "line_count": len(cart.items),
            "recovery_url": cart_link(settings, cart, decision.touch),
        },
        "reason": decision.reason,
        "touch": decision.touch,
        "bucket": decision.bucket,
        "incentive": incentive_for(decision, settings),
        "unsubscribe_url": unsubscribe_url,
        "sms_opt_out": "Reply STOP to opt out",
        "audience": {
            "hashed_email": audience_hash(email.normalized) if email else None,
            "hashed_phone": audience_hash(phone.normalized) if phone else None,
        },
    }
