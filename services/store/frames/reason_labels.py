"""Known abandonment reasons (the reason classifier's labels): the shoppers' survey answers.

One label per cart: a second answer replaces the first. Carts are no longer labelled with the
reason of the message that recovered them: that reason was the rule prior's inference, so a
classifier trained on it learned to copy the rules (issue 14). Labels written that way by earlier
versions (source `recovered_message`) stay in the table and are not read.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from channel_models.vocabulary import REASONS
from services.store.tables import ReasonLabel

SURVEY = "survey"


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
