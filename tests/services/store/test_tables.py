"""The tables' module layout keeps SQLAlchemy's flush order: a row is inserted after the rows of
other modules it references (see services/store/tables/__init__.py)."""

from sqlmodel import SQLModel

import services.store.tables as tables


def mapped_classes() -> dict[str, type]:
    return {cls.__tablename__: cls for name in tables.__all__ if isinstance(cls := getattr(tables, name), type)}


def flush_key(cls: type) -> str:
    return f"{cls.__module__}.{cls.__name__}"  # what SQLAlchemy's unit of work sorts by


def test_every_reference_to_another_module_is_flushed_after_the_row_it_references():
    classes = mapped_classes()
    crossing = 0
    for table in SQLModel.metadata.sorted_tables:
        for key in table.foreign_keys:
            referencing, referenced = classes[table.name], classes[key.column.table.name]
            if referencing.__module__ != referenced.__module__:
                crossing += 1
                assert flush_key(referencing) > flush_key(referenced), (table.name, key.target_fullname)
    assert crossing >= 3  # decisions, messages and reason labels reference carts


def test_a_cart_and_its_decision_added_together_are_inserted_in_that_order(sqlite_engine):
    from datetime import UTC, datetime

    from sqlmodel import Session

    now = datetime(2026, 1, 1, tzinfo=UTC)
    with Session(sqlite_engine) as session:
        session.add(
            tables.Decision(
                cart_id="c1",
                touch=1,
                decided_at=now,
                policy="t",
                reason="price",
                reason_confidence=1.0,
                propensity=0.5,
                bucket="Moderate",
            )
        )
        session.add(tables.Cart(id="c1", shop="s", token="c1", platform="generic", created_at=now, updated_at=now))
        session.commit()
        assert session.get(tables.Decision, 1).cart_id == "c1"
