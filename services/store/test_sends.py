"""How many test messages an editor sent lately: the template editor's test send is a way to
message any address, so it is rate-limited per key (services/api/routes/templates.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, delete, select

from services.core.clock import utc
from services.store.tables import EditorTestSend


def wait_before_next(session: Session, sender: str, now: datetime, *, limit: int, per: timedelta) -> float:
    """Seconds until `sender` may send another test message (0: now)."""
    since = now - per
    times = session.exec(
        select(EditorTestSend.sent_at)
        .where(EditorTestSend.sender == sender, col(EditorTestSend.sent_at) > since)
        .order_by(col(EditorTestSend.sent_at))
    ).all()
    if len(times) < limit:
        return 0.0
    return max(0.0, (utc(times[len(times) - limit]) + per - now).total_seconds())


def record_test_send(session: Session, sender: str, now: datetime, keep: timedelta) -> None:
    """Count one test message; rows older than `keep` no longer count and are dropped."""
    session.exec(delete(EditorTestSend).where(col(EditorTestSend.sent_at) < now - keep))
    session.add(EditorTestSend(sender=sender, sent_at=now))
