"""Engine creation for SQLite (default) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

from services.store import tables  # noqa: F401  (registers the tables)


def make_engine(url: str, *, create: bool = True) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the webhook writer
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    else:
        # Timestamps are UTC; pin the session zone so PostgreSQL never shifts them.
        engine = create_engine(
            url, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args={"options": "-c timezone=utc"}
        )
    if create:
        SQLModel.metadata.create_all(engine)
    return engine
