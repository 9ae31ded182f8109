"""Which policies planned the report's touches, and the data the models learn from.

The status of each model (Learning / Active / Alert, what is still needed) is the service's, not
the date range's: it is at `GET /v1/models` and on the dashboard's model section. A report covers
a date range, so it says who actually decided its touches - the rule prior (`rules-v1`, with
`+explore` while models learn), a fixed flow (`fixed-v1`) or a learned policy (`bandit-v<n>`) - by
counting the decision rows of its carts.
"""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from services.reports.scope import ReportScope
from services.store.tables import Cart, Decision


def planning_policies(
    session: Session, scope: ReportScope, *, planned_carts: int, attributed_recoveries: int, days_with_carts: int
) -> dict:
    query = select(Decision.policy, func.count()).where(col(Decision.stop).is_(False)).group_by(Decision.policy)
    if not scope.every_abandoned_cart:
        # Only then the join: decisions exist only for abandoned carts, so without a shop or a
        # period every decision counts, in one pass over ix_decisions_policy (the join to two
        # million random cart keys took 3.5 s of a million-cart report)
        query = query.join(Cart, col(Cart.id) == col(Decision.cart_id)).where(*scope.cart_filters())
    rows = session.exec(query).all()
    planners = dict(sorted(((policy, int(n)) for policy, n in rows), key=lambda item: (-item[1], item[0])))
    return {
        "planner": next(iter(planners), None),  # the policy that planned most of the range's touches
        "planners": planners,
        "status_url": "/v1/models",
        "data": {
            "planned_carts": planned_carts,
            "attributed_recoveries": attributed_recoveries,
            "days_with_carts": days_with_carts,
        },
    }
