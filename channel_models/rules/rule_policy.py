"""The documented rule-based cold-start planner (policy "rules-v1").

It decides one touch of a recovery journey from a PlanContext and runs until trained models earn
trust. It is deterministic (the same context always gives the same decision, action propensity
1.0), so its logged decisions can later be compared with learned policies.

* Reason - inferred from behaviour signals (channel_models.rules.reasons).
* Propensity - cold-start self-recovery score and its bucket (channel_models.rules.propensity).
* Stop - when the touch number exceeds max_touches, when the send time cannot land before the
  attribution deadline (channel_models.rules.timing), or when no channel is allowed
  (channel_models.compliance.eligibility); the stop reason lists every masked channel and why.
* Channel - chosen only among allowed channels, by a preference order:
  touch 1: email (cheap, and it can show the items), then push, then SMS, then retargeting.
  Later touches: SMS first for a high-value cart (value >= 100, or >= 2x the customer's average
  order): it is read within minutes and worth its cost there; on the last planned touch,
  retargeting next (a quiet reminder instead of another direct message); push for returning
  customers who opted in (a free, light nudge to someone who knows the shop); then email, push,
  SMS, retargeting. SMS is reserved: it is considered only for a high-value cart or when e-mail
  is not allowed, and the masks allow it once per cart within 48 h. Retargeting otherwise serves as
  the fallback when nothing direct is allowed. The same channel is not used twice in a row when
  another allowed channel exists, except email, which may repeat (it carries the cart contents).
* Incentive - only where it is likely to change the outcome: never on touch 1 (a reminder often
  suffices and early discounts teach shoppers to abandon), never for High / Very high buckets
  (they would buy anyway). shipping_cost -> "free_shipping", price -> "discount", each only when
  the shop has that incentive configured. Otherwise, on the last planned touch of a Very low / Low
  cart, a "discount" if available, as a final rescue. Else no incentive.
* Action - for the bandit's log, the choice as the allowed action (channel_models.compliance.action_mask) of
  the same channel and incentive whose delay is nearest the send time; None when the mask allows
  that channel at no delay bucket (the decision then stays out of the off-policy log).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from channel_models.compliance.action_mask import NO_INCENTIVE_BUCKETS, action_mask
from channel_models.compliance.eligibility import channel_masks
from channel_models.compliance.send_window import send_times
from channel_models.context import PlanContext, TouchDecision
from channel_models.rules.propensity import DEFAULT_EDGES, bucket_for, self_recovery_propensity
from channel_models.rules.reasons import infer_reason
from channel_models.rules.timing import plan_send_time

POLICY_NAME = "rules-v1"
REASON_INCENTIVE = {"shipping_cost": "free_shipping", "price": "discount"}
RESCUE_BUCKETS = ("Very low", "Low")


class RulePolicy:
    """Rule-based planner. Parameters are only stored here, like a scikit-learn estimator."""

    def __init__(self, high_value: float = 100.0, bucket_edges: Sequence[float] = DEFAULT_EDGES):
        self.high_value = high_value
        self.bucket_edges = bucket_edges

    def is_high_value(self, ctx: PlanContext) -> bool:
        average_order = ctx.total_spent / ctx.orders if ctx.orders > 0 else 0.0
        return ctx.cart_value >= self.high_value or (average_order > 0 and ctx.cart_value >= 2 * average_order)

    def channel_order(self, ctx: PlanContext, allowed: dict[str, bool]) -> list[str]:
        """Allowed channels, best first."""
        high_value = self.is_high_value(ctx)
        if ctx.touch <= 1:
            order = ["email", "push", "sms", "retargeting"]
        else:
            order = ["sms"] if high_value else []
            if ctx.touch >= ctx.max_touches:
                order.append("retargeting")
            if ctx.orders > 0:
                order.append("push")
            order += ["email", "push", "sms", "retargeting"]
        # SMS is only ever ahead of e-mail for a high-value cart, so it is reached for other carts
        # only when e-mail is not allowed (a property test holds this if the order changes).
        return [channel for channel in dict.fromkeys(order) if allowed[channel]]

    def choose_channel(self, ctx: PlanContext, allowed: dict[str, bool]) -> tuple[str, str]:
        ranked = self.channel_order(ctx, allowed)
        previous = ctx.previous_channels[-1] if ctx.previous_channels else None
        choice = ranked[0]
        if choice == previous and choice != "email" and len(ranked) > 1:
            return ranked[1], f"channel {ranked[1]}: avoids {choice} twice in a row"
        if ctx.touch <= 1 and choice == "email":
            why = "first touch prefers e-mail (cheap, shows the items)"
        elif choice == "sms":
            # On touch 1 SMS is only reached as a fallback, whatever the cart value.
            high_value = ctx.touch > 1 and self.is_high_value(ctx)
            why = "high-value cart" if high_value else "e-mail not allowed"
            why += "; SMS once per cart within 48 h"
        elif choice == "retargeting":
            last = ctx.touch >= 2 and ctx.touch >= ctx.max_touches
            why = "last planned touch, a quiet reminder" if last else "no direct channel allowed"
        elif choice == "push":
            returning = ctx.touch > 1 and ctx.orders > 0
            why = "returning customer with push opt-in" if returning else "e-mail not allowed"
        else:
            why = "e-mail may repeat, it carries the cart contents"
        return choice, f"channel {choice}: {why}"

    def choose_incentive(self, ctx: PlanContext, reason: str, bucket: str) -> tuple[str | None, str]:
        if ctx.touch <= 1:
            return None, "no incentive: first touch, a reminder often suffices"
        if bucket in NO_INCENTIVE_BUCKETS:
            return None, f"no incentive: propensity {bucket}, likely to buy anyway"
        if ctx.incentives_capped:
            return None, f"no incentive: {ctx.incentives_capped}"
        matching = REASON_INCENTIVE.get(reason)
        if matching in ctx.incentives_available:
            return matching, f"incentive {matching}: addresses the {reason} reason"
        last = ctx.touch >= ctx.max_touches
        if last and bucket in RESCUE_BUCKETS and "discount" in ctx.incentives_available:
            return "discount", f"incentive discount: last touch, propensity {bucket}"
        if matching:
            return None, f"no incentive: {matching} not configured"
        return None, "no incentive: not likely to change the outcome"

    def assess(self, ctx: PlanContext) -> tuple[str, float, float, str]:
        """``(reason, confidence, propensity, bucket)`` from the rule priors; a planner with
        trained reason / propensity models overrides this and keeps the rest of the rules."""
        reason, confidence = infer_reason(ctx.signal_counts, ctx.stage)
        propensity = self_recovery_propensity(ctx)
        return reason, confidence, propensity, bucket_for(propensity, self.bucket_edges)

    def plan(self, ctx: PlanContext) -> TouchDecision:
        if ctx.touch < 1 or ctx.max_touches < 0:
            raise ValueError(f"touch must be >= 1 and max_touches >= 0, got {ctx.touch} and {ctx.max_touches}")
        for name in ("now", "abandoned_at", "deadline"):
            if getattr(ctx, name).tzinfo is None:
                raise ValueError(f"PlanContext.{name} must be timezone-aware")

        reason, confidence, propensity, bucket = self.assess(ctx)
        send_at, time_why = plan_send_time(ctx, reason)
        # Masks at the send time: the 48 h SMS window applies to when the message leaves.
        allowed, blocked = channel_masks(ctx, send_at)
        explanation = [
            f"reason {reason} (confidence {confidence:.2f})",
            f"propensity {propensity:.2f} ({bucket})",
        ]
        common: dict[str, Any] = dict(
            reason=reason,
            reason_confidence=confidence,
            propensity=propensity,
            bucket=bucket,
            allowed=allowed,
            blocked=blocked,
            action_propensity=1.0,
            policy=POLICY_NAME,
        )

        stop_reason = None
        if ctx.touch > ctx.max_touches:
            stop_reason = f"touch {ctx.touch} exceeds max_touches {ctx.max_touches}"
        elif send_at is None:
            stop_reason = time_why
        elif not any(allowed.values()):
            masked = "; ".join(f"{channel} {why}" for channel, why in blocked.items())
            stop_reason = f"no permitted channel: {masked}"
        if stop_reason is not None or send_at is None:  # send_at is None only with a stop_reason
            return TouchDecision(
                stop=True,
                stop_reason=stop_reason,
                channel=None,
                send_at=None,
                incentive=None,
                explanation=tuple(explanation + [f"stop: {stop_reason}"]),
                **common,
            )

        # Quiet hours and caps move a channel's send time; past the deadline they mask it.
        held = send_times(ctx, send_at, allowed, blocked)
        if not held:
            masked = "; ".join(f"{channel} {why}" for channel, why in blocked.items())
            stop_reason = f"no permitted channel: {masked}"
            return TouchDecision(
                stop=True,
                stop_reason=stop_reason,
                channel=None,
                send_at=None,
                incentive=None,
                explanation=tuple(explanation + [f"stop: {stop_reason}"]),
                **common,
            )
        channel, channel_why = self.choose_channel(ctx, allowed)
        incentive, incentive_why = self.choose_incentive(ctx, reason, bucket)
        send_at, hold_why = held[channel]
        explanation += [channel_why, f"time: {time_why}", *hold_why, incentive_why]
        action, allowed_actions = self.bandit_view(ctx, bucket, channel, incentive, send_at)
        return TouchDecision(
            stop=False,
            stop_reason=None,
            channel=channel,
            send_at=send_at,
            incentive=incentive,
            explanation=tuple(explanation),
            action=action,
            allowed_actions=allowed_actions,
            **common,
        )

    def bandit_view(
        self, ctx: PlanContext, bucket: str, channel: str, incentive: str | None, send_at: datetime
    ) -> tuple[int | None, tuple[int, ...]]:
        """The choice as an action of channel_models.actions, and every allowed action, so the log
        can evaluate other policies off-policy."""
        mask = action_mask(ctx, bucket)
        return mask.snap(channel, incentive, send_at), mask.allowed
