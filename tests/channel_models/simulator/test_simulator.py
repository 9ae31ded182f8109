"""The synthetic shop: its documented truth, the journey runner, the frames it produces."""

from __future__ import annotations

import random
import statistics

import pytest

from channel_models.simulator import (
    SyntheticShop,
)
from services.core.events import GenericWebhook

SHOP = SyntheticShop(seed=3)
SHOPPERS = SHOP.shoppers(4000)
ABANDONED_AT = {s.cart_id: s.abandoned_at for s in SHOPPERS}


def of(reason=None, **attrs):
    """Shoppers with the given hidden reason and attributes."""
    return [
        s
        for s in SHOPPERS
        if (reason is None or s.reason == reason) and all(getattr(s, k) == v for k, v in attrs.items())
    ]


def mean_response(shoppers, channel, incentive=None, hours=1.0, touch=1):
    return statistics.mean(SHOP.response_probability(s, channel, incentive, hours, touch) for s in shoppers)


# --- the documented truth ---


def test_incentives_move_price_and_shipping_shoppers_and_hardly_anyone_else():
    for s in of("price")[:50]:
        none = SHOP.response_probability(s, "email", None, 2.0, 1)
        assert SHOP.response_probability(s, "email", "discount", 2.0, 1) == pytest.approx(min(0.9, 3.0 * none))
        assert SHOP.response_probability(s, "email", "free_shipping", 2.0, 1) < 3.0 * none
    for s in of("shipping_cost")[:50]:
        none = SHOP.response_probability(s, "email", None, 2.0, 1)
        assert SHOP.response_probability(s, "email", "free_shipping", 2.0, 1) == pytest.approx(min(0.9, 3.0 * none))
    for s in of("indecision")[:50] + of("other")[:50]:
        none = SHOP.response_probability(s, "email", None, 2.0, 1)
        assert SHOP.response_probability(s, "email", "discount", 2.0, 1) == pytest.approx(1.1 * none)


def test_timing_technical_fades_within_hours_indecisive_ripen_over_a_day():
    technical = of("technical")
    early, later, next_day = (mean_response(technical, "email", hours=h) for h in (0.25, 4.0, 24.0))
    assert later / early == pytest.approx(0.5 ** (3.75 / 1.5), rel=1e-6)
    assert next_day < 0.01 * early
    indecisive = of("indecision")
    assert mean_response(indecisive, "email", hours=24.0) > 3 * mean_response(indecisive, "email", hours=0.25)
    assert mean_response(indecisive, "email", hours=96.0) < mean_response(indecisive, "email", hours=24.0)


def test_channels_follow_the_device_and_fatigue_lowers_later_touches():
    mobile, desktop = of(device="mobile"), of(device="desktop")
    assert mean_response(mobile, "sms") > 4 * mean_response(mobile, "email")
    assert mean_response(desktop, "email") > 1.5 * mean_response(desktop, "sms")
    app_users = [s for s in mobile if s.customer.app_user]
    assert mean_response(app_users, "push") > 3 * mean_response(app_users, "email")
    assert all(SHOP.response_probability(s, "push", None, 1.0, 1) == 0 for s in SHOPPERS if not s.customer.app_user)
    s = of("other")[0]
    first = SHOP.response_probability(s, "email", None, 10.0, 1)
    assert SHOP.response_probability(s, "email", None, 10.0, 2) == pytest.approx(0.65 * first)
    assert SHOP.response_probability(s, "email", None, 10.0, 2, ("email",)) == pytest.approx(0.65 * 0.75 * first)


def test_drawn_responses_and_organic_returns_match_their_probabilities():
    s = max(of("price"), key=lambda x: SHOP.response_probability(x, "sms", "discount", 0.5, 1))
    p = SHOP.response_probability(s, "sms", "discount", 0.5, 1)
    rng, n = random.Random(1), 20_000
    lags = [SHOP.order_after_message(s, "sms", "discount", 0.5, 1, rng) for _ in range(n)]
    hits = [lag for lag in lags if lag is not None]
    assert abs(len(hits) / n - p) < 4 * (p * (1 - p) / n) ** 0.5
    assert statistics.mean(hits) == pytest.approx(0.5, rel=0.1)  # SMS answers within the hour
    rng = random.Random(2)
    organic = [SHOP.organic_order_hours(x, rng) for x in SHOPPERS]
    within = sum(h is not None and h <= 120 for h in organic) / len(SHOPPERS)
    expected = statistics.mean(x.organic_probability for x in SHOPPERS) * 0.95  # log-normal within 120 h
    assert abs(within - expected) < 0.02
    assert 0.08 < within < 0.20


def test_signals_are_noisy_evidence_of_the_reason():
    from channel_models.rules.reasons import infer_reason

    right = sum(infer_reason(s.signal_counts, s.stage)[0] == s.reason for s in SHOPPERS) / len(SHOPPERS)
    assert 0.55 < right < 0.9  # informative, not a giveaway: a learned classifier has room


def test_same_seed_same_shoppers_other_seed_other_shoppers():
    again = SyntheticShop(seed=3).shoppers(50)
    assert [(s.cart_id, s.value, s.reason, s.signals) for s in again] == [
        (s.cart_id, s.value, s.reason, s.signals) for s in SHOPPERS[:50]
    ]
    other = SyntheticShop(seed=4).shoppers(50)
    assert {s.cart_id for s in other}.isdisjoint(s.cart_id for s in SHOPPERS)


# --- webhooks ---


def test_webhook_events_are_valid_generic_events_with_fictional_contacts():
    for s in SHOPPERS[:300]:
        events = SHOP.history_events(s) + SHOP.webhook_events(s) + [SHOP.order_event(s)]
        for event in events:
            GenericWebhook.model_validate({"id": "x", "shop": "sim", "event": event})
        cart, *signals = SHOP.webhook_events(s)
        assert cart["type"] == "cart"
        assert cart["stage"] == s.stage
        assert cart["device"] == s.device
        assert [e["kind"] for e in signals] == list(s.signals)
        email = cart["contact"].get("email")
        assert email is None or email.endswith("@example.com")
        assert {c["channel"]: c["state"] for c in cart["consents"]} == dict(s.customer.consents)
        if s.customer.email:
            assert s.customer.email in s.recipients()
    assert any(SHOP.history_events(s) for s in SHOPPERS[:300])


def test_returning_customers_reuse_their_identity():
    shoppers = SyntheticShop(seed=3).shoppers(3000, gap_hours=0.5)
    by_customer = {}
    for s in shoppers:
        by_customer.setdefault(s.customer.index, []).append(s)
    repeats = [carts for carts in by_customer.values() if len(carts) > 1]
    assert len(repeats) > 200
    for carts in repeats:
        assert len({SHOP.webhook_events(c)[0]["contact"].get("email") for c in carts}) == 1
        gaps = [(b.abandoned_at - a.abandoned_at).total_seconds() / 86400 for a, b in zip(carts, carts[1:])]
        assert min(gaps) >= 7  # one customer's journeys never overlap


# --- the runner ---
