"""The oracle: a policy that reads the synthetic shop's hidden truth, to show the ceiling.

For touch k it scores every action the hard masks allow (channel masks at the planned time,
quiet hours and caps through compliance.send_times, nothing after the deadline) by the true
chance that the shopper answers it in time, times the revenue it keeps after the incentive's
cost, and takes the best. An incentive has to earn ``incentive_margin`` more than the best
action without one, so margin is not given away for the "hardly at all" reasons. Greedy per
touch: it does not hold a channel back for a later touch.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from channel_models.actions import DELAY_HOURS, action_index
from channel_models.compliance.eligibility import channel_masks
from channel_models.compliance.send_window import send_times
from channel_models.context import PlanContext, TouchDecision
from channel_models.rules.propensity import bucket_for

if TYPE_CHECKING:
    from channel_models.simulator import SyntheticShop

POLICY_NAME = "oracle"


class OraclePolicy:
    def __init__(self, shop: SyntheticShop, incentive_margin: float = 1.2):
        self.shop = shop
        self.incentive_margin = incentive_margin

    def _options(self, ctx: PlanContext, shopper) -> tuple[list, dict, dict]:
        """(score, action, channel, send_at, incentive) per allowed action; masks of the first delay."""
        options, first_masks = [], None
        for delay in DELAY_HOURS:
            planned = ctx.now + timedelta(hours=delay)
            if planned > ctx.deadline:
                break
            allowed, blocked = channel_masks(ctx, planned)
            held = send_times(ctx, planned, allowed, blocked)
            first_masks = first_masks or (allowed, blocked)
            for channel, (at, _) in held.items():
                since = (at - ctx.abandoned_at).total_seconds() / 3600
                in_time = self.shop.truth.lag_within(channel, (ctx.deadline - at).total_seconds() / 3600)
                for incentive in (None, *ctx.incentives_available):
                    p = (
                        self.shop.response_probability(
                            shopper, channel, incentive, since, ctx.touch, ctx.previous_channels, shopper.reason
                        )
                        * in_time
                    )
                    kept = max(0.0, shopper.value - self.shop.incentive_cost(shopper, incentive))
                    options.append((p * kept, action_index(channel, delay, incentive), channel, at, incentive))
        return options, *(first_masks or channel_masks(ctx))

    def plan(self, ctx: PlanContext) -> TouchDecision:
        shopper = self.shop.shopper_for(ctx)
        p_organic = shopper.organic_probability
        common: dict[str, Any] = dict(
            reason=shopper.reason,
            reason_confidence=1.0,
            propensity=p_organic,
            bucket=bucket_for(p_organic),
            action_propensity=1.0,
            policy=POLICY_NAME,
        )
        options, allowed, blocked = (
            self._options(ctx, shopper) if ctx.touch <= ctx.max_touches else ([], *channel_masks(ctx))
        )
        if not options:
            why = "no permitted action" if ctx.touch <= ctx.max_touches else "touch exceeds max_touches"
            return TouchDecision(
                stop=True,
                stop_reason=why,
                channel=None,
                send_at=None,
                incentive=None,
                allowed=allowed,
                blocked=blocked,
                explanation=(f"stop: {why}",),
                **common,
            )
        plain = max((o for o in options if o[4] is None), key=lambda o: o[0], default=None)
        boosted = max((o for o in options if o[4] is not None), key=lambda o: o[0], default=None)
        best = plain
        if boosted is not None and (plain is None or boosted[0] > self.incentive_margin * plain[0]):
            best = boosted
        score, action, channel, send_at, incentive = best
        return TouchDecision(
            stop=False,
            stop_reason=None,
            channel=channel,
            send_at=send_at,
            incentive=incentive,
            allowed=allowed,
            blocked=blocked,
            action=action,
            allowed_actions=tuple(sorted(o[1] for o in options)),
            explanation=(f"true reason {shopper.reason}; expected recovered value {score:.2f}",),
            **common,
        )
