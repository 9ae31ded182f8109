"""The service clock's anchor in the database, so API processes and workers agree on "now".

When the scale changes the clock is re-anchored at the current service time, so it never jumps
backwards.
"""

from __future__ import annotations

import time

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from services.store.tables import ServiceClock
from workflows.types import ClockSpec


def load_clock(engine: Engine, scale: float) -> ClockSpec:
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


def stored_clock(session: Session) -> ClockSpec:
    """The clock as stored, without re-anchoring it (the wall clock when none is stored yet)."""
    row = session.get(ServiceClock, 1)
    return ClockSpec(row.anchor_real, row.anchor_virtual, row.scale) if row else ClockSpec()
