"""From a verified, parsed webhook to stored rows and journey signals.

Storage happens first, in one transaction with the delivery's receipt and the journey signals it
calls for. Journeys are told afterwards. A repeated delivery stores nothing but re-sends those
signals (each is idempotent in the workflow), so when Temporal was down the platform's retry
repairs the journeys, and nothing is ever half-written.
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.core.contacts import normalize_phone
from services.core.events import (
    BehaviorSignal,
    CanonicalEvent,
    CartEvent,
    ConsentChange,
    ConsentEvent,
    OrderEvent,
    PrivacyRequest,
    SmsReply,
)
from services.core.settings import Settings
from services.ingest.journeys import SIGNALS, Journeys
from services.ingest.sms_replies import is_opt_out
from services.store import prepared, privacy
from services.store.carts import open_carts_of, store_cart, store_order, store_signal
from services.store.customers import record_consents, upsert_customer
from services.store.prepared import run
from services.store.tables import Cart
from services.store.tables import Contact as ContactRow
from workflows.cart_recovery import CartRecoveryWorkflow
from workflows.types import ConsentChanged, OrderPlaced

log = logging.getLogger(__name__)


@dataclass
class JourneyAction:
    cart_key: str
    signal: Callable[..., None] | None  # a CartRecoveryWorkflow signal; None: signal-with-start of cart_updated
    arg: object = None


@dataclass
class Stored:
    actions: list[JourneyAction]
    summary: str
    body: dict | None = None  # returned to the caller (privacy exports)
    duplicate: bool = False


START = "start"  # a receipt's name for signal-with-start


def _encode(action: JourneyAction) -> dict:
    if action.signal is None:
        return {"cart_key": action.cart_key, "signal": START, "arg": action.arg}
    arg = None if action.arg is None else vars(action.arg)
    return {"cart_key": action.cart_key, "signal": action.signal.__name__, "arg": arg}


def _decode(rows: list[dict]) -> list[JourneyAction]:
    """A receipt's actions, as stored by _encode. Names of signals the journey no longer has (such
    as the behaviour signal it ignored) are dropped."""
    actions = []
    for row in rows:
        name, arg = row["signal"], row["arg"]
        if name == START:
            actions.append(JourneyAction(row["cart_key"], None, arg))
        elif (signal := SIGNALS.get(name)) is not None:
            if isinstance(arg, dict):
                arg = _argument_type(signal)(**arg)
            actions.append(JourneyAction(row["cart_key"], signal, arg))
    return actions


def _argument_type(signal: Callable[..., None]) -> type:
    hints = typing.get_type_hints(signal)
    hints.pop("return", None)
    return next(iter(hints.values()))


def already_received(engine: Engine, receipt_id: str) -> bool:
    with Session(engine) as session:
        return run(session, prepared.receipt_actions, id=receipt_id).first() is not None


def store_event(
    engine: Engine,
    settings: Settings,
    shop: str,
    platform: str,
    event: CanonicalEvent,
    now: datetime,
    receipt_id: str | None = None,
    topic: str = "",
) -> Stored:
    """Store the event and its receipt in one transaction. A delivery whose `receipt_id` is known
    stores nothing and returns the journey signals it called for the first time (duplicate=True)."""
    region = settings.default_region
    with Session(engine) as session:
        if receipt_id is not None:
            seen = run(session, prepared.receipt_actions, id=receipt_id).first()
            if seen is not None:
                return Stored(_decode(seen[0]), "already processed", duplicate=True)
        stored = _store(session, shop, platform, event, now, region, settings)
        if receipt_id is not None:
            run(
                session,
                prepared.add_receipt,
                id=receipt_id,
                topic=topic[:100],
                received_at=now,
                result=stored.summary[:200],
                actions=[_encode(a) for a in stored.actions],
            )
        session.commit()
    return stored


def _store(
    session: Session, shop: str, platform: str, event: CanonicalEvent, now: datetime, region: str, settings: Settings
) -> Stored:
    if isinstance(event, CartEvent):
        return _cart(session, shop, platform, event, now, region)
    if isinstance(event, OrderEvent):
        match = store_order(session, shop, event, now, region, timedelta(hours=settings.attribution_window_hours))
        actions = (
            [JourneyAction(match.cart_key, CartRecoveryWorkflow.order_placed, OrderPlaced(match.order_id))]
            if match.cart_key
            else []
        )
        return Stored(actions, "order matched to an open cart" if actions else "order stored; no open cart matched")
    if isinstance(event, ConsentEvent):
        customer_id = upsert_customer(session, shop, event.contact, now, region)
        changed = record_consents(session, customer_id, event.consents, now) if customer_id else 0
        keys = open_carts_of(session, shop, event.contact, region) if changed else []
        return Stored(
            [JourneyAction(k, CartRecoveryWorkflow.consent_changed, ConsentChanged(changed)) for k in keys],
            f"{changed} consent change(s)",
        )
    if isinstance(event, BehaviorSignal):
        # The planner reads stored behaviour when it plans; the journey itself needs no signal.
        key = store_signal(session, shop, event, now)
        return Stored([], "signal stored" if key is not None else "signal for an unknown or closed cart ignored")
    if isinstance(event, PrivacyRequest):
        return _privacy(session, shop, event, now, region)
    if isinstance(event, SmsReply):
        return _sms_reply(session, shop, event, now, region)
    raise TypeError(f"unsupported event {type(event).__name__}")


def _cart(session: Session, shop: str, platform: str, event: CartEvent, now: datetime, region: str) -> Stored:
    change = store_cart(session, shop, platform, event, now, region)
    actions = [JourneyAction(key, CartRecoveryWorkflow.superseded) for key in change.superseded]
    if change.order_id is not None and change.created:
        # Completed before we ever saw it open: nothing to recover, no journey.
        cart = session.get_one(Cart, change.cart_key)
        cart.status, cart.journey_state, cart.closed_at = "completed", "done", now
        session.add(cart)
        return Stored(actions, "checkout already completed; no journey")
    if change.journey_open:
        actions.append(JourneyAction(change.cart_key, None, change.version))
        if change.order_id is not None:
            actions.append(
                JourneyAction(change.cart_key, CartRecoveryWorkflow.order_placed, OrderPlaced(change.order_id))
            )
    return Stored(
        actions, "journey started or updated" if change.journey_open else "cart stored; its journey has ended"
    )


def _sms_reply(session: Session, shop: str, event: SmsReply, now: datetime, region: str) -> Stored:
    if not is_opt_out(event.text):
        return Stored([], "reply held no opt-out keyword; ignored")
    phone = normalize_phone(event.phone, region)
    owners = (
        session.exec(
            select(ContactRow.customer_id).where(
                ContactRow.shop == shop, ContactRow.kind == "phone", ContactRow.normalized == phone
            )
        ).all()
        if phone
        else []
    )
    revoke = ConsentChange(
        channel="sms", state="revoked", source="sms_reply", evidence=event.text.strip()[:100], at=now
    )
    actions = []
    for customer_id in owners:  # every customer record holding this number
        if record_consents(session, customer_id, [revoke], now):
            carts = session.exec(select(Cart.id).where(Cart.customer_id == customer_id, Cart.status == "open")).all()
            actions += [JourneyAction(key, CartRecoveryWorkflow.consent_changed, ConsentChanged(1)) for key in carts]
    return Stored(actions, "SMS consent revoked" if owners else "opt-out from an unknown number")


def _privacy(session: Session, shop: str, event: PrivacyRequest, now: datetime, region: str) -> Stored:
    if event.action == "erase_shop":
        keys = privacy.erase_shop(session, shop, now)
        return Stored(
            [JourneyAction(k, CartRecoveryWorkflow.erase) for k in keys],
            f"shop data erased ({len(keys)} journeys stopped)",
        )
    if event.action == "export":
        return Stored([], "customer data exported", privacy.export_customer(session, shop, event.contact, region))
    stopped = privacy.erase_customer(session, shop, event.contact, region, now)
    if stopped is None:
        return Stored([], "no such customer")
    return Stored([JourneyAction(k, CartRecoveryWorkflow.erase) for k in stopped], "customer erased")


async def tell_journeys(journeys: Journeys, shop: str, actions: list[JourneyAction]) -> None:
    for action in actions:
        if action.signal is None:
            await journeys.start_or_update(shop, action.cart_key, typing.cast(int, action.arg))
        elif action.arg is None:
            await journeys.signal(shop, action.cart_key, action.signal)
        else:
            await journeys.signal(shop, action.cart_key, action.signal, action.arg)
