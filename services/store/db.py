"""Engine creation for SQLite (default) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

from services.store import tables  # noqa: F401  (registers the tables)


def private_file(path: Path) -> None:
    """Create `path` readable by its owner only (0600), or make an existing one so: the database
    holds names and contact data. SQLite gives its -wal and -shm files the database file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)


def make_engine(url: str, *, create: bool = True) -> Engine:
    # hide_parameters: an error's message and a logged traceback never carry a row's values
    # (names, e-mail addresses), only the statement.
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            private_file(Path(path))
        engine = create_engine(url, hide_parameters=True, connect_args={"check_same_thread": False, "timeout": 30})

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
            url,
            hide_parameters=True,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=20,
            connect_args={"options": "-c timezone=utc"},
        )
    if create:
        SQLModel.metadata.create_all(engine)
    return engine
