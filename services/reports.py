"""Recovery report: how many abandoned carts came back, how much revenue, through which channel,
and what the service adds over the holdout group (difference of proportions, 95% Wald interval).

Definitions:
- abandoned: carts whose journey reached abandonment in the period (by abandonment time);
- treated / holdout: the deterministic split made at abandonment;
- recovered: an order arrived after abandonment and inside the attribution window;
- attributed: recovered after at least one touch; credited to the last touch before the order;
- incremental recovery rate: treated rate - holdout rate.
"""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import case, false, func
from sqlmodel import Session, col, select

from services.store.tables import Cart, Message, Outcome

Z95 = 1.959963984540054


def recovery_report(session: Session, shop: str | None = None, since: datetime | None = None, until: datetime | None = None) -> dict:
    filters = [col(Cart.abandoned_at).is_not(None)]
    if shop:
        filters.append(Cart.shop == shop)
    if since:
        filters.append(col(Cart.abandoned_at) >= since)
    if until:
        filters.append(col(Cart.abandoned_at) < until)

    recovered = Outcome.status == "recovered"
    # false() renders as a literal, so SELECT and GROUP BY hold the same expression; a bound
    # False becomes two different parameters and PostgreSQL rejects the grouping.
    holdout = func.coalesce(Cart.holdout, false())
    groups = session.exec(
        select(
            holdout,
            func.count(col(Cart.id)),
            func.sum(case((recovered, 1), else_=0)),
            func.sum(case((recovered & col(Outcome.attributed_touch).is_not(None), 1), else_=0)),
            func.sum(case((recovered & col(Outcome.attributed_touch).is_not(None), Outcome.value_cents), else_=0)),
        )
        .select_from(Cart)
        .outerjoin(Outcome, col(Outcome.cart_id) == col(Cart.id))
        .where(*filters)
        .group_by(holdout)
    ).all()
    totals = {bool(h): (int(n), int(r or 0), int(a or 0), int(v or 0)) for h, n, r, a, v in groups}
    t_n, t_rec, t_attr, t_cents = totals.get(False, (0, 0, 0, 0))
    h_n, h_rec, _, _ = totals.get(True, (0, 0, 0, 0))

    messaged = session.exec(
        select(func.count(func.distinct(Message.cart_id)))
        .select_from(Message)
        .join(Cart, col(Cart.id) == col(Message.cart_id))
        .where(Message.status == "sent", *filters)
    ).one()
    sent_by_channel = dict(
        session.exec(
            select(Message.channel, func.count(col(Message.id)))
            .join(Cart, col(Cart.id) == col(Message.cart_id))
            .where(Message.status == "sent", *filters)
            .group_by(Message.channel)
        ).all()
    )
    recovered_by_channel = {
        channel: (int(n), int(v or 0))
        for channel, n, v in session.exec(
            select(Outcome.attributed_channel, func.count(col(Outcome.cart_id)), func.sum(Outcome.value_cents))
            .join(Cart, col(Cart.id) == col(Outcome.cart_id))
            .where(recovered, col(Outcome.attributed_channel).is_not(None), *filters)
            .group_by(Outcome.attributed_channel)
        ).all()
    }
    currencies = sorted(set(session.exec(select(Cart.currency).where(*filters).distinct()).all()))

    treated_rate = _rate(t_rec, t_n)
    holdout_rate = _rate(h_rec, h_n)
    return {
        "shop": shop,
        "since": since,
        "until": until,
        "currencies": currencies,
        "abandoned_carts": t_n + h_n,
        "treated_carts": t_n,
        "holdout_carts": h_n,
        "messaged_carts": int(messaged),
        "messages_sent": int(sum(sent_by_channel.values())),
        "recovered_carts": t_rec,
        "attributed_recoveries": t_attr,
        "recovery_rate": treated_rate,
        "holdout_recovery_rate": holdout_rate,
        "incremental_recovery_rate": _lift(t_rec, t_n, h_rec, h_n),
        "recovered_revenue": t_cents / 100,
        "revenue_per_message": round(t_cents / 100 / sum(sent_by_channel.values()), 2) if sent_by_channel else None,
        "by_channel": [
            {
                "channel": channel,
                "messages_sent": int(sent_by_channel.get(channel, 0)),
                "recovered_carts": recovered_by_channel.get(channel, (0, 0))[0],
                "recovered_revenue": recovered_by_channel.get(channel, (0, 0))[1] / 100,
            }
            for channel in sorted(set(sent_by_channel) | set(recovered_by_channel))
        ],
    }


def _rate(k: int, n: int) -> float | None:
    return round(k / n, 6) if n else None


def _lift(k1: int, n1: int, k2: int, n2: int) -> dict | None:
    """Treated minus holdout recovery rate with a 95% Wald interval; None without both groups."""
    if not n1 or not n2:
        return None
    p1, p2 = k1 / n1, k2 / n2
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    diff = p1 - p2
    return {"estimate": round(diff, 6), "ci95_low": round(diff - Z95 * se, 6), "ci95_high": round(diff + Z95 * se, 6)}
