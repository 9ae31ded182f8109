"""From a verified, parsed webhook to stored rows and journey signals.

Storage happens first, in one transaction, and is idempotent (upserts keyed on platform ids), so
a delivery that fails half-way - say Temporal is down - is repaired by the platform's retry. The
receipt that makes repeats no-ops is written only after the journeys were told.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.events import BehaviorSignal, CanonicalEvent, CartEvent, ConsentEvent, OrderEvent, PrivacyRequest
from services.journeys import Journeys
from services.settings import Settings
from services.store import privacy
from services.store.carts import open_carts_of, store_cart, store_order, store_signal
from services.store.customers import record_consents, upsert_customer
from services.store.prepared import run
from services.store.tables import Cart
from workflows.types import ConsentChanged, OrderPlaced, SignalObserved

log = logging.getLogger(__name__)


@dataclass
class JourneyAction:
    cart_key: str
    signal: str  # "start" for signal-with-start of cart_updated
    arg: object = None


@dataclass
class Stored:
    actions: list[JourneyAction]
    summary: str
    body: dict | None = None  # returned to the caller (privacy exports)


def already_received(engine: Engine, receipt_id: str) -> bool:
    with Session(engine) as session:
        return _received(session, receipt_id)


def mark_received(engine: Engine, receipt_id: str, topic: str, result: str, now: datetime) -> None:
    with Session(engine) as session:
        run(session, "add_receipt", id=receipt_id, topic=topic, received_at=now, result=result[:200])
        session.commit()


def store_event(
    engine: Engine, settings: Settings, shop: str, platform: str, event: CanonicalEvent, now: datetime,
    receipt_id: str | None = None,
) -> Stored | None:
    """Store the event; None (and nothing written) when `receipt_id` was already processed."""
    region = settings.default_region
    with Session(engine) as session:
        if receipt_id is not None and _received(session, receipt_id):
            return None
        if isinstance(event, CartEvent):
            stored = _cart(session, shop, platform, event, now, region)
        elif isinstance(event, OrderEvent):
            window = timedelta(hours=settings.attribution_window_hours)
            match = store_order(session, shop, event, now, region, window)
            actions = [JourneyAction(match.cart_key, "order_placed", OrderPlaced(match.order_id))] if match.cart_key else []
            stored = Stored(actions, "order matched to an open cart" if actions else "order stored; no open cart matched")
        elif isinstance(event, ConsentEvent):
            customer_id = upsert_customer(session, shop, event.contact, now, region)
            changed = record_consents(session, customer_id, event.consents, now) if customer_id else 0
            keys = open_carts_of(session, shop, event.contact, region) if changed else []
            stored = Stored([JourneyAction(k, "consent_changed", ConsentChanged(changed)) for k in keys], f"{changed} consent change(s)")
        elif isinstance(event, BehaviorSignal):
            key = store_signal(session, shop, event, now)
            stored = Stored([JourneyAction(key, "signal_observed", SignalObserved(event.kind))] if key else [], "signal stored" if key else "signal for an unknown or closed cart ignored")
        elif isinstance(event, PrivacyRequest):
            stored = _privacy(session, shop, event, now, region)
        else:  # pragma: no cover - the union above is exhaustive
            raise TypeError(f"unsupported event {type(event).__name__}")
        session.commit()
    return stored


def _received(session: Session, receipt_id: str) -> bool:
    return run(session, "receipt_exists", id=receipt_id).first() is not None


def _cart(session: Session, shop: str, platform: str, event: CartEvent, now: datetime, region: str) -> Stored:
    change = store_cart(session, shop, platform, event, now, region)
    actions = [JourneyAction(key, "superseded") for key in change.superseded]
    if change.order_id is not None and change.created:
        # Completed before we ever saw it open: nothing to recover, no journey.
        cart = session.get(Cart, change.cart_key)
        cart.status, cart.journey_state, cart.closed_at = "completed", "done", now
        session.add(cart)
        return Stored(actions, "checkout already completed; no journey")
    if change.journey_open:
        actions.append(JourneyAction(change.cart_key, "start", change.version))
        if change.order_id is not None:
            actions.append(JourneyAction(change.cart_key, "order_placed", OrderPlaced(change.order_id)))
    return Stored(actions, "journey started or updated" if change.journey_open else "cart stored; its journey has ended")


def _privacy(session: Session, shop: str, event: PrivacyRequest, now: datetime, region: str) -> Stored:
    if event.action == "erase_shop":
        keys = privacy.erase_shop(session, shop, now)
        return Stored([JourneyAction(k, "erase") for k in keys], f"shop data erased ({len(keys)} journeys stopped)")
    keys = open_carts_of(session, shop, event.contact, region)
    if event.action == "export":
        return Stored([], "customer data exported", privacy.export_customer(session, shop, event.contact, region))
    erased = privacy.erase_customer(session, shop, event.contact, region, now)
    return Stored([JourneyAction(k, "erase") for k in keys], "customer erased" if erased else "no such customer")


async def tell_journeys(journeys: Journeys, shop: str, actions: list[JourneyAction]) -> None:
    for action in actions:
        if action.signal == "start":
            await journeys.start_or_update(shop, action.cart_key, action.arg)
        elif action.arg is None:
            await journeys.signal(shop, action.cart_key, action.signal)
        else:
            await journeys.signal(shop, action.cart_key, action.signal, action.arg)
