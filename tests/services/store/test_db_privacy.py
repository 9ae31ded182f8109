"""The database keeps its personal data to itself: files readable by their owner only, and no
row's values in an error message or a logged traceback."""

from __future__ import annotations

import stat
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from services.store.db import make_engine
from services.store.tables import Customer


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_and_its_journal_are_private(tmp_path):
    db = tmp_path / "data" / "app.db"
    engine = make_engine(f"sqlite:///{db}")
    with Session(engine) as session:
        session.add(Customer(id="c1", shop="s", first_name="Ada", created_at=datetime.now(UTC)))
        session.commit()
        assert mode(db) == 0o600
        assert mode(db.with_name("app.db-wal")) == 0o600
    engine.dispose()


def test_an_existing_world_readable_database_is_made_private(tmp_path):
    db = tmp_path / "app.db"
    make_engine(f"sqlite:///{db}").dispose()
    db.chmod(0o644)
    make_engine(f"sqlite:///{db}").dispose()
    assert mode(db) == 0o600


def test_an_integrity_error_names_the_statement_not_the_values(sqlite_engine):
    with Session(sqlite_engine) as session:
        session.add(Customer(id="c1", shop="s", first_name="Ada", created_at=datetime.now(UTC)))
        session.commit()
    with Session(sqlite_engine) as session, pytest.raises(IntegrityError) as failed:
        session.add(Customer(id="c1", shop="s", first_name="Grace Hopper", created_at=datetime.now(UTC)))
        session.commit()
    assert "INSERT INTO customers" in str(failed.value)
    assert "Grace Hopper" not in str(failed.value)
