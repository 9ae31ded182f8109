"""How late a send left (services/core/lateness.py), and the worker's warning when it falls behind."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from services.core import lateness
from services.core.lateness import BehindWarning, seconds_late

PLANNED = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_seconds_late_against_the_plan():
    assert seconds_late(PLANNED, PLANNED + timedelta(minutes=3)) == 180
    assert seconds_late(PLANNED.replace(tzinfo=None), PLANNED + timedelta(seconds=2)) == 2  # stored naive: UTC
    assert seconds_late(PLANNED, PLANNED - timedelta(seconds=5)) == 0  # early is on time
    assert seconds_late(None, PLANNED) is None


def test_behind_is_said_once_a_minute_in_real_time(caplog, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(lateness.time, "monotonic", lambda: clock[0])
    behind = BehindWarning(time_scale=60)  # one real second is a service minute
    with caplog.at_level(logging.WARNING, logger="services.core.lateness"):
        behind.observe(59 * 60)  # 59 real seconds: on time
        behind.observe(None)
        assert caplog.records == []
        behind.observe(90 * 60)
        behind.observe(120 * 60)
        clock[0] += 30
        behind.observe(200 * 60)  # within the minute: counted, not said
        assert len(caplog.records) == 1
        assert "1 send(s)" in caplog.records[0].getMessage()
        clock[0] += 31
        behind.observe(61 * 60)
    assert len(caplog.records) == 2
    assert "3 send(s)" in caplog.records[1].getMessage()
    assert "worst 200 s" in caplog.records[1].getMessage()
