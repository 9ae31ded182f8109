"""Fixtures for the storage tests: the hand-built journeys of tests/utils/training_journeys.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from services.store.tables import ReasonLabel
from tests.utils.training_journeys import T0, H, cart, decision, key, outcome, snap


@pytest.fixture
def journeys(engine):
    with Session(engine) as s:
        # a: recovered by an order placed after both decisions
        cart(s, "a", features=snap(10.0), value=1250)
        decision(s, "a", 1, T0, features=snap(10.0), rule_action=5)
        decision(s, "a", 2, T0 + 24 * H, action=7, allowed=(7,), sent=False)
        outcome(s, "a", "recovered", touches=1, placed=T0 + 30 * H, value=1300)
        # b: the order was placed before touch 2 was decided, though its webhook came after
        cart(s, "b", features=snap(20.0))
        decision(s, "b", 1, T0)
        decision(s, "b", 2, T0 + 24 * H)
        outcome(s, "b", "recovered", touches=2, placed=T0 + 10 * H, received=T0 + 25 * H)
        # c: not recovered; a stop decision and a decision without an action are not bandit rows
        cart(s, "c", features=snap(30.0))
        decision(s, "c", 1, T0)
        decision(s, "c", 2, T0 + 24 * H, action=None, allowed=(), sent=None)
        decision(s, "c", 3, T0 + 48 * H, action=None, allowed=(), stop=True, sent=None)
        outcome(s, "c", "not_recovered", touches=1)
        # d: holdout, no decision, came back on its own
        cart(s, "d", features=snap(40.0), holdout=True)
        outcome(s, "d", "recovered", touches=0, placed=T0 + 5 * H)
        # e: still in its journey: no outcome, no reward yet
        cart(s, "e", features=snap(50.0))
        decision(s, "e", 1, T0)
        # f: abandoned before snapshots were kept at abandonment: its first decision stands in
        cart(s, "f", features=None)
        decision(s, "f", 1, T0, features=snap(60.0))
        outcome(s, "f", "not_recovered", touches=1)
        # g: the shop's clock is far off (or the service clock sped up): the order's arrival counts
        cart(s, "g", features=snap(70.0))
        decision(s, "g", 1, T0 + 2 * H)
        outcome(s, "g", "recovered", placed=T0 - timedelta(days=100), received=T0 + 3 * H)
        # h: holdout from before snapshots: nothing to learn from, left out
        cart(s, "h", features=None, holdout=True)
        outcome(s, "h", "not_recovered", touches=0)
        # labels: a's shopper answered the survey (it outranks the recovery), d only answered
        for name, reason, source, at in [
            ("a", "price", "recovered_message", T0 + 30 * H),
            ("a", "shipping_cost", "survey", T0 + 40 * H),
            ("c", "indecision", "recovered_message", T0 + 50 * H),
            ("d", "technical", "survey", T0 + 6 * H),
        ]:
            s.add(ReasonLabel(cart_id=key(name), reason=reason, source=source, recorded_at=at))
        s.commit()
    return engine
