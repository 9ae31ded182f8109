"""Read models for the /v1 API: one cart's journey with its touches and decision log."""

from __future__ import annotations

from sqlmodel import Session, col, select

from services.store.tables import Cart, CartAlias, Decision, Message, Outcome


def find_cart(session: Session, cart_id: str, shop: str | None) -> Cart | None:
    """By the platform's token (what a merchant knows) or by our opaque key."""
    query = select(CartAlias).where(CartAlias.token == cart_id)
    if shop:
        query = query.where(CartAlias.shop == shop)
    alias = session.exec(query).first()
    if alias is not None:
        return session.get(Cart, alias.cart_id)
    cart = session.get(Cart, cart_id)
    return cart if cart is not None and (not shop or cart.shop == shop) else None


def cart_journey(session: Session, cart: Cart) -> dict:
    decisions = session.exec(select(Decision).where(Decision.cart_id == cart.id).order_by(col(Decision.id))).all()
    by_id = {d.id: d for d in decisions}
    messages = session.exec(select(Message).where(Message.cart_id == cart.id).order_by(col(Message.touch))).all()
    outcome = session.get(Outcome, cart.id)
    return {
        "cart_id": cart.token,
        "key": cart.id,
        "shop": cart.shop,
        "platform": cart.platform,
        "customer_id": cart.customer_id,
        "status": cart.status,
        "journey_state": cart.journey_state,
        "holdout": cart.holdout,
        "stage": cart.stage,
        "value": cart.value_cents / 100,
        "currency": cart.currency,
        "item_count": sum(int(i.get("quantity", 1)) for i in cart.items),
        "created_at": cart.created_at,
        "updated_at": cart.updated_at,
        "abandoned_at": cart.abandoned_at,
        "closed_at": cart.closed_at,
        "touches": [
            {
                "touch": m.touch,
                "channel": m.channel,
                "status": m.status,
                "sent_at": m.sent_at,
                "template": m.template,
                "reason": by_id[m.decision_id].reason if m.decision_id in by_id else None,
                "bucket": by_id[m.decision_id].bucket if m.decision_id in by_id else None,
                "incentive": by_id[m.decision_id].incentive if m.decision_id in by_id else None,
                "provider_result": m.provider_result,
            }
            for m in messages
        ],
        "decisions": [
            {
                "touch": d.touch,
                "decided_at": d.decided_at,
                "policy": d.policy,
                "stop": d.stop,
                "stop_reason": d.stop_reason,
                "channel": d.channel,
                "send_at": d.send_at,
                "reason": d.reason,
                "reason_confidence": d.reason_confidence,
                "propensity": d.propensity,
                "bucket": d.bucket,
                "incentive": d.incentive,
                "allowed": d.allowed,
                "blocked": d.blocked,
                "explanation": d.explanation,
            }
            for d in decisions
        ],
        "outcome": None
        if outcome is None
        else {
            "status": outcome.status,
            "order_id": outcome.order_id,
            "value": outcome.value_cents / 100,
            "currency": outcome.currency,
            "attributed_touch": outcome.attributed_touch,
            "attributed_channel": outcome.attributed_channel,
            "touches_sent": outcome.touches_sent,
            "time_to_recovery_s": outcome.time_to_recovery_s,
            "reason": outcome.reason,
            "recorded_at": outcome.recorded_at,
        },
    }
