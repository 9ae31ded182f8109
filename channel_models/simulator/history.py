"""What the service would hold about a synthetic customer: past orders, carts and messages, and
which channels can reach them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from channel_models.context import Reachability
from channel_models.simulator.shop import Customer
from channel_models.vocabulary import CONTACTS_FOR

SENT_HISTORY = timedelta(days=2)  # longer than any cap, like plan_context.HISTORY


@dataclass
class SentMessage:
    channel: str
    at: datetime
    incentive: str | None
    clicked_at: datetime | None
    recovered: bool = False  # the recovery was attributed to it


@dataclass
class CustomerHistory:
    """What the service would hold about one customer: orders, carts, messages."""

    orders: list[tuple[datetime, float]]
    carts: list[tuple[datetime, list[SentMessage]]] = field(default_factory=list)  # (created_at, sends)

    def context_fields(self, now: datetime, window_days: float) -> dict:
        if not self.orders and not self.carts:
            return {}  # a first-time customer: PlanContext's defaults say it all
        since = now - timedelta(days=window_days)
        orders = [(at, v) for at, v in self.orders if at <= now]
        recent = [(created, sends) for created, sends in self.carts if since <= created <= now]
        events = sorted([c for c, _ in recent] + [at for at, _ in orders if at >= since])
        engagement: dict[str, list[int]] = {}
        for _, sends in recent:
            for s in sends:
                if s.at > now:
                    continue
                row = engagement.setdefault(s.channel, [0, 0, 0])
                row[0] += 1
                row[1] += s.clicked_at is not None and s.clicked_at <= now
                row[2] += s.recovered
        return dict(
            orders=len(orders),
            total_spent=round(sum(v for _, v in orders), 2),
            previous_abandonments=sum(1 for created, _ in self.carts if created <= now),
            customer_events=tuple(events),
            engagement={c: tuple(v) for c, v in engagement.items()},
            sent_history=tuple(
                (s.channel, s.at) for _, sends in self.carts for s in sends if now - SENT_HISTORY <= s.at <= now
            ),
        )


def reachability(customer: Customer) -> dict[str, Reachability]:
    held = {
        "email": customer.email,
        "phone": customer.phone,
        "push_token": customer.push_token,
        "audience_id": customer.audience_id,
    }
    if not any(held.values()) and not customer.customer_id:
        return {}  # anonymous: the service has no customer to look contacts up for
    return {
        channel: Reachability(captured=any(held[k] for k in kinds), consent=customer.consents.get(channel))
        for channel, kinds in CONTACTS_FOR.items()
    }
