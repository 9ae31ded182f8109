"""What an in-process simulation produced: the contract's frames and a recovery summary.

Frames follow docs/MODELS.md ("Frames"), the same schema the database loader builds, so
training code cannot tell simulated data from recorded data.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

import pandas as pd

from channel_models.context import PlanContext
from channel_models.learning.features import snapshot
from channel_models.vocabulary import CHANNELS

Z95 = 1.959964
_PROBE = datetime(2025, 1, 1, tzinfo=UTC)
# every key snapshot() writes, in its order: the feature columns of all three frames
_SAMPLE = snapshot(
    PlanContext(
        touch=1,
        max_touches=1,
        now=_PROBE,
        abandoned_at=_PROBE,
        deadline=_PROBE,
        cart_value=0.0,
        item_count=0,
        stage="cart",
    )
)
FEATURE_COLUMNS: tuple[str, ...] = tuple(_SAMPLE)
# counts as int32, like the database loader (services/store/frames/columns.py)
COUNT_COLUMNS = tuple(k for k, v in _SAMPLE.items() if isinstance(v, int) and not isinstance(v, bool))
DECISION_META = {
    "decision_id": "int64",
    "cart_id": "object",
    "decided_at": "datetime64[ns, UTC]",
    "touch": "int64",
    "policy": "object",
}
DECISION_TAIL = {
    "action": "int64",
    "propensity": "float64",
    "allowed_actions": "object",
    "sent": "bool",
    "rule_action": "int64",
    "value": "float64",
    "reward": "float64",
}
CART_META = {"cart_id": "object", "abandoned_at": "datetime64[ns, UTC]"}
CART_TAIL = {"holdout": "bool", "touches_sent": "int64", "recovered": "bool", "value": "float64"}
LABEL_META = {"cart_id": "object", "labelled_at": "datetime64[ns, UTC]"}
# "source" is both a feature (traffic source) and the label's origin in the contract; the origin
# wins, as in services/store/frames/training_data.py (channel_models.learning.frames.label_features knows)
LABEL_TAIL = {"label": "object", "label_source": "object"}


@dataclass(frozen=True)
class CartOutcome:
    cart_id: str
    holdout: bool
    recovered: bool  # ordered within the attribution window
    order_at: datetime | None  # the first order, even one after the window
    organic_at: datetime | None  # when the shopper would have ordered unasked, if at all
    touches_sent: int
    attributed_channel: str | None
    revenue: float  # recovered value net of the incentive it used, 0 when not recovered
    incentive_cost: float


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Summary:
    policies: tuple[str, ...]
    carts: int
    treated: int
    holdout: int
    treated_rate: float
    holdout_rate: float
    incremental: Interval  # treated - holdout, Wald 95 % for a difference of proportions
    recovered_revenue: float  # treated carts, net of incentives
    incentive_cost: float
    incremental_revenue_per_cart: float  # revenue per treated cart - per holdout cart
    messages: dict[str, int]
    incentives: dict[str, int]

    def __str__(self) -> str:
        inc = self.incremental
        return (
            f"{'/'.join(self.policies) or '-'}: treated {self.treated_rate:.2%} of {self.treated}, "
            f"holdout {self.holdout_rate:.2%} of {self.holdout}, incremental {inc.value:+.2%} "
            f"[{inc.low:+.2%}, {inc.high:+.2%}]; revenue {self.recovered_revenue:,.0f} "
            f"(incentives {self.incentive_cost:,.0f}); messages {self.messages}"
        )


def difference_interval(hits1: int, n1: int, hits0: int, n0: int) -> Interval:
    if n1 == 0 or n0 == 0:
        return Interval(math.nan, math.nan, math.nan)
    p1, p0 = hits1 / n1, hits0 / n0
    half = Z95 * math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    return Interval(p1 - p0, p1 - p0 - half, p1 - p0 + half)


def _frame(rows: list[dict], meta: dict[str, str], tail: dict[str, str], features) -> pd.DataFrame:
    # "touch" is both a decision column and a feature: one column
    columns = list(dict.fromkeys([*meta, *FEATURE_COLUMNS, *tail]))
    records = [{**features(row["ctx"]), **row} for row in rows]
    frame = pd.DataFrame.from_records(records, columns=columns)
    dtypes = {name: "int32" for name in COUNT_COLUMNS} | meta | tail
    return frame.astype({name: dtype for name, dtype in dtypes.items() if name in frame})


@dataclass
class SimulationResult:
    # rows keep their PlanContext under "ctx"; the feature snapshot is taken when a frame is
    # first asked for, so a run that only wants the summary does not pay for it
    decision_rows: list[dict] = field(default_factory=list)
    cart_rows: list[dict] = field(default_factory=list)
    label_rows: list[dict] = field(default_factory=list)
    outcomes: list[CartOutcome] = field(default_factory=list)
    messages: Counter = field(default_factory=Counter)
    incentives: Counter = field(default_factory=Counter)
    policies: Counter = field(default_factory=Counter)  # policy name -> non-stop decisions

    @cached_property
    def _snapshots(self) -> dict[int, dict]:
        return {}

    def _features(self, ctx: PlanContext) -> dict:
        # a cart's touch-1 context serves its decision, cart and label rows: snapshot it once
        found = self._snapshots.get(id(ctx))
        if found is None:
            found = self._snapshots[id(ctx)] = snapshot(ctx)
        return found

    def refresh(self) -> None:
        """Forget the frames built so far: a runner that keeps running (a learning loop retraining
        between batches) calls this to see the rows added since."""
        for name in ("decisions", "carts", "labels"):
            self.__dict__.pop(name, None)

    @cached_property
    def decisions(self) -> pd.DataFrame:
        return _frame(self.decision_rows, DECISION_META, DECISION_TAIL, self._features)

    @cached_property
    def carts(self) -> pd.DataFrame:
        return _frame(self.cart_rows, CART_META, CART_TAIL, self._features)

    @cached_property
    def labels(self) -> pd.DataFrame:
        return _frame(self.label_rows, LABEL_META, LABEL_TAIL, self._features)

    def summary(self) -> Summary:
        treated = [o for o in self.outcomes if not o.holdout]
        held = [o for o in self.outcomes if o.holdout]
        hits1, hits0 = sum(o.recovered for o in treated), sum(o.recovered for o in held)
        revenue1, revenue0 = sum(o.revenue for o in treated), sum(o.revenue for o in held)
        per_cart = (revenue1 / len(treated) if treated else math.nan) - (revenue0 / len(held) if held else math.nan)
        return Summary(
            policies=tuple(sorted(self.policies)),
            carts=len(self.outcomes),
            treated=len(treated),
            holdout=len(held),
            treated_rate=hits1 / len(treated) if treated else math.nan,
            holdout_rate=hits0 / len(held) if held else math.nan,
            incremental=difference_interval(hits1, len(treated), hits0, len(held)),
            recovered_revenue=round(revenue1, 2),
            incentive_cost=round(sum(o.incentive_cost for o in treated), 2),
            incremental_revenue_per_cart=per_cart,
            messages={c: self.messages.get(c, 0) for c in CHANNELS},
            incentives=dict(sorted(self.incentives.items())),
        )
