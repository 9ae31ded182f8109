"""What each model kind's data holds, for its learning phase (Learning / Active / Alert): how many
carts, conversions and labels since when, at what daily rate, and when it was last trained."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case
from sqlmodel import Session, col, func, select

from channel_models.learning.frames import RATE_DAYS
from channel_models.registry.model_status import DataFacts
from channel_models.vocabulary import MODEL_KINDS
from services.core.clock import utc
from services.store.frames.reason_labels import SURVEY
from services.store.tables import Cart, Decision, ModelVersion, Outcome, ReasonLabel


def data_facts(session: Session, kind: str, now: datetime) -> DataFacts:
    """What the database says about `kind`'s data and training at `now` (see DataFacts).

    Counts are over journeys that ended; rates over the last RATE_DAYS days, or fewer when the
    data is younger. `quality_fell`: the newest training after the active version's promotion
    evaluated the active version on newer data and recorded ``metrics["active_quality_fell"]``."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}: one of {', '.join(MODEL_KINDS)}")
    since = now - timedelta(days=RATE_DAYS)
    recent = case((col(Cart.abandoned_at) >= since, 1), else_=0)
    recovered = case((Outcome.status == "recovered", 1), else_=0)
    first, carts, recent_carts, conversions, recent_conversions = session.exec(
        select(
            func.min(Cart.abandoned_at),
            func.count(),
            func.coalesce(func.sum(recent), 0),
            func.coalesce(func.sum(recovered), 0),
            func.coalesce(func.sum(recent * recovered), 0),
        )
        .select_from(Outcome)
        .join(Cart, col(Cart.id) == col(Outcome.cart_id))
        .where(col(Cart.abandoned_at).is_not(None))
    ).one()
    labels, recent_labels = session.exec(
        select(
            func.count(func.distinct(ReasonLabel.cart_id)),
            func.count(func.distinct(case((col(ReasonLabel.recorded_at) >= since, ReasonLabel.cart_id), else_=None))),
        ).where(ReasonLabel.source == SURVEY)
    ).one()
    first = utc(first)
    span = RATE_DAYS if first is None else max(1.0, min(RATE_DAYS, (now - first).total_seconds() / 86400))
    last_decision = session.exec(select(Decision.decided_at).order_by(col(Decision.id).desc()).limit(1)).first()
    return DataFacts(
        first_abandoned_at=first,
        last_decision_at=utc(last_decision),
        carts=int(carts),
        conversions=int(conversions),
        labels=int(labels),
        carts_per_day=int(recent_carts) / span,
        conversions_per_day=int(recent_conversions) / span,
        labels_per_day=int(recent_labels) / span,
        **_training_facts(session, kind),
    )


def _training_facts(session: Session, kind: str) -> dict:
    rows = session.exec(
        select(
            ModelVersion.id,
            ModelVersion.version,
            ModelVersion.status,
            ModelVersion.created_at,
            ModelVersion.promoted_at,
            ModelVersion.note,
            ModelVersion.metrics,
        )
        .where(ModelVersion.kind == kind)
        .order_by(col(ModelVersion.id).desc())
    ).all()
    # A run that completed but skipped this kind (no labels yet, say) still ran: training is not
    # overdue for a kind just because there was nothing to fit it on.
    any_run = session.exec(select(func.max(ModelVersion.created_at)).where(ModelVersion.status != "failed")).one()
    if not rows:
        return {"last_training_at": utc(any_run)} if any_run else {}
    latest = rows[0]
    completed = [row for row in rows if row.status != "failed"]
    active = next((row for row in rows if row.status == "active"), None)
    newest = completed[0] if completed else None
    fell = (
        active is not None
        and newest is not None
        and newest.id != active.id
        and utc(newest.created_at) >= utc(active.promoted_at or active.created_at)
        and bool((newest.metrics or {}).get("active_quality_fell"))
    )
    return {
        "last_training_at": utc(any_run) if any_run else None,
        "last_training_ok": latest.status != "failed",
        "last_failure": latest.note if latest.status == "failed" else None,
        "active_version": active.version if active else None,
        "quality_fell": fell,
    }
