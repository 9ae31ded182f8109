"""Known abandonment reasons (the reason classifier's labels): shopper survey answers, and the
reason of the reason-specific message that recovered a cart.

One label per cart and source: a second survey answer replaces the first, a recovery is labelled
once. A survey answer outranks a recovery: the recovery is not labelled when the shopper already
answered, and services/store/frames/training_data.py prefers the answer when both exist.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from channel_models.vocabulary import REASONS
from services.store.tables import ReasonLabel

SURVEY = "survey"
RECOVERED_MESSAGE = "recovered_message"


def _insert(session: Session):
    dialect = postgresql if session.connection().dialect.name == "postgresql" else sqlite
    return dialect.insert(ReasonLabel.__table__)


def record_survey_answer(session: Session, cart_id: str, reason: str, now: datetime) -> ReasonLabel:
    """Store (or replace) the shopper's answer for a cart; one statement, so two answers arriving
    at once cannot both insert."""
    if reason not in REASONS:
        raise ValueError(f"unknown reason {reason!r}: one of {', '.join(REASONS)}")
    stmt = _insert(session).values(cart_id=cart_id, reason=reason, source=SURVEY, recorded_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["cart_id", "source"],
        set_={"reason": stmt.excluded.reason, "recorded_at": stmt.excluded.recorded_at},
    )
    session.execute(stmt)
    return session.exec(
        select(ReasonLabel)
        .where(ReasonLabel.cart_id == cart_id, ReasonLabel.source == SURVEY)
        .execution_options(populate_existing=True)
    ).one()


def template_reason(template: str | None) -> str | None:
    """The reason a message's template was written for ("email/price@v3/A", packaged
    "email/price"), or None when it is not reason-specific ("other", unknown, none)."""
    if not template:
        return None
    _channel, _, rest = template.partition("/")
    reason = rest.partition("@")[0]
    return reason if reason in REASONS and reason != "other" else None


def record_recovery_label(session: Session, cart_id: str, template: str | None, now: datetime) -> bool:
    """Label a recovered cart with its recovering message's reason, unless the template is not
    reason-specific or the shopper answered the survey. True when a label was stored."""
    reason = template_reason(template)
    if reason is None:
        return False
    answered = session.exec(
        select(ReasonLabel.id).where(ReasonLabel.cart_id == cart_id, ReasonLabel.source == SURVEY)
    ).first()
    if answered is not None:
        return False
    stmt = _insert(session).values(cart_id=cart_id, reason=reason, source=RECOVERED_MESSAGE, recorded_at=now)
    return session.execute(stmt.on_conflict_do_nothing(index_elements=["cart_id", "source"])).rowcount == 1
