"""Fixtures for the report tests: a database holding the report rows of tests/utils/report_rows.py."""

from __future__ import annotations

import pytest

from tests.utils.report_rows import fixture_rows, insert


@pytest.fixture
def db(engine):
    insert(engine, fixture_rows)
    return engine
