"""The synthetic shoppers as generic webhook events (the body's ``event``, services.core.events schema).

Plain dicts, so channel_models does not import the web layer; a test validates them against
services.core.events.GenericWebhook. Ids are derived from the shopper, so posting a shopper twice
is idempotent on the service side.
"""

from __future__ import annotations

from datetime import datetime

from channel_models.simulator.shop import Shopper


def _contact(shopper: Shopper, *, full: bool = True) -> dict:
    c = shopper.customer
    fields = {"customer_id": c.customer_id, "email": c.email, "phone": c.phone}
    if full:
        fields.update(
            first_name=c.first_name,
            timezone=c.timezone,
            country=c.country,
            province=c.province,
            push_token=c.push_token,
            audience_id=c.audience_id,
        )
    return {key: value for key, value in fields.items() if value is not None}


def cart_event(shopper: Shopper) -> dict:
    consents = [
        {"channel": channel, "state": state, "source": f"simulator:{channel}_checkbox"}
        for channel, state in shopper.customer.consents.items()
    ]
    return {
        "type": "cart",
        "cart_id": shopper.cart_id,
        "contact": _contact(shopper),
        "consents": consents,
        "currency": "USD",
        "total_value": f"{shopper.value:.2f}",
        "items": [
            {"title": title, "variant_title": variant, "quantity": quantity, "price": f"{price:.2f}"}
            for title, variant, quantity, price in shopper.items
        ],
        "recovery_url": f"https://shop.example.com/checkouts/{shopper.cart_id}/recover",
        "stage": shopper.stage,
        "device": shopper.device,
        "source": shopper.source,
    }


def webhook_events(shopper: Shopper) -> list[dict]:
    """The cart event, then one signal event per behaviour signal, in order."""
    signals = [{"type": "signal", "cart_id": shopper.cart_id, "kind": kind} for kind in shopper.signals]
    return [cart_event(shopper), *signals]


def history_events(shopper: Shopper) -> list[dict]:
    """Orders the customer placed before the simulation began, on their first cart only (post
    them before the cart, so the service knows the customer's history like the runner does)."""
    c = shopper.customer
    if shopper.visit > 0:
        return []
    return [
        {
            "type": "order",
            "order_id": f"sim-past-{c.key}-{k}",
            "contact": _contact(shopper, full=False),
            "currency": "USD",
            "total_value": f"{value:.2f}",
            "placed_at": placed_at.isoformat(),
        }
        for k, (placed_at, value) in enumerate(c.prior_orders)
    ]


def order_event(shopper: Shopper, placed_at: datetime | None = None) -> dict:
    """The shopper buys this cart (one order per cart: the id is the cart's)."""
    event = {
        "type": "order",
        "order_id": f"sim-order-{shopper.cart_id}",
        "cart_id": shopper.cart_id,
        "contact": _contact(shopper, full=False),
        "currency": "USD",
        "total_value": f"{shopper.value:.2f}",
    }
    if placed_at is not None:
        event["placed_at"] = placed_at.isoformat()
    return event
