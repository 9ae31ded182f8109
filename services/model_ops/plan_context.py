"""Builds the planner's view of a cart from the database: counts and booleans, no contact data."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from channel_models.context import PlanContext, Reachability
from channel_models.vocabulary import CHANNELS, CONTACTS_FOR
from services.core.clock import utc
from services.core.contacts import phone_whereabouts
from services.core.settings import Settings
from services.store import prepared
from services.store.customers import SHARED_ADDRESS, effective_consent
from services.store.prepared import run
from services.store.tables import Cart


def build_plan_context(
    session: Session,
    settings: Settings,
    cart: Cart,
    *,
    touch: int,
    max_touches: int,
    now: datetime,
    abandoned_at: datetime,
    deadline: datetime,
    excluded: tuple[str, ...] = (),
    compliance_only: bool = False,
) -> PlanContext:
    """`compliance_only`: what the send-time checks read (channel_models/compliance) and no more -
    no customer history, no behaviour signals - for send_touch, which checks again on every send."""
    history = CustomerHistory()
    reachability: dict[str, Reachability] = {}
    if cart.customer_id:
        if not compliance_only:
            history = customer_history(session, cart, now, settings.feature_window_days)
        kinds_held, consent = effective_consent(session, cart.shop, cart.customer_id)
        for channel, kinds in CONTACTS_FOR.items():
            reachability[channel] = Reachability(
                captured=any(k in kinds_held for k in kinds), consent=consent.get(channel)
            )
    where = _whereabouts(session, cart)
    sharers = _address_sharers(session, cart)
    sent = _sent_history(session, cart, now, sharers)
    signals = Counter() if compliance_only else Counter(run(session, prepared.signal_kinds, cart_id=cart.id).scalars())
    previous = tuple(run(session, prepared.channels_sent_before, cart_id=cart.id, touch=touch).scalars())
    incentives = tuple(
        name
        for name, code in (("free_shipping", settings.free_shipping_code), ("discount", settings.discount_code))
        if code
    )
    return PlanContext(
        touch=touch,
        max_touches=max_touches,
        now=now,
        abandoned_at=abandoned_at,
        deadline=deadline,
        cart_value=cart.value_cents / 100,
        item_count=sum(int(item.get("quantity", 1)) for item in cart.items),
        stage=cart.stage,
        orders=history.orders,
        total_spent=history.spent,
        previous_abandonments=history.abandonments,
        signal_counts=dict(signals),
        configured=settings.configured_channels(),
        reachability=reachability,
        email_requires_consent=settings.email_requires_consent,
        previous_channels=previous,
        excluded=tuple(excluded),
        incentives_available=incentives,
        device=cart.device,
        timezone=where[0],
        country=where[1],
        province=where[2],
        sent_history=tuple((channel, at) for channel, at, _ in sent),
        journey_history=tuple((channel, at) for channel, at, cart_id in sent if cart_id == cart.id),
        fallback_timezone=settings.shop_timezone,
        cap_hours={
            "email_hours": settings.email_cap_hours,
            "sms_hours": settings.sms_cap_hours,
            "push_hours": settings.push_cap_hours,
        },
        source=cart.source,
        customer_events=history.events,
        feature_window_days=settings.feature_window_days,
        engagement=history.engagement,
        incentives_received=_incentives_received(session, settings, cart, now, sharers),
        incentive_cap=settings.incentive_cap,
        incentive_cap_days=settings.incentive_cap_days,
    )


@dataclass(frozen=True)
class CustomerHistory:
    orders: int = 0  # every earlier order (all time) and what they came to
    spent: float = 0.0
    abandonments: int = 0  # other carts of the customer that were abandoned (all time)
    events: tuple[datetime, ...] = ()  # earlier carts created / orders placed in the window, oldest first
    engagement: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # channel -> (sent, clicked, recovered)


def customer_history(session: Session, cart: Cart, now: datetime, window_days: float) -> CustomerHistory:
    """The customer's past apart from this cart, in at most four indexed queries (plan_touch runs
    on every touch): their carts, their orders, and what was sent for the carts in the window."""
    since = now - timedelta(days=window_days)
    carts = run(session, prepared.other_carts, customer_id=cart.customer_id, cart_id=cart.id).all()
    order_rows = run(session, prepared.customer_orders, customer_id=cart.customer_id).all()
    orders = [(utc(at), cents) for at, cents, cart_id in order_rows if cart_id != cart.id]
    recent = [(key, utc(created)) for key, created, _ in carts if since <= utc(created) <= now]
    events = sorted([created for _, created in recent] + [at for at, _ in orders if since <= at <= now])
    return CustomerHistory(
        orders=len(orders),
        spent=sum(cents for _, cents in orders) / 100,
        abandonments=sum(1 for _, _, abandoned in carts if abandoned is not None),
        events=tuple(events),
        engagement=_engagement(session, [key for key, _ in recent]),
    )


def _engagement(session: Session, cart_ids: list[str]) -> dict[str, tuple[int, int, int]]:
    """channel -> (messages sent, of them clicked, carts recovered by the channel) for these carts."""
    if not cart_ids:
        return {}
    sent = run(session, prepared.sent_per_channel, cart_ids=cart_ids).all()
    recovered = dict(run(session, prepared.recovered_per_channel, cart_ids=cart_ids).all())
    counts = {
        channel: (int(n), int(clicked), int(recovered.pop(channel, 0))) for channel, n, clicked in sent if channel
    }
    counts.update({channel: (0, 0, int(n)) for channel, n in recovered.items() if channel})
    return {channel: counts[channel] for channel in CHANNELS if channel in counts}


HISTORY = timedelta(days=2)  # longer than any cap


def _address_sharers(session: Session, cart: Cart) -> dict[str, set[str]]:
    """kind -> the customers (this one included) holding the same e-mail / phone / device token."""
    sharers: dict[str, set[str]] = {kind: set() for kind in SHARED_ADDRESS.values()}
    if cart.customer_id:
        for customer_id, kind in run(
            session, prepared.address_sharers, customer_id=cart.customer_id, kinds=list(sharers)
        ):
            sharers[kind].add(customer_id)
    return sharers


def _incentives_received(
    session: Session, settings: Settings, cart: Cart, now: datetime, sharers: dict[str, set[str]]
) -> int:
    """Incentives given within the cap's days to this shopper - sent, or planned and on their way -
    on their carts, this cart, and the carts of every customer record sharing one of their
    addresses (a guest checkout with the same e-mail is the same shopper fishing for another code)."""
    if settings.incentive_cap <= 0:
        return 0
    since = now - timedelta(days=settings.incentive_cap_days)
    if not cart.customer_id:
        return int(run(session, prepared.incentives_for_cart, cart_id=cart.id, since=since).scalar_one())
    customers = sorted({cart.customer_id}.union(*sharers.values()))
    return int(run(session, prepared.incentives_to_customers, customers=customers, since=since).scalar_one())


def _sent_history(
    session: Session, cart: Cart, now: datetime, sharers: dict[str, set[str]]
) -> list[tuple[str, datetime, str]]:
    """(channel, sent_at, cart id) of what reached this customer's addresses lately: their own
    messages, and those of any other customer holding the same e-mail (for e-mail), phone (SMS) or
    device token (push) - caps protect an inbox, not a record (README, "Who is who"). A guest
    without a customer record: this cart's messages. Two plain indexed queries (who shares an
    address, then their carts' messages) in place of one with a subquery per shared kind."""
    since = now - HISTORY
    if not cart.customer_id:
        rows = run(session, prepared.sent_for_cart, cart_id=cart.id, since=since)
        return [(channel, utc(at), cart_id) for channel, at, cart_id in rows if at is not None]
    customers = sorted({cart.customer_id}.union(*sharers.values()))
    rows = run(session, prepared.sent_to_customers, customers=customers, since=since)
    return [
        (channel, utc(at), cart_id)
        for channel, at, cart_id, owner in rows
        if at is not None and (owner == cart.customer_id or owner in sharers.get(SHARED_ADDRESS.get(channel, ""), ()))
    ]


def _whereabouts(session: Session, cart: Cart) -> tuple[str | None, str | None, str | None]:
    """(time zone, country, province): the customer record, else the phone number's region."""
    if not cart.customer_id:
        return None, None, None
    found = run(session, prepared.whereabouts, customer_id=cart.customer_id).first()
    if found is None:
        return None, None, None
    zone, country, province, phone = found
    if phone and (zone is None or country is None):
        region, zones = phone_whereabouts(phone)
        country = country or region
        zone = zone or (zones[0] if len(zones) == 1 else None)  # a country spanning zones stays unknown
    return zone, country, province
