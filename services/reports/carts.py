"""Cart-level aggregates: abandoned and recovered carts by holdout, platform, inferred reason,
score bucket and day of abandonment, and the median time to recovery.

Two GROUP BY queries: every cart in scope (carts alone; on SQLite through an index in the
grouping order, so a million carts are counted without a sort), and the recovered ones (about one
cart in seven, read from outcomes and joined to their carts). Python adds up their grouped rows.
The reason and bucket are the cart's report columns (see Cart.reason), not a join to decisions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, case, cast, func
from sqlmodel import Session, col, select

from services.reports.scope import ReportScope, abandonment_day
from services.store.tables import Cart, Outcome

RECOVERED = Outcome.status == "recovered"
ATTRIBUTED = RECOVERED & col(Outcome.attributed_touch).is_not(None)


class Tally:
    """Counts for one group of carts. Revenue and time to recovery count attributed recoveries
    (an order after at least one touch): the ones the service can claim."""

    __slots__ = ("carts", "recovered", "attributed", "revenue_cents", "ttr_sum_s", "ttr_n")

    def __init__(self, carts=0, recovered=0, attributed=0, revenue_cents=0, ttr_sum_s=0.0, ttr_n=0):
        self.carts, self.recovered, self.attributed = carts, recovered, attributed
        self.revenue_cents, self.ttr_sum_s, self.ttr_n = revenue_cents, ttr_sum_s, ttr_n

    def add(self, other: Tally) -> Tally:
        self.carts += other.carts
        self.recovered += other.recovered
        self.attributed += other.attributed
        self.revenue_cents += other.revenue_cents
        self.ttr_sum_s += other.ttr_sum_s
        self.ttr_n += other.ttr_n
        return self


@dataclass
class CartCounts:
    """Tallies keyed (holdout, platform, reason, bucket, day), and the currencies in scope."""

    groups: dict[tuple, Tally]
    currencies: list[str]

    def by(self, key) -> dict:
        """Roll the groups up by key(holdout, platform, reason, bucket, day)."""
        out: dict = defaultdict(Tally)
        for group, tally in self.groups.items():
            out[key(*group)].add(tally)
        return dict(out)


def cart_counts(session: Session, scope: ReportScope) -> CartCounts:
    day, filters = abandonment_day(session), scope.cart_filters()
    # the raw holdout column (NULL, false, true) keeps the index order; NULL - not split yet - is treated
    keys: tuple[Any, ...] = (Cart.holdout, Cart.platform, Cart.currency, Cart.reason, Cart.bucket, day)
    groups: dict[tuple, Tally] = defaultdict(Tally)
    currencies: set[str] = set()
    for holdout, platform, currency, reason, bucket, d, n in session.exec(
        select(*keys, func.count()).where(*filters).group_by(*keys)
    ).all():
        groups[(bool(holdout), platform, reason, bucket, _day(d))].carts += int(n)
        currencies.add(currency)

    timed = ATTRIBUTED & col(Outcome.time_to_recovery_s).is_not(None)
    keys = (Cart.holdout, Cart.platform, Cart.reason, Cart.bucket, day)
    for holdout, platform, reason, bucket, d, *sums in session.exec(
        select(
            *keys,
            func.count(),
            func.sum(case((ATTRIBUTED, 1), else_=0)),
            func.sum(case((ATTRIBUTED, Outcome.value_cents), else_=0)),
            func.sum(case((timed, cast(Outcome.time_to_recovery_s, Float)), else_=0.0)),
            func.sum(case((timed, 1), else_=0)),
        )
        .select_from(Outcome)
        .join(Cart, col(Cart.id) == col(Outcome.cart_id))
        .where(RECOVERED, *filters)
        .group_by(*keys)
    ).all():
        recovered, attributed, cents, ttr_sum, ttr_n = sums
        groups[(bool(holdout), platform, reason, bucket, _day(d))].add(
            Tally(0, int(recovered), int(attributed or 0), int(cents or 0), float(ttr_sum or 0), int(ttr_n or 0))
        )
    return CartCounts(dict(groups), sorted(currencies))


def _day(value) -> str:
    return value if isinstance(value, str) else value.isoformat()


def median_time_to_recovery(session: Session, scope: ReportScope, n: int) -> float | None:
    """Median seconds from abandonment to order over the n attributed recoveries with a recorded
    time: the middle one or two values of the sorted list, read with OFFSET (portable SQL)."""
    if n <= 0:
        return None
    ttr = col(Outcome.time_to_recovery_s)
    query = select(ttr).where(ATTRIBUTED, ttr.is_not(None)).order_by(ttr).offset((n - 1) // 2).limit(2 - n % 2)
    if not scope.every_abandoned_cart:  # attributed recoveries exist only for abandoned carts
        query = query.join(Cart, col(Cart.id) == col(Outcome.cart_id)).where(*scope.cart_filters())
    middle = session.exec(query).all()
    return sum(middle) / len(middle) if middle else None
