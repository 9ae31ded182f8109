"""Statements for the webhook hot path, built once per dialect with bind parameters.

Executed on the session's connection against the tables (not the ORM classes), so a webhook pays
for neither statement construction nor ORM bookkeeping - together they cost more than the
Temporal call itself (measured in bench/ingest.py, docs/PERFORMANCE.md).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from sqlalchemy import CursorResult, Executable, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from services.store.tables import Cart, CartAlias, ConsentRecord, Contact, Customer, WebhookReceipt

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
