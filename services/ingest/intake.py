"""From a verified, parsed webhook to stored rows and journey signals.

Storage happens first, in one transaction with the delivery's receipt and the journey signals it
calls for. Journeys are told afterwards. A repeated delivery stores nothing but re-sends those
signals (each is idempotent in the workflow), so when Temporal was down the platform's retry
repairs the journeys, and nothing is ever half-written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.ingest.events import (
    BehaviorSignal,
    CanonicalEvent,
    CartEvent,
    ConsentChange,
    ConsentEvent,
    OrderEvent,
    PrivacyRequest,
    SmsReply,
)
from services.ingest.journeys import Journeys
from services.core.settings import Settings
from services.store import privacy
from services.store.carts import open_carts_of, store_cart, store_order, store_signal
from services.ingest.sms_replies import is_opt_out
from services.core.contacts import normalize_phone
from services.store.customers import record_consents, upsert_customer
from services.store.prepared import run
from services.store.tables import Cart, Contact as ContactRow
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
    duplicate: bool = False


_SIGNAL_ARGS = {"order_placed": OrderPlaced, "consent_changed": ConsentChanged, "signal_observed": SignalObserved}


def _encode(action: JourneyAction) -> dict:
    arg = action.arg if action.signal == "start" or action.arg is None else vars(action.arg)
    return {"cart_key": action.cart_key, "signal": action.signal, "arg": arg}


def _decode(row: dict) -> JourneyAction:
    arg = row["arg"]
    if isinstance(arg, dict):
        arg = _SIGNAL_ARGS[row["signal"]](**arg)
    return JourneyAction(row["cart_key"], row["signal"], arg)


def already_received(engine: Engine, receipt_id: str) -> bool:
    with Session(engine) as session:
        return run(session, "receipt_actions", id=receipt_id).first() is not None


def store_event(
    engine: Engine, settings: Settings, shop: str, platform: str, event: CanonicalEvent, now: datetime,
    receipt_id: str | None = None, topic: str = "",
) -> Stored:
    """Store the event and its receipt in one transaction. A delivery whose `receipt_id` is known
    stores nothing and returns the journey signals it called for the first time (duplicate=True)."""
    region = settings.default_region
    with Session(engine) as session:
        if receipt_id is not None:
            seen = run(session, "receipt_actions", id=receipt_id).first()
            if seen is not None:
                return Stored([_decode(row) for row in seen[0]], "already processed", duplicate=True)
        stored = _store(session, shop, platform, event, now, region, settings)
        if receipt_id is not None:
            run(
                session, "add_receipt", id=receipt_id, topic=topic[:100], received_at=now, result=stored.summary[:200],
                actions=[_encode(a) for a in stored.actions],
            )
        session.commit()
    return stored


def _store(session: Session, shop: str, platform: str, event: CanonicalEvent, now: datetime, region: str, settings: Settings) -> Stored:
    if isinstance(event, CartEvent):
        return _cart(session, shop, platform, event, now, region)
    if isinstance(event, OrderEvent):
        match = store_order(session, shop, event, now, region, timedelta(hours=settings.attribution_window_hours))
        actions = [JourneyAction(match.cart_key, "order_placed", OrderPlaced(match.order_id))] if match.cart_key else []
        return Stored(actions, "order matched to an open cart" if actions else "order stored; no open cart matched")
    if isinstance(event, ConsentEvent):
        customer_id = upsert_customer(session, shop, event.contact, now, region)
        changed = record_consents(session, customer_id, event.consents, now) if customer_id else 0
        keys = open_carts_of(session, shop, event.contact, region) if changed else []
        return Stored([JourneyAction(k, "consent_changed", ConsentChanged(changed)) for k in keys], f"{changed} consent change(s)")
    if isinstance(event, BehaviorSignal):
        key = store_signal(session, shop, event, now)
        if key is None:
            return Stored([], "signal for an unknown or closed cart ignored")
        return Stored([JourneyAction(key, "signal_observed", SignalObserved(event.kind))], "signal stored")
    if isinstance(event, PrivacyRequest):
        return _privacy(session, shop, event, now, region)
    if isinstance(event, SmsReply):
        return _sms_reply(session, shop, event, now, region)
    raise TypeError(f"unsupported event {type(event).__name__}")


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


def _sms_reply(session: Session, shop: str, event: SmsReply, now: datetime, region: str) -> Stored:
    if not is_opt_out(event.text):
        return Stored([], "reply held no opt-out keyword; ignored")
    phone = normalize_phone(event.phone, region)
    owners = session.exec(
        select(ContactRow.customer_id).where(ContactRow.shop == shop, ContactRow.kind == "phone", ContactRow.normalized == phone)
    ).all() if phone else []
    revoke = ConsentChange(channel="sms", state="revoked", source="sms_reply", evidence=event.text.strip()[:100], at=now)
    actions = []
    for customer_id in owners:  # every customer record holding this number
        if record_consents(session, customer_id, [revoke], now):
            carts = session.exec(select(Cart.id).where(Cart.customer_id == customer_id, Cart.status == "open")).all()
            actions += [JourneyAction(key, "consent_changed", ConsentChanged(1)) for key in carts]
    return Stored(actions, "SMS consent revoked" if owners else "opt-out from an unknown number")


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
