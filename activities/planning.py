"""plan_touch: ask the planner what to do for the next touch and log the decision.

The decision row keeps what the planner saw (``features.snapshot``), every action the masks
allowed, the chosen action and its probability, and the model versions behind it: enough to
retrain on it and to evaluate any other policy off-policy (services/store/frames/training_data.py).
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity

from channel_models.learning.features import snapshot
from channel_models.policy import Policy
from channel_models.rules.rule_policy import RulePolicy
from services.core.clock import from_ts
from services.core.settings import Settings
from services.model_ops.plan_context import build_plan_context
from services.store.carts import mark_abandoned
from services.store.frames.feature_rows import feature_row
from services.store.tables import Cart, Decision, saved_id
from workflows import contracts
from workflows.types import PlanRequest, TouchPlan


class PlanningActivities(contracts.PlanningActivities):
    def __init__(self, engine: Engine, settings: Settings, policy: Policy | None = None):
        """`policy`: the planner, anything with ``.plan(PlanContext) -> TouchDecision`` (in the
        worker the model-backed one, services/model_ops/model_cache.py); the rule prior by default."""
        self._engine = engine
        self._settings = settings
        self._policy = policy or RulePolicy()

    @activity.defn
    def plan_touch(self, req: PlanRequest) -> TouchPlan:
        return self.plan(req)

    def plan(self, req: PlanRequest) -> TouchPlan:
        """Plan `req`, log the decision and commit - with the cart's abandonment when the request
        carries it (a journey's first plan). send_touch calls this for the touch after the one it sent."""
        with Session(self._engine, expire_on_commit=False) as session:  # the reply reads `row` after commit
            cart = session.get(Cart, req.cart_key)
            if cart is None:
                raise LookupError(f"cart {req.cart_key} is not in the database")
            if req.abandonment is not None:
                mark_abandoned(cart, from_ts(req.abandonment.at), req.abandonment.holdout)
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
            features = snapshot(ctx)
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
                features=features,
                feature_row=feature_row(features),
                action=None if decision.action is None else int(decision.action),
                allowed_actions=[int(a) for a in decision.allowed_actions],
                model_versions={kind: int(v) for kind, v in decision.model_versions.items()},
                rule_action=None if decision.rule_action is None else int(decision.rule_action),
            )
            session.add(row)
            cart.journey_state = "stopped" if decision.stop else f"touch {req.touch} planned"
            if cart.reason is None:  # the report's reason and bucket: the first decision's for now
                cart.reason, cart.bucket = decision.reason, decision.bucket
            session.add(cart)
            session.commit()
            return TouchPlan(
                decision_id=saved_id(row),
                stop=decision.stop,
                stop_reason=decision.stop_reason,
                channel=decision.channel,
                send_at=decision.send_at.timestamp() if decision.send_at else req.now,
                reason=decision.reason,
                bucket=decision.bucket,
                incentive=decision.incentive,
            )
