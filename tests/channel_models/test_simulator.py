"""The synthetic shop: its documented truth, the journey runner, the frames it produces."""

from __future__ import annotations

import random
import statistics
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from channel_models.actions import ACTIONS
from channel_models.context import REASONS, TouchDecision
from channel_models.learning.features import snapshot
from channel_models.rules.fixed_flow import FixedFlowPolicy
from channel_models.rules.rule_policy import RulePolicy
from channel_models.simulator import (
    SyntheticShop,
    in_holdout,
    oracle_policy,
    run_journeys,
)
from services.ingest.events import GenericWebhook
from tests.channel_models.planner_builders import make_ctx
from workflows.cart_recovery import in_holdout as workflow_in_holdout

SHOP = SyntheticShop(seed=3)
SHOPPERS = SHOP.shoppers(4000)
ABANDONED_AT = {s.cart_id: s.abandoned_at for s in SHOPPERS}


class NoMessage:
    """Plans nothing: every treated cart is left alone, like the holdout."""

    def plan(self, ctx):
        return TouchDecision(stop=True, stop_reason="no messages", channel=None, send_at=None, reason="other",
                             reason_confidence=0.2, propensity=0.5, bucket="Moderate", incentive=None,
                             allowed={}, blocked={}, policy="none")


def of(reason=None, **attrs):
    """Shoppers with the given hidden reason and attributes."""
    return [s for s in SHOPPERS if (reason is None or s.reason == reason)
            and all(getattr(s, k) == v for k, v in attrs.items())]


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
    assert [(s.cart_id, s.value, s.reason, s.signals) for s in again] == \
        [(s.cart_id, s.value, s.reason, s.signals) for s in SHOPPERS[:50]]
    other = SyntheticShop(seed=4).shoppers(50)
    assert {s.cart_id for s in other}.isdisjoint(s.cart_id for s in SHOPPERS)


# --- webhooks ---

def test_webhook_events_are_valid_generic_events_with_fictional_contacts():
    for s in SHOPPERS[:300]:
        events = SHOP.history_events(s) + SHOP.webhook_events(s) + [SHOP.order_event(s)]
        for event in events:
            GenericWebhook.model_validate({"id": "x", "shop": "sim", "event": event})
        cart, *signals = SHOP.webhook_events(s)
        assert cart["type"] == "cart" and cart["stage"] == s.stage and cart["device"] == s.device
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

def test_holdout_matches_the_workflow_and_gets_only_organic_recoveries():
    assert all(in_holdout(f"cart-{i}", 10) == workflow_in_holdout(f"cart-{i}", 10) for i in range(500))
    rule = run_journeys(SHOP, RulePolicy(), 1000, holdout_percent=25)
    flow = run_journeys(SHOP, FixedFlowPolicy(), 1000, holdout_percent=25)
    held = [o for o in rule.outcomes if o.holdout]
    assert 200 < len(held) < 300
    for o in held:
        assert o.touches_sent == 0 and o.order_at == o.organic_at
        window_end = ABANDONED_AT[o.cart_id] + timedelta(hours=120)
        assert o.recovered == (o.organic_at is not None and o.organic_at <= window_end)
    assert [(o.cart_id, o.recovered) for o in held] == [(o.cart_id, o.recovered) for o in flow.outcomes if o.holdout]
    assert not set(flow.decisions.cart_id) & {o.cart_id for o in held}


def test_runs_are_deterministic_for_a_seed():
    one = run_journeys(SHOP, FixedFlowPolicy(), 400, seed=5)
    two = run_journeys(SHOP, FixedFlowPolicy(), 400, seed=5)
    pd.testing.assert_frame_equal(one.decisions, two.decisions)
    pd.testing.assert_frame_equal(one.carts, two.carts)
    assert one.summary() == two.summary()
    other = run_journeys(SHOP, FixedFlowPolicy(), 400, seed=6)
    assert [o.order_at for o in other.outcomes] != [o.order_at for o in one.outcomes]


def test_oracle_beats_the_rules_which_beat_no_message():
    n = 2000
    oracle = run_journeys(SHOP, oracle_policy(SHOP), n, holdout_percent=30).summary()
    rules = run_journeys(SHOP, RulePolicy(), n, holdout_percent=30).summary()
    silent = run_journeys(SHOP, NoMessage(), n, holdout_percent=30).summary()
    assert silent.incremental.low < 0 < silent.incremental.high and silent.messages["email"] == 0
    assert rules.incremental.low > 0.02
    assert oracle.incremental.low > rules.incremental.high
    assert oracle.incremental.value - rules.incremental.value > 0.08
    assert oracle.holdout_rate == rules.holdout_rate  # the same shoppers, the same organic returns


def test_frames_follow_the_contract():
    result = run_journeys(SHOP, oracle_policy(SHOP), 600, abandon_gap_hours=0.5)
    decisions, carts, labels = result.decisions, result.carts, result.labels
    features = list(snapshot(make_ctx()))
    assert list(decisions.columns) == ["decision_id", "cart_id", "decided_at", "touch", "policy",
                                       *[f for f in features if f != "touch"], "action", "propensity",
                                       "allowed_actions", "sent", "rule_action", "value", "reward"]
    assert list(carts.columns) == ["cart_id", "abandoned_at", *features, "holdout", "touches_sent", "recovered", "value"]
    assert list(labels.columns) == ["cart_id", "labelled_at", *features, "label", "label_source"]
    for frame, when in ((decisions, "decided_at"), (carts, "abandoned_at"), (labels, "labelled_at")):
        assert str(frame[when].dtype) == "datetime64[ns, UTC]"
    assert decisions.dtypes[["decision_id", "touch", "action"]].eq(np.int64).all()
    assert carts.dtypes[["item_count", "orders", "signal_price_sort", "email_sent"]].eq(np.int32).all()
    assert carts.cart_value.dtype == np.float64 and carts.email_reachable.dtype == bool
    assert decisions.sent.dtype == bool and carts.holdout.dtype == bool and carts.recovered.dtype == bool
    assert decisions.decision_id.is_unique and (decisions.propensity > 0).all()
    assert all(a in allowed for a, allowed in zip(decisions.action, decisions.allowed_actions))
    # the masks hold: every chosen channel was reachable in the logged snapshot
    assert all(row[f"{ACTIONS[row['action']].channel}_reachable"] for _, row in decisions.iterrows())
    recovered = carts.set_index("cart_id").recovered
    assert (decisions.reward == decisions.cart_id.map(recovered).astype(float)).all()
    assert set(decisions.reward) == {0.0, 1.0}
    assert len(carts) == 600 and carts.cart_id.is_unique
    assert (carts[carts.holdout].touches_sent == 0).all()
    assert carts.touches_sent.sum() == decisions.sent.sum() == sum(result.summary().messages.values())
    truth = {s.cart_id: s.reason for s in SHOP.shoppers(600, gap_hours=0.5)}
    assert 30 < len(labels) < 100 and (labels.label_source == "survey").all()
    assert labels.label.isin(REASONS).all() and (labels.cart_id.map(truth) == labels.label).all()
    # returning customers bring their history into the features
    assert (carts.previous_abandonments > 0).any() and (carts.orders > 0).any()
    assert (carts[[f"{c}_sent" for c in ("email", "sms", "push", "retargeting")]].sum(axis=1) > 0).any()


def test_rules_without_an_action_still_get_a_summary_and_empty_frames():
    result = run_journeys(SHOP, RulePolicy(), 200)
    if RulePolicy().plan(make_ctx()).action is None:
        assert result.decisions.empty
    assert list(result.decisions.columns)[:3] == ["decision_id", "cart_id", "decided_at"]
    summary = result.summary()
    assert summary.carts == 200 and summary.treated + summary.holdout == 200
    assert sum(summary.messages.values()) > 0 and summary.policies == ("rules-v1",)


def test_the_oracle_only_plans_contexts_the_runner_handed_it():
    with pytest.raises(LookupError):
        oracle_policy(SHOP).plan(make_ctx())


class PreferLateActions:
    """A stand-in reward model: later action indexes score higher."""

    def score_actions(self, x_row, actions):
        return np.asarray(actions, dtype=float) / 100.0


def test_decisions_of_a_learned_policy_log_the_rule_priors_shadow_action():
    from channel_models.policy import LoadedModel, ModelSet, Planner

    learned = run_journeys(SHOP, Planner("auto", ModelSet(policy=LoadedModel(1, 1, PreferLateActions())), exploration=0.0), 300)
    rules = run_journeys(SHOP, Planner("auto", exploration=0.1), 300)
    shadow = learned.decisions["rule_action"].to_numpy()
    assert (shadow >= 0).mean() > 0.8
    assert all(a in allowed for a, allowed in zip(shadow, learned.decisions["allowed_actions"]) if a >= 0)
    assert (shadow != learned.decisions["action"].to_numpy()).mean() > 0.3  # they disagree: there is something to judge
    assert set(rules.decisions["rule_action"]) == {-1}  # the rules' own log has nothing to shadow
