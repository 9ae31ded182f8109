"""What the planner sees and what it decides. Plain dataclasses: no personal data, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Reachability:
    """What we hold for one channel of one customer (booleans only, never the contact itself)."""

    captured: bool = False  # address / valid E.164 phone / push token / audience id present
    consent: str | None = None  # "granted", "revoked" or None (never asked / unknown)


@dataclass(frozen=True)
class PlanContext:
    touch: int  # 1-based number of the touch being planned
    max_touches: int
    now: datetime  # timezone-aware, on the service clock (CR_TIME_SCALE applied)
    abandoned_at: datetime
    deadline: datetime  # end of the attribution window: nothing is sent after it
    cart_value: float
    item_count: int
    stage: str  # cart / checkout / shipping / payment
    orders: int = 0  # customer's previous orders
    total_spent: float = 0.0
    previous_abandonments: int = 0
    signal_counts: Mapping[str, int] = field(default_factory=dict)
    configured: tuple[str, ...] = ()  # channels with a delivery URL
    reachability: Mapping[str, Reachability] = field(default_factory=dict)
    email_requires_consent: bool = False
    previous_channels: tuple[str, ...] = ()  # channels of this cart's earlier touches, in order
    excluded: tuple[str, ...] = ()  # channels that failed permanently for this cart
    incentives_available: tuple[str, ...] = ()  # incentives whose code is configured
    device: str | None = None
    # where the recipient is, for quiet hours and regional rule packs (no address, only zones/codes)
    timezone: str | None = None  # IANA zone: customer record, else phone number's region, else shop's
    country: str | None = None  # ISO 3166-1 alpha-2
    province: str | None = None  # ISO 3166-2 subdivision code without country, e.g. "FL"
    # (channel, sent_at) of every message sent to this customer recently, across all carts
    sent_history: tuple[tuple[str, datetime], ...] = ()
    journey_history: tuple[tuple[str, datetime], ...] = ()  # this cart's own sends
    fallback_timezone: str = "UTC"  # the shop's zone
    cap_hours: Mapping[str, float] = field(default_factory=dict)  # e.g. {"email_hours": 16}
    source: str | None = None  # traffic source / referrer as the platform sent it
    # this customer's earlier carts and orders (creation / placement times) within the feature
    # window, oldest first: recency, frequency and time between events come from these
    customer_events: tuple[datetime, ...] = ()
    feature_window_days: float = 90.0
    # channel -> (sent, clicked, recovered) for this customer's earlier carts, within the window
    engagement: Mapping[str, tuple[int, int, int]] = field(default_factory=dict)
    # incentives sent to this shopper (any cart, any customer record sharing an address) within
    # the cap's days, and the cap (0: none): a shopper who abandons to fish for codes gets one
    incentives_received: int = 0
    incentive_cap: int = 0
    incentive_cap_days: float = 30.0

    @property
    def incentives_capped(self) -> str | None:
        """Why no incentive may go to this shopper now, or None when the cap allows one."""
        if self.incentive_cap <= 0 or self.incentives_received < self.incentive_cap:
            return None
        return (
            f"{self.incentives_received} incentive(s) sent to this shopper in the last "
            f"{self.incentive_cap_days:g} days (cap {self.incentive_cap})"
        )


@dataclass(frozen=True)
class TouchDecision:
    stop: bool
    stop_reason: str | None
    channel: str | None
    send_at: datetime | None  # on the service clock
    reason: str
    reason_confidence: float
    propensity: float  # probability the cart comes back without help
    bucket: str
    incentive: str | None
    allowed: Mapping[str, bool]
    blocked: Mapping[str, str]  # channel -> why it was masked
    explanation: tuple[str, ...] = ()
    action_propensity: float = 1.0  # probability the policy had of choosing this action
    policy: str = "rules-v1"
    # the bandit's view of the choice (channel_models.actions): index of the chosen action and of
    # every action the masks allowed, so any other policy can be evaluated off-policy on this log
    action: int | None = None
    allowed_actions: tuple[int, ...] = ()
    model_versions: Mapping[str, int] = field(default_factory=dict)  # kind -> model version id
    # with a learned policy deciding: the action the rule prior would have taken here (None when it
    # would stop or names no allowed action), so training can judge the policy against the rules
    rule_action: int | None = None
