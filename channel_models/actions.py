"""The bandit's action space: channel x delay bucket x incentive (4 x 5 x 3 = 60 actions).

The delay is counted from the moment the touch is planned: abandonment for touch 1, the previous
touch's send for later touches. Every action has a stable index (its position in ACTIONS), which
is what decision rows log, so an index must never be reused for a different action: extend the
tuples only at the end of a new action-space version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from channel_models.vocabulary import CHANNELS, INCENTIVES

DELAY_HOURS = (0.25, 1.0, 4.0, 24.0, 48.0)
DELAY_LABELS = ("15m", "1h", "4h", "24h", "48h")
INCENTIVE_OPTIONS: tuple[str | None, ...] = (None, *INCENTIVES)  # None, free_shipping, discount


@dataclass(frozen=True)
class Action:
    channel: str
    delay_hours: float
    incentive: str | None

    @property
    def delay(self) -> timedelta:
        return timedelta(hours=self.delay_hours)

    @property
    def index(self) -> int:
        return action_index(self.channel, self.delay_hours, self.incentive)

    @property
    def label(self) -> str:
        """e.g. "sms/15m/discount" or "email/4h/none"."""
        delay = DELAY_LABELS[DELAY_HOURS.index(self.delay_hours)]
        return f"{self.channel}/{delay}/{self.incentive or 'none'}"


def action_index(channel: str, delay_hours: float, incentive: str | None) -> int:
    try:
        c, d, i = CHANNELS.index(channel), DELAY_HOURS.index(delay_hours), INCENTIVE_OPTIONS.index(incentive)
    except ValueError:
        raise ValueError(f"not an action: {channel!r}, {delay_hours!r} h, {incentive!r}") from None
    return (c * len(DELAY_HOURS) + d) * len(INCENTIVE_OPTIONS) + i


ACTIONS: tuple[Action, ...] = tuple(
    Action(channel, delay, incentive)
    for channel in CHANNELS
    for delay in DELAY_HOURS
    for incentive in INCENTIVE_OPTIONS
)


def nearest_delay(hours: float) -> float:
    """The delay bucket closest to ``hours`` on a log scale (a rule's 30 min is "1h", 23 h is "24h")."""
    hours = max(hours, 1e-3)
    return min(DELAY_HOURS, key=lambda bucket: abs(math.log(bucket) - math.log(hours)))
