"""SQLModel tables. Personal data lives here and only here (customers, contacts, cart items).

Money is stored in minor units (`*_cents`) so sums are exact on SQLite and PostgreSQL alike.
Times are UTC on the service clock (see services/core/clock.py).

- `commerce`: what shops send - customers, contacts, consent, carts, behaviour, orders, outcomes;
- `journey`: what the journeys decide and send, the templates, the models behind the decisions;
- `service`: webhook receipts, the clock's anchor, API keys, browser sessions.

The module names matter: with no relationship() between tables, SQLAlchemy inserts one flush's
rows table by table in the order of "module.ClassName", so a referencing table must sort after the
table it references (a cart before its decisions). tests/services/store/test_tables.py holds
every foreign key to that.
"""

from __future__ import annotations

from services.store.tables.commerce import (
    BehaviorSignalRow,
    Cart,
    CartAlias,
    ConsentRecord,
    Contact,
    Customer,
    Order,
    Outcome,
)
from services.store.tables.journey import Decision, Message, MessageTemplate, ModelVersion, ReasonLabel
from services.store.tables.service import (
    ApiKey,
    EditorTestSend,
    ServiceClock,
    SignInFailures,
    UsedSignInForm,
    WebhookReceipt,
    WebSession,
)

__all__ = [
    "ApiKey",
    "BehaviorSignalRow",
    "Cart",
    "CartAlias",
    "ConsentRecord",
    "Contact",
    "Customer",
    "Decision",
    "Message",
    "MessageTemplate",
    "ModelVersion",
    "Order",
    "Outcome",
    "ReasonLabel",
    "ServiceClock",
    "SignInFailures",
    "EditorTestSend",
    "UsedSignInForm",
    "WebSession",
    "WebhookReceipt",
    "saved_id",
]


def saved_id(row: Decision | ModelVersion | Message | MessageTemplate | Order | ApiKey) -> int:
    """The integer key of a row the database has given one (SQLModel types it optional until then)."""
    if row.id is None:
        raise ValueError(f"this {type(row).__name__} has not been saved yet")
    return row.id
