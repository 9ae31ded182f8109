"""Context builders shared by the planner tests (a plainly named module, not conftest, so test
modules can import it without clashing with other folders' conftest files)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from channel_models.context import PlanContext, Reachability
from channel_models.rules.rule_policy import RulePolicy
from channel_models.vocabulary import CHANNELS

ABANDONED = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


def reachable_everywhere() -> dict[str, Reachability]:
    return {channel: Reachability(captured=True, consent="granted") for channel in CHANNELS}


def make_ctx(**overrides) -> PlanContext:
    """A context where every channel is allowed, touch 1 of 3, 10 min after abandonment."""
    fields = dict(
        touch=1,
        max_touches=3,
        now=ABANDONED + timedelta(minutes=10),
        abandoned_at=ABANDONED,
        deadline=ABANDONED + timedelta(days=7),
        cart_value=60.0,
        item_count=2,
        stage="checkout",
        configured=CHANNELS,
        reachability=reachable_everywhere(),
    )
    fields.update(overrides)
    return PlanContext(**fields)


# --- the rule policy under test and contexts the rule-policy tests share ---
POLICY = RulePolicy()
HOURS = timedelta(hours=1)


def only(*channels, **overrides):
    """Context where just ``channels`` are configured."""
    return make_ctx(configured=channels, **overrides)


def second_touch(**overrides):
    return make_ctx(**{"touch": 2, "now": ABANDONED + 2 * HOURS, **overrides})
