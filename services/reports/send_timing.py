"""How late the latest sends left against their plan (`Message.late_seconds`), in real seconds:
the dashboard's "Send timing" and `cartrecovery status` show it. Lateness on the service clock is
divided by CR_TIME_SCALE, so a demo at 600x reads in the seconds a person waited."""

from __future__ import annotations

from sqlmodel import Session, col, select

from services.core.lateness import BEHIND_AFTER_S
from services.store.tables import Message

LATEST = 1000
QUANTILES = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))


def send_timing(session: Session, time_scale: float, latest: int = LATEST) -> dict:
    """{"sends", "late" (over BEHIND_AFTER_S), "p50", "p90", "p99", "max"} over the `latest` sends."""
    rows = session.exec(
        select(Message.late_seconds)
        .where(Message.status == "sent", col(Message.late_seconds).is_not(None))
        .order_by(col(Message.id).desc())
        .limit(latest)
    ).all()
    late = sorted(value / time_scale for value in rows if value is not None)
    timing: dict = {"sends": len(late), "late": sum(1 for value in late if value > BEHIND_AFTER_S)}
    for name, q in QUANTILES:
        timing[name] = late[min(len(late) - 1, int(q * len(late)))] if late else None
    timing["max"] = late[-1] if late else None
    return timing
