"""Event builders and database readers shared by the storage tests (test_store_*.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlmodel import Session, SQLModel, select

from services.core.events import CartEvent, ConsentChange, LineItem, OrderEvent
from services.core.events import Contact as ContactIn
from services.core.settings import Settings
from services.ingest.intake import store_event
from services.store.tables import Cart, Order

SHOP = "shop-a.example"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WINDOW_H = 120
SETTINGS = Settings(_env_file=None, attribution_window_hours=WINDOW_H, default_region="US")


# --- builders ----------------------------------------------------------------------------------
def contact(email="Ada.Lovelace@Example.COM", phone="(650) 253-0000", first_name="Ada", **extra) -> ContactIn:
    return ContactIn(email=email, phone=phone, first_name=first_name, **extra)


def cart_event(token="tok-1", *, who=None, consents=(), items=None, total="123.45", **extra) -> CartEvent:
    return CartEvent(
        cart_id=token,
        contact=who if who is not None else contact(),
        consents=list(consents),
        total_value=Decimal(total),
        items=items if items is not None else [LineItem(title="Blue Mug", quantity=2, price=Decimal("61.725"))],
        recovery_url=extra.pop("recovery_url", f"https://shop.example/recover/{token}"),
        **extra,
    )


def granted(*channels) -> list[ConsentChange]:
    return [ConsentChange(channel=c, state="granted", source="checkout", evidence=f"{c}-box") for c in channels]


def store(engine, event, now=T0, shop=SHOP):
    return store_event(engine, SETTINGS, shop, "generic", event, now)


def signal_name(action) -> str:
    return "start" if action.signal is None else action.signal.__name__


def signals(stored) -> list[tuple[str, str]]:
    return [(a.cart_key, signal_name(a)) for a in stored.actions]


def signals_with_args(stored) -> list[tuple[str, str, object]]:
    return [(a.cart_key, signal_name(a), a.arg) for a in stored.actions]


def all_rows(engine, table) -> list:
    with Session(engine) as session:
        return list(session.exec(select(table)).all())


def count(engine, table) -> int:
    return len(all_rows(engine, table))


def get(engine, table, key):
    with Session(engine) as session:
        return session.get(table, key)


def set_cart(engine, key, **fields) -> None:
    """What the workflow's activities would have recorded (abandonment, outcome)."""
    with Session(engine) as session:
        cart = session.get(Cart, key)
        for name, value in fields.items():
            setattr(cart, name, value)
        session.add(cart)
        session.commit()


def database_text(engine) -> str:
    """Every column of every row of every table, as one lower-case string."""
    parts = []
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                parts.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(parts).lower()


def order_event(order_id="1001", cart_id=None, alt=(), who=None, total="99.90", **extra) -> OrderEvent:
    return OrderEvent(
        order_id=order_id,
        cart_id=cart_id,
        alt_cart_ids=list(alt),
        contact=who if who is not None else ContactIn(),
        total_value=Decimal(total),
        **extra,
    )


def only_order(engine) -> Order:
    [order] = all_rows(engine, Order)
    return order
