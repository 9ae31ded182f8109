"""Statements for the hot paths - a webhook's writes, a journey step's reads - built once per
dialect with bind parameters.

Executed on the session's connection against the tables (not the ORM classes), so a webhook or a
journey step pays for neither statement construction nor ORM bookkeeping: on the webhook path
together they cost more than the Temporal call itself (bench/ingest.py), on the worker's they were
the largest part of planning a touch (bench/journeys.py; docs/PERFORMANCE.md).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from sqlalchemy import CursorResult, Executable, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from services.store.tables import (
    BehaviorSignalRow,
    Cart,
    CartAlias,
    ConsentRecord,
    Contact,
    Customer,
    Decision,
    Message,
    Order,
    Outcome,
    WebhookReceipt,
)

Builder = Callable[[ModuleType], Executable]  # the dialect module (postgresql or sqlite) -> statement
_built: dict[tuple[Builder, str], Executable] = {}


def run(session: Session, build: Builder, **params: Any) -> CursorResult[*tuple[Any, ...]]:
    """Execute the statement `build` makes (one of this module's builders, built once per dialect)
    with `params` in the session's transaction."""
    connection = session.connection()
    dialect = connection.dialect.name
    statement = _built.get((build, dialect))
    if statement is None:
        statement = _built[(build, dialect)] = build(postgresql if dialect == "postgresql" else sqlite)
    return connection.execute(statement, params)


def customer_by_external(_d):
    t = Customer.__table__
    return select(t.c.id).where(t.c.shop == bindparam("shop"), t.c.external_id == bindparam("external_id")).limit(1)


def customer_by_contact(_d):
    t = Contact.__table__
    return (
        select(t.c.customer_id)
        .where(t.c.shop == bindparam("shop"), t.c.kind == bindparam("kind"), t.c.normalized == bindparam("normalized"))
        .limit(1)
    )


def guest_by_contact(_d):
    """A customer without a platform customer id (a guest) holding this contact."""
    t, c = Contact.__table__, Customer.__table__
    return (
        select(t.c.customer_id)
        .join(c, c.c.id == t.c.customer_id)
        .where(
            t.c.shop == bindparam("shop"),
            t.c.kind == bindparam("kind"),
            t.c.normalized == bindparam("normalized"),
            c.c.external_id.is_(None),
        )
        .limit(1)
    )


def insert_customer(d):
    return d.insert(Customer.__table__)


def update_customer(_d):
    t = Customer.__table__
    fields = ("external_id", "first_name", "locale", "timezone", "country", "province")
    return (
        update(t)
        .where(t.c.id == bindparam("customer_id"))
        .values({name: func.coalesce(bindparam(f"new_{name}"), t.c[name]) for name in fields})
    )


def upsert_contact(d):
    stmt = d.insert(Contact.__table__)
    return stmt.on_conflict_do_update(
        index_elements=["customer_id", "kind"],
        set_={
            "value": stmt.excluded.value,
            "normalized": stmt.excluded.normalized,
            "updated_at": stmt.excluded.updated_at,
        },
    )


def consent_states(_d):
    t = ConsentRecord.__table__
    return select(t.c.channel, t.c.state).where(t.c.customer_id == bindparam("customer_id")).order_by(t.c.id)


CART_CONTENT = ("currency", "value_cents", "items", "stage", "updated_at")
CART_KEPT = ("customer_id", "recovery_url", "device", "source", "platform_updated_at")


def upsert_cart(d):
    t = Cart.__table__
    stmt = d.insert(t)
    newer = or_(
        stmt.excluded.platform_updated_at.is_(None),
        t.c.platform_updated_at.is_(None),
        stmt.excluded.platform_updated_at >= t.c.platform_updated_at,
    )
    return stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={
            **{name: stmt.excluded[name] for name in CART_CONTENT},
            **{name: func.coalesce(stmt.excluded[name], t.c[name]) for name in CART_KEPT},
            "version": t.c.version + 1,
        },
        where=newer,  # an out-of-order (older) update changes nothing
    ).returning(t.c.version, t.c.status, t.c.customer_id)


def cart_state(_d):
    t = Cart.__table__
    return select(t.c.version, t.c.status, t.c.customer_id).where(t.c.id == bindparam("id"))


def older_open_carts(_d):
    t = Cart.__table__
    return select(t.c.id).where(
        t.c.customer_id == bindparam("customer_id"),
        t.c.status == "open",
        t.c.id != bindparam("id"),
        t.c.journey_state != "superseded",
    )


def add_alias(d):
    return d.insert(CartAlias.__table__).on_conflict_do_nothing()


def receipt_actions(_d):
    t = WebhookReceipt.__table__
    return select(t.c.actions).where(t.c.id == bindparam("id"))


def add_receipt(d):
    return d.insert(WebhookReceipt.__table__).on_conflict_do_nothing()


# --- a journey step's reads (services/model_ops/plan_context.py, on every plan and send) ---------


def contact_addresses(_d):
    """kind, normalised value of each of a customer's contacts."""
    t = Contact.__table__
    return select(t.c.kind, t.c.normalized).where(t.c.customer_id == bindparam("customer_id"))


def others_consent_at(_d):
    """(customer, state) of the consent records on `channel` of the other customers holding this
    contact, oldest first."""
    t, c = ConsentRecord.__table__, Contact.__table__
    return (
        select(t.c.customer_id, t.c.state)
        .join(c, c.c.customer_id == t.c.customer_id)
        .where(
            c.c.shop == bindparam("shop"),
            c.c.kind == bindparam("kind"),
            c.c.normalized == bindparam("normalized"),
            t.c.channel == bindparam("channel"),
            t.c.customer_id != bindparam("customer_id"),
        )
        .order_by(t.c.id)
    )


def whereabouts(_d):
    """(timezone, country, province, phone) of a customer: the record's, and its phone number."""
    t, c = Customer.__table__, Contact.__table__
    return (
        select(t.c.timezone, t.c.country, t.c.province, c.c.normalized)
        .outerjoin(c, and_(c.c.customer_id == t.c.id, c.c.kind == "phone"))
        .where(t.c.id == bindparam("customer_id"))
        .limit(1)
    )


def other_carts(_d):
    t = Cart.__table__
    return select(t.c.id, t.c.created_at, t.c.abandoned_at).where(
        t.c.customer_id == bindparam("customer_id"), t.c.id != bindparam("cart_id")
    )


def customer_orders(_d):
    t = Order.__table__
    return select(t.c.placed_at, t.c.value_cents, t.c.cart_id).where(t.c.customer_id == bindparam("customer_id"))


def sent_per_channel(_d):
    """channel, messages sent, of them clicked - over the carts `cart_ids`."""
    t = Message.__table__
    return (
        select(t.c.channel, func.count(), func.count(t.c.clicked_at))
        .where(t.c.cart_id.in_(bindparam("cart_ids", expanding=True)), t.c.status == "sent")
        .group_by(t.c.channel)
    )


def recovered_per_channel(_d):
    t = Outcome.__table__
    return (
        select(t.c.attributed_channel, func.count())
        .where(
            t.c.cart_id.in_(bindparam("cart_ids", expanding=True)),
            t.c.status == "recovered",
            t.c.attributed_channel.is_not(None),
        )
        .group_by(t.c.attributed_channel)
    )


def signal_kinds(_d):
    t = BehaviorSignalRow.__table__
    return select(t.c.kind).where(t.c.cart_id == bindparam("cart_id"))


def channels_sent_before(_d):
    """The channels of this cart's sent messages before `touch`, in touch order."""
    t = Message.__table__
    return (
        select(t.c.channel)
        .where(t.c.cart_id == bindparam("cart_id"), t.c.status == "sent", t.c.touch < bindparam("touch"))
        .order_by(t.c.touch)
    )


def address_sharers(_d):
    """(customer, kind) of every customer (this one included) holding the same contact of one of
    the `kinds` as customer `customer_id`."""
    t = Contact.__table__
    mine = t.alias("mine")
    return (
        select(t.c.customer_id, t.c.kind)
        .join(mine, and_(mine.c.shop == t.c.shop, mine.c.kind == t.c.kind, mine.c.normalized == t.c.normalized))
        .where(mine.c.customer_id == bindparam("customer_id"), t.c.kind.in_(bindparam("kinds", expanding=True)))
    )


def sent_to_customers(_d):
    """(channel, sent_at, cart, customer) of what was sent since `since` for these customers' carts."""
    m, c = Message.__table__, Cart.__table__
    return (
        select(m.c.channel, m.c.sent_at, m.c.cart_id, c.c.customer_id)
        .join(c, c.c.id == m.c.cart_id)
        .where(
            c.c.customer_id.in_(bindparam("customers", expanding=True)),
            m.c.status == "sent",
            m.c.sent_at >= bindparam("since"),
        )
    )


def _incentives_given(which):
    """Touches with an incentive decided since `since`, for the carts `which` selects, that were sent
    or are still on their way (no message yet, the journey running): a code planned for a guest
    checkout with the same e-mail counts before it leaves, so two carts cannot both be given one."""
    m, d, c = Message.__table__, Decision.__table__, Cart.__table__
    message = and_(m.c.cart_id == d.c.cart_id, m.c.touch == d.c.touch, m.c.decision_id == d.c.id)
    return (
        select(func.count())
        .select_from(d.join(c, c.c.id == d.c.cart_id).outerjoin(m, message))
        .where(
            which(c),
            d.c.incentive.is_not(None),
            d.c.stop.is_(False),
            d.c.decided_at >= bindparam("since"),
            or_(m.c.status == "sent", and_(m.c.id.is_(None), c.c.journey_state != "done")),
        )
    )


def incentives_to_customers(_d):
    """How many incentives these customers' carts were given since `since` (see _incentives_given)."""
    return _incentives_given(lambda c: c.c.customer_id.in_(bindparam("customers", expanding=True)))


def incentives_for_cart(_d):
    """The same for one cart (a guest's, with no customer record)."""
    return _incentives_given(lambda c: c.c.id == bindparam("cart_id"))


def sent_for_cart(_d):
    m = Message.__table__
    return select(m.c.channel, m.c.sent_at, m.c.cart_id).where(
        m.c.cart_id == bindparam("cart_id"), m.c.status == "sent", m.c.sent_at >= bindparam("since")
    )
