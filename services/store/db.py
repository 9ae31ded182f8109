"""Engine creation for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel, create_engine

from services.store import tables  # noqa: F401  (registers the tables)


def private_file(path: Path) -> None:
    """Create `path` readable by its owner only (0600), or make an existing one so: the database
    holds names and contact data. SQLite gives its -wal and -shm files the database file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)


WORKER_LOCK_WAIT_S = 30.0  # activities are retried anyway; a wait is cheaper than a retry


_SQLITE_UNAVAILABLE = ("locked", "busy", "unable to open database file", "disk i/o error")
_POSTGRES_UNAVAILABLE = ("08", "53", "57P", "55P03")  # connection, resources, shutdown, lock wait


def database_unavailable(err: OperationalError) -> bool:
    """True for the errors a retry can cure - a lock held too long, a database gone or full - and
    False for a fault of ours (a missing column, bad SQL), which must not hide behind a 503."""
    original = err.orig
    state = getattr(original, "sqlstate", None)
    if isinstance(original, sqlite3.Error):
        return any(marker in str(original).lower() for marker in _SQLITE_UNAVAILABLE)
    return state is None or str(state).startswith(_POSTGRES_UNAVAILABLE)


def make_engine(url: str, *, create: bool = True, lock_wait_s: float = WORKER_LOCK_WAIT_S) -> Engine:
    """`lock_wait_s`: how long a statement waits for a lock another connection holds before it
    fails (SQLite's busy timeout, PostgreSQL's lock_timeout). The API uses a short one so that a
    held lock is answered with a quick 503 (the platform retries) instead of a request that hangs."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""  # "sqlite://": in memory
        if path and path != ":memory:" and not path.startswith("file:"):
            private_file(Path(path))
        engine = _sqlite_engine(url, lock_wait_s)
    else:
        # Timestamps are UTC; pin the session zone so PostgreSQL never shifts them.
        wait_ms = max(1, round(lock_wait_s * 1000))
        engine = create_engine(
            url,
            hide_parameters=True,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=20,
            connect_args={"options": f"-c timezone=utc -c lock_timeout={wait_ms}"},
        )
    if create:
        SQLModel.metadata.create_all(engine)
    return engine


def _sqlite_engine(url: str, lock_wait_s: float) -> Engine:
    # hide_parameters (here and for PostgreSQL): an error's message and a logged traceback never
    # carry a row's values (names, e-mail addresses), only the statement.
    engine = create_engine(url, hide_parameters=True, connect_args={"check_same_thread": False, "timeout": lock_wait_s})
    wait_ms = max(1, round(lock_wait_s * 1000))

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the webhook writer
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={wait_ms}")
        cursor.close()

    return engine


def without_lock_wait(engine: Engine) -> Engine | None:
    """For a SQLite file: a second engine on the same database whose statements fail at once
    ("database is locked") when another connection holds the write lock, instead of waiting for it.
    It is for writes made on the event loop, which a lock wait must never stall: such a write that
    meets a held lock is rolled back and made again in a thread on `engine`. None for PostgreSQL
    (every statement is a network round trip; those belong in a thread) and in-memory SQLite."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return _sqlite_engine(url.render_as_string(hide_password=False), lock_wait_s=0)


def snapshot(session: Session) -> Session:
    """Make the session's reads one consistent snapshot, for a view built from several queries
    (a cart's status and its outcome are committed together and must be read together).
    SQLite's driver starts no transaction for a SELECT, so every query would see the latest
    commit; PostgreSQL's READ COMMITTED gives each statement its own snapshot."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN")  # WAL: the first read fixes the snapshot
    else:
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    return session
