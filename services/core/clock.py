"""The service clock shared by every process: wall time sped up CR_TIME_SCALE times.

The anchor lives in the database so API processes agree on "now". When the scale changes the
clock is re-anchored at the current service time, so it never jumps backwards.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from services.store.tables import ServiceClock
from workflows.types import ClockSpec


def load_clock(engine, scale: float) -> ClockSpec:
    with Session(engine) as session:
        row = session.get(ServiceClock, 1)
        now = time.time()
        if row is None:
            row = ServiceClock(id=1, anchor_real=now, anchor_virtual=now, scale=scale)
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # another process anchored it first
                session.rollback()
                row = session.get(ServiceClock, 1)
        elif row.scale != scale:
            current = ClockSpec(row.anchor_real, row.anchor_virtual, row.scale).to_service(now)
            row.anchor_real, row.anchor_virtual, row.scale = now, current, scale
            session.add(row)
            session.commit()
        return ClockSpec(row.anchor_real, row.anchor_virtual, row.scale)


def service_now(clock: ClockSpec) -> datetime:
    return from_ts(clock.to_service(time.time()))


def from_ts(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def utc(moment: datetime | None) -> datetime | None:
    """Platform timestamps arrive in the shop's offset; store them in UTC (naive means UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def to_ts(moment: datetime) -> float:
    if moment.tzinfo is None:  # stored naive by SQLite: always UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
