"""The in-process journey runner: the workflow's loop (workflows/cart_recovery.py) against the shop.

Per abandoned cart: holdout carts (the workflow's deterministic hash) get nothing; the others plan
touch k at ``now`` (abandonment, then the previous send), send at ``send_at`` unless the shopper
ordered first, stop on a stop decision or after ``max_touches``. The earliest order within the
attribution window recovers the cart, attributed to the last touch sent before it. Contexts are
built the way services/model_ops/plan_context.py builds them from the database.

Randomness: the shoppers come from the shop's seed; organic returns and message responses from
``seed`` and the cart's place in the stream, so two policies run on the same shop and seed face
the same shoppers and the same organic returns (a paired comparison).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from channel_models.context import PlanContext, Reachability, TouchDecision
from channel_models.holdout import in_holdout
from channel_models.policy import Policy
from channel_models.simulator.history import SENT_HISTORY, CustomerHistory, SentMessage, reachability
from channel_models.simulator.result import CartOutcome, SimulationResult
from channel_models.simulator.shop import Customer, Shopper

if TYPE_CHECKING:
    from channel_models.simulator import SyntheticShop

CAP_HOURS = {"email_hours": 16.0, "sms_hours": 24.0, "push_hours": 24.0}  # Settings defaults


@dataclass
class JourneySettings:
    max_touches: int
    window: timedelta
    holdout_percent: float
    configured: tuple[str, ...]
    incentives_available: tuple[str, ...]
    feature_window_days: float
    email_requires_consent: bool
    fallback_timezone: str
    seed: int


class JourneyRunner:
    def __init__(self, shop: SyntheticShop, planner: Policy, settings: JourneySettings):
        self.shop, self.planner, self.s = shop, planner, settings
        self.histories: dict[int, CustomerHistory] = {}
        self.reach: dict[int, dict[str, Reachability]] = {}  # contacts never change in the shop
        self.result = SimulationResult()
        self._decision_id = 0

    def history(self, customer: Customer) -> CustomerHistory:
        if customer.index not in self.histories:
            self.histories[customer.index] = CustomerHistory(orders=list(customer.prior_orders))
        return self.histories[customer.index]

    def context(
        self, shopper: Shopper, history: CustomerHistory, touch: int, now: datetime, sends: list[SentMessage]
    ) -> PlanContext:
        s, c = self.s, shopper.customer
        known = history.context_fields(now, s.feature_window_days) if c.known else {}
        cart_sends = tuple((x.channel, x.at) for x in sends)
        recent = tuple(x for x in cart_sends if x[1] >= now - SENT_HISTORY)
        return PlanContext(
            touch=touch,
            max_touches=s.max_touches,
            now=now,
            abandoned_at=shopper.abandoned_at,
            deadline=shopper.abandoned_at + s.window,
            cart_value=shopper.value,
            item_count=shopper.item_count,
            stage=shopper.stage,
            signal_counts=shopper.signal_counts,
            configured=s.configured,
            reachability=self.reachability(c),
            email_requires_consent=s.email_requires_consent,
            previous_channels=tuple(x.channel for x in sends),
            incentives_available=s.incentives_available,
            device=shopper.device,
            timezone=c.timezone,
            country=c.country,
            province=c.province,
            journey_history=cart_sends,
            fallback_timezone=s.fallback_timezone,
            cap_hours=CAP_HOURS,
            source=shopper.source,
            feature_window_days=s.feature_window_days,
            **{**known, "sent_history": known.get("sent_history", ()) + recent},
        )

    def reachability(self, customer: Customer) -> dict[str, Reachability]:
        if customer.index not in self.reach:
            self.reach[customer.index] = reachability(customer)
        return self.reach[customer.index]

    def plan(self, ctx: PlanContext, shopper: Shopper) -> TouchDecision:
        self.shop.remember(ctx, shopper)
        try:
            return self.planner.plan(ctx)
        finally:
            self.shop.forget(ctx)

    def run(self, shoppers) -> SimulationResult:
        for shopper in shoppers:
            self.journey(shopper)
        return self.result

    def journey(self, shopper: Shopper) -> None:
        s = self.s
        # organic draws come first, so they are the same whatever the planner does
        rng = random.Random(s.seed * 1_000_003 + shopper.number)
        history = self.history(shopper.customer)
        holdout = in_holdout(shopper.cart_id, s.holdout_percent)
        organic = self.shop.organic_order_hours(shopper, rng)
        organic_at = shopper.abandoned_at + timedelta(hours=organic) if organic is not None else None
        order_at, sends, rows, first_ctx = organic_at, [], [], None
        deadline = shopper.abandoned_at + s.window
        touch, now = 1, shopper.abandoned_at
        while not holdout and touch <= s.max_touches:
            ctx = self.context(shopper, history, touch, now, sends)
            first_ctx = ctx if first_ctx is None else first_ctx
            decision = self.plan(ctx, shopper)
            if decision.stop:
                break
            self.result.policies[decision.policy] += 1
            row = self.decision_row(shopper, ctx, decision)
            rows.append(row)
            send_at = max(now, decision.send_at)
            if send_at > deadline or (order_at is not None and order_at <= send_at):
                break  # they bought first, or nothing may go out after the window closes
            row["sent"] = True
            order_at = self.send(shopper, touch, send_at, decision, sends, order_at, rng)
            touch, now = touch + 1, send_at
        if first_ctx is None:
            first_ctx = self.context(shopper, history, 1, shopper.abandoned_at, sends)
        self.finish(shopper, history, holdout, first_ctx, sends, rows, order_at, organic_at)

    def decision_row(self, shopper: Shopper, ctx: PlanContext, decision: TouchDecision) -> dict:
        if decision.action is None:
            return {}  # nothing the bandit can learn from; the summary still counts the journey
        self._decision_id += 1
        row = {
            "decision_id": self._decision_id,
            "cart_id": shopper.cart_id,
            "decided_at": ctx.now,
            "touch": ctx.touch,
            "policy": decision.policy,
            "ctx": ctx,
            "action": int(decision.action),
            "propensity": float(decision.action_propensity),
            "allowed_actions": [int(a) for a in decision.allowed_actions],
            "sent": False,
            "rule_action": -1 if decision.rule_action is None else int(decision.rule_action),
            "value": shopper.value,
            "reward": 0.0,
        }
        self.result.decision_rows.append(row)
        return row

    def send(
        self,
        shopper: Shopper,
        touch: int,
        at: datetime,
        decision: TouchDecision,
        sends: list[SentMessage],
        order_at: datetime | None,
        rng: random.Random,
    ) -> datetime | None:
        hours = (at - shopper.abandoned_at).total_seconds() / 3600
        previous = tuple(x.channel for x in sends)
        channel, incentive = decision.channel, decision.incentive
        content = decision.reason  # the template the service would pick is the decision's reason's
        p = self.shop.response_probability(shopper, channel, incentive, hours, touch, previous, content)
        lag = self.shop.order_after_message(shopper, channel, incentive, hours, touch, rng, previous, content)
        click = self.shop.truth.click_hours(p, lag, channel, rng)
        sends.append(SentMessage(channel, at, incentive, at + timedelta(hours=click) if click is not None else None))
        self.result.messages[channel] += 1
        if incentive:
            self.result.incentives[incentive] += 1
        ordered = at + timedelta(hours=lag) if lag is not None else None
        if ordered is not None and (order_at is None or ordered < order_at):
            return ordered
        return order_at

    def finish(
        self,
        shopper: Shopper,
        history: CustomerHistory,
        holdout: bool,
        first_ctx: PlanContext,
        sends: list[SentMessage],
        rows: list[dict],
        order_at: datetime | None,
        organic_at: datetime | None,
    ) -> None:
        recovered = order_at is not None and order_at <= shopper.abandoned_at + self.s.window
        before = [x for x in sends if order_at is not None and x.at <= order_at]
        cost = max((self.shop.incentive_cost(shopper, x.incentive) for x in before), default=0.0)
        if recovered and before:
            before[-1].recovered = True
        for row in rows:  # every decision came before the order, so all share the outcome
            row["reward"] = float(recovered)
        self.record(shopper, holdout, first_ctx, sends, recovered)
        self.result.outcomes.append(
            CartOutcome(
                cart_id=shopper.cart_id,
                holdout=holdout,
                recovered=recovered,
                order_at=order_at,
                organic_at=organic_at,
                touches_sent=len(sends),
                attributed_channel=before[-1].channel if recovered and before else None,
                revenue=round(shopper.value - cost, 2) if recovered else 0.0,
                incentive_cost=cost if recovered else 0.0,
            )
        )
        history.carts.append((shopper.created_at, sends))
        if order_at is not None:
            history.orders.append((order_at, round(shopper.value - cost, 2)))

    def record(
        self, shopper: Shopper, holdout: bool, ctx: PlanContext, sends: list[SentMessage], recovered: bool
    ) -> None:
        self.result.cart_rows.append(
            {
                "cart_id": shopper.cart_id,
                "abandoned_at": shopper.abandoned_at,
                "ctx": ctx,
                "holdout": holdout,
                "touches_sent": len(sends),
                "recovered": recovered,
                "value": shopper.value,
            }
        )
        if shopper.answers_survey:
            self.result.label_rows.append(
                {
                    "cart_id": shopper.cart_id,
                    "labelled_at": shopper.abandoned_at + timedelta(hours=shopper.survey_delay_hours),
                    "ctx": ctx,
                    "label": shopper.reason,
                    "label_source": "survey",
                }
            )
