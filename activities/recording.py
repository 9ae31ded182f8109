"""record_abandonment and record_outcome: the journey's milestones in the database."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from channel_models.learning.features import snapshot
from services.core.clock import from_ts, to_ts
from services.core.settings import Settings
from services.model_ops.plan_context import build_plan_context
from services.store.carts import mark_abandoned
from services.store.frames.feature_rows import feature_row
from services.store.tables import Cart, Decision, Message, Order, Outcome
from workflows import contracts
from workflows.types import AbandonmentRecord, OutcomeRecord


class RecordingActivities(contracts.RecordingActivities):
    def __init__(self, engine: Engine, settings: Settings | None = None):
        """Without `settings` no feature snapshot is kept at abandonment; training then falls back
        to the cart's first decision (a holdout cart has none and is left out)."""
        self._engine = engine
        self._settings = settings

    @activity.defn
    def record_abandonment(self, record: AbandonmentRecord) -> None:
        with Session(self._engine) as session:
            cart = session.get(Cart, record.cart_key)
            if cart is None:
                raise LookupError(f"cart {record.cart_key} is not in the database")
            at = from_ts(record.at)
            mark_abandoned(cart, at, record.holdout)
            if self._settings is not None and record.holdout:
                # What the first touch would be planned with: the conversion-propensity model
                # learns from the carts that got no message. A treated cart's first decision,
                # made right after this with the same context, keeps the same snapshot, and
                # training reads that one (services/store/frames/training_data.py), so it is not
                # built twice.
                ctx = build_plan_context(
                    session,
                    self._settings,
                    cart,
                    touch=1,
                    max_touches=self._settings.max_touches,
                    now=at,
                    abandoned_at=at,
                    deadline=at + timedelta(hours=self._settings.attribution_window_hours),
                )
                cart.features = snapshot(ctx)
                cart.feature_row = feature_row(cart.features)
            session.add(cart)
            session.commit()

    @activity.defn
    def record_outcome(self, record: OutcomeRecord) -> None:
        with Session(self._engine) as session:
            cart = session.get(Cart, record.cart_key)
            if cart is None:
                raise LookupError(f"cart {record.cart_key} is not in the database")
            order = session.get(Order, record.order_key) if record.order_key is not None else None
            outcome = session.get(Outcome, cart.id) or Outcome(
                cart_id=cart.id, status=record.status, recorded_at=from_ts(record.at)
            )
            outcome.status = record.status
            outcome.holdout = record.holdout
            outcome.touches_sent = record.touches_sent
            outcome.attributed_touch = record.attributed_touch
            outcome.reason = record.reason
            outcome.recorded_at = from_ts(record.at)
            if order is not None:
                outcome.order_id = order.order_id
                outcome.value_cents = order.value_cents
                outcome.currency = order.currency
                if record.abandoned_at is not None:
                    outcome.time_to_recovery_s = max(0.0, to_ts(order.received_at) - record.abandoned_at)
            attributed = None
            if record.attributed_touch is not None:
                attributed = session.exec(
                    select(Message.channel, Message.decision_id).where(
                        Message.cart_id == cart.id, Message.touch == record.attributed_touch, Message.status == "sent"
                    )
                ).first()
                outcome.attributed_channel = attributed[0] if attributed else None
            # The report groups a cart by the reason and bucket of the decision behind the
            # recovering touch, else by its first decision's (set while planning).
            decision = session.get(Decision, attributed[1]) if attributed else None
            # and counts what incentives cost by the recovering touch's (services/reports/incentives.py)
            outcome.attributed_incentive = decision.incentive if decision is not None else None
            if decision is None and cart.reason is None:
                decision = session.exec(
                    select(Decision).where(Decision.cart_id == cart.id).order_by(col(Decision.id))
                ).first()
            if decision is not None:
                cart.reason, cart.bucket = decision.reason, decision.bucket
            cart.status = record.status
            cart.journey_state = "done"
            cart.closed_at = from_ts(record.at)
            session.add(outcome)
            session.add(cart)
            session.commit()
