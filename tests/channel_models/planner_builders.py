"""Context builders shared by the planner tests (a plainly named module, not conftest, so test
modules can import it without clashing with other folders' conftest files)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from channel_models.context import CHANNELS, PlanContext, Reachability

ABANDONED = datetime(2025, 3, 3, 12, 0, tzinfo=timezone.utc)


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
