"""plan_touch: ask the policy what to do for the next touch and log the decision."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity

from activities.plan_context import build_plan_context, features_snapshot
from channel_models import RulePolicy
from services.clock import from_ts
from services.settings import Settings
from services.store.tables import Cart, Decision
from workflows.types import PlanRequest, TouchPlan


class PlanningActivities:
    def __init__(self, engine: Engine, settings: Settings, policy=None):
        self._engine = engine
        self._settings = settings
        self._policy = policy or RulePolicy()

    @activity.defn(name="plan_touch")
    def plan_touch(self, req: PlanRequest) -> TouchPlan:
        with Session(self._engine) as session:
            cart = session.get(Cart, req.cart_key)
            if cart is None:
                raise LookupError(f"cart {req.cart_key} is not in the database")
            ctx = build_plan_context(
                session,
                self._settings,
                cart,
                touch=req.touch,
                max_touches=req.max_touches,
                now=from_ts(req.now),
                abandoned_at=from_ts(req.abandoned_at),
                deadline=from_ts(req.deadline),
                excluded=tuple(req.excluded),
            )
            decision = self._policy.plan(ctx)
            row = Decision(
                cart_id=cart.id,
                touch=req.touch,
                decided_at=ctx.now,
                policy=decision.policy,
                stop=decision.stop,
                stop_reason=decision.stop_reason,
                channel=decision.channel,
                send_at=decision.send_at,
                reason=decision.reason,
                reason_confidence=decision.reason_confidence,
                propensity=decision.propensity,
                bucket=decision.bucket,
                incentive=decision.incentive,
                action_propensity=decision.action_propensity,
                allowed=dict(decision.allowed),
                blocked=dict(decision.blocked),
                explanation=list(decision.explanation),
                features=features_snapshot(ctx),
            )
            session.add(row)
            cart.journey_state = "stopped" if decision.stop else f"touch {req.touch} planned"
            if cart.reason is None:  # the report's reason and bucket: the first decision's for now
                cart.reason, cart.bucket = decision.reason, decision.bucket
            session.add(cart)
            session.commit()
            return TouchPlan(
                decision_id=row.id,
                stop=decision.stop,
                stop_reason=decision.stop_reason,
                channel=decision.channel,
                send_at=decision.send_at.timestamp() if decision.send_at else req.now,
                reason=decision.reason,
                bucket=decision.bucket,
                incentive=decision.incentive,
            )
