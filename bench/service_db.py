"""Read the service's database - SQLite or PostgreSQL, whichever CR_DATABASE_URL names - from a
benchmark with plain SQL that both accept."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, create_engine, text


@contextlib.contextmanager
def reading(url: str) -> Iterator[Connection]:
    engine = create_engine(url)
    try:
        with engine.connect() as db:
            yield db
    finally:
        engine.dispose()


def rows(db: Connection, sql: str, **params: Any) -> list[Any]:
    return list(db.execute(text(sql), params).fetchall())


def value(db: Connection, sql: str, **params: Any) -> Any:
    return db.execute(text(sql), params).scalar()
