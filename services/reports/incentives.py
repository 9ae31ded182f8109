"""What incentives cost: the attributed recoveries whose recovering message carried a code, by
incentive, with their revenue and the estimated cost.

Only a recovered cart costs the shop its incentive (an unused code costs nothing). The cost is an
estimate from the settings, as the policy's objective counts it (channel_models/economics.py): a
discount its percentage (CR_DISCOUNT_PERCENT) of the order, free shipping CR_FREE_SHIPPING_COST of
it. One GROUP BY that starts from the recovered carts, like touches.py's credited recoveries.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from services.reports.carts import ATTRIBUTED
from services.reports.scope import ReportScope
from services.reports.touches import SENT
from services.store.tables import Cart, Decision, Message, Outcome


def incentive_rows(session: Session, scope: ReportScope, cost_shares: Mapping[str, float]) -> list[dict]:
    """One row per incentive that recovered carts: recovered carts, their revenue, the estimated
    cost (revenue x the incentive's cost share)."""
    query = (
        select(Decision.incentive, func.count(), func.sum(Outcome.value_cents))
        .select_from(Outcome)
        .join(
            Message,
            and_(col(Message.cart_id) == col(Outcome.cart_id), col(Message.touch) == col(Outcome.attributed_touch)),
        )
        .join(Decision, col(Decision.id) == col(Message.decision_id))
        .where(ATTRIBUTED, SENT, col(Decision.incentive).is_not(None))
        .group_by(Decision.incentive)
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
