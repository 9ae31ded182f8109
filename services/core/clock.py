"""The service clock shared by every process: wall time sped up CR_TIME_SCALE times, and the
conversions between platform, stored and POSIX times. Its anchor is stored by
services/store/service_clock.py, so every process agrees on "now"."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import overload

from workflows.types import ClockSpec


def service_now(clock: ClockSpec) -> datetime:
    return from_ts(clock.to_service(time.time()))


def from_ts(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


@overload
def utc(moment: datetime) -> datetime: ...
@overload
def utc(moment: None) -> None: ...
def utc(moment: datetime | None) -> datetime | None:
    """Platform timestamps arrive in the shop's offset; store them in UTC (naive means UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def to_ts(moment: datetime) -> float:
    if moment.tzinfo is None:  # stored naive by SQLite: always UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
