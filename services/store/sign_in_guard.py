"""Brute force against API keys: failed key checks counted per client address and per key prefix,
with a lockout that doubles each time, and sign-in forms that can be posted once.

The policy (how many failures, how long a lockout) is the caller's: services/api/lockout.py.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete

from services.core.clock import utc
from services.store.tables import SignInFailures, UsedSignInForm


def locked_for(session: Session, subjects: list[str], now: datetime) -> float:
    """Seconds until every one of `subjects` may try again (0: none is locked out)."""
    waits = [0.0]
    for subject in subjects:
        row = session.get(SignInFailures, subject)
        if row is not None and row.locked_until is not None:
            waits.append((utc(row.locked_until) - now).total_seconds())
    return max(waits)


def record_failure(
    session: Session,
    subjects: list[str],
    now: datetime,
    *,
    threshold: int,
    window: timedelta,
    lockout: timedelta,
    longest: timedelta,
) -> None:
    """Count one failed check for each subject; the `threshold`-th in a window locks it out."""
    for subject in subjects:
        row = session.get(SignInFailures, subject)
        if row is None:
            row = SignInFailures(subject=subject, window_start=now)
        elif now - utc(row.window_start) > window:
            row.failures, row.window_start = 0, now
        row.failures += 1
        if row.failures >= threshold:
            row.locked_until = now + min(lockout * 2**row.lockouts, longest)
            row.lockouts += 1
            row.failures, row.window_start = 0, now
        session.add(row)


def clear(session: Session, subjects: list[str]) -> None:
    """A subject that checked a right key starts afresh."""
    session.exec(delete(SignInFailures).where(col(SignInFailures.subject).in_(subjects)))


def use_form(session: Session, nonce: str, now: datetime, valid_for: timedelta) -> bool:
    """True the first time a sign-in form's nonce is posted, False ever after (forms older than
    `valid_for` are forgotten: their nonce no longer validates anyway)."""
    session.exec(delete(UsedSignInForm).where(col(UsedSignInForm.used_at) < now - valid_for))
    session.add(UsedSignInForm(nonce_hash=hashlib.sha256(nonce.encode()).hexdigest(), used_at=now))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return False
    return True
