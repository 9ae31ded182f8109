"""What incentives cost: the attributed recoveries whose recovering message carried a code, by
incentive, with their revenue and the estimated cost.

Only a recovered cart costs the shop its incentive (an unused code costs nothing). The cost is an
estimate from the settings, as the policy's objective counts it (channel_models/economics.py): a
discount its percentage (CR_DISCOUNT_PERCENT) of the order, free shipping CR_FREE_SHIPPING_COST of
it. The recovering touch's incentive is kept on the outcome (`attributed_incentive`, set by
record_outcome), so this is one GROUP BY over `ix_outcomes_incentive`: only the recoveries with a
code are read.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import func
from sqlmodel import Session, col, select

from services.reports.carts import ATTRIBUTED
from services.reports.scope import ReportScope
from services.store.tables import Cart, Outcome


def incentive_rows(session: Session, scope: ReportScope, cost_shares: Mapping[str, float]) -> list[dict]:
    """One row per incentive that recovered carts: recovered carts, their revenue, the estimated
    cost (revenue x the incentive's cost share)."""
    code = col(Outcome.attributed_incentive)
    query = (
        select(code, func.count(), func.sum(Outcome.value_cents)).where(code.is_not(None), ATTRIBUTED).group_by(code)
    )
    if not scope.every_abandoned_cart:
        query = query.join(Cart, col(Cart.id) == col(Outcome.cart_id)).where(*scope.cart_filters())
    rows = []
    for incentive, n, cents in sorted(session.exec(query).all(), key=lambda row: str(row[0])):
        revenue = int(cents or 0) / 100
        rows.append(
            {
                "incentive": incentive,
                "recovered_carts": int(n),
                "recovered_revenue": revenue,
                "estimated_cost": round(revenue * cost_shares.get(incentive, 0.0), 2),
            }
        )
    return rows
