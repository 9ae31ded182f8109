"""Fresh application databases for tests: SQLite files, and databases on the PostgreSQL that
scripts/test.sh starts (CR_TEST_POSTGRES_URL)."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from services.store.db import make_engine

DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]  # for fixture params


def postgres_url() -> str:
    url = os.environ.get("CR_TEST_POSTGRES_URL")
    if not url:
        raise RuntimeError(
            "CR_TEST_POSTGRES_URL is not set: run the suite with `bash scripts/test.sh`, which starts PostgreSQL"
        )
    return url


@contextmanager
def fresh_database(kind: str, directory: Path):
    """An empty application database: a SQLite file in `directory`, or a new database on the
    PostgreSQL the test command started (dropped afterwards)."""
    if kind == "sqlite":
        eng = make_engine(f"sqlite:///{directory / 'app.db'}")
        yield eng
        eng.dispose()
        return
    from sqlalchemy import text

    base = postgres_url()
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base, create=False)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    eng = make_engine(base.rsplit("/", 1)[0] + f"/{name}")
    yield eng
    eng.dispose()
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()
