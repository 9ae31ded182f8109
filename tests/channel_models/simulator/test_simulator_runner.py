"""The in-process journey runner over the synthetic shop: holdout, determinism, the oracle's ceiling, frames."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from channel_models.actions import ACTIONS
from channel_models.context import TouchDecision
from channel_models.learning.features import snapshot
from channel_models.rules.fixed_flow import FixedFlowPolicy
from channel_models.rules.rule_policy import RulePolicy
from channel_models.simulator import (
    SyntheticShop,
    oracle_policy,
    run_journeys,
)
from channel_models.vocabulary import REASONS
from tests.utils.planner_builders import make_ctx

SHOP = SyntheticShop(seed=3)  # the same seeded shop as test_simulator.py's
ABANDONED_AT = {s.cart_id: s.abandoned_at for s in SHOP.shoppers(4000)}


def test_the_holdout_gets_only_organic_recoveries():
    rule = run_journeys(SHOP, RulePolicy(), 1000, holdout_percent=25)
    flow = run_journeys(SHOP, FixedFlowPolicy(), 1000, holdout_percent=25)
    held = [o for o in rule.outcomes if o.holdout]
    assert 200 < len(held) < 300
    for o in held:
        assert o.touches_sent == 0
        assert o.order_at == o.organic_at
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
    assert silent.incremental.low < 0 < silent.incremental.high
    assert silent.messages["email"] == 0
    assert rules.incremental.low > 0.02
    assert oracle.incremental.low > rules.incremental.high
    assert oracle.incremental.value - rules.incremental.value > 0.08
    assert oracle.holdout_rate == rules.holdout_rate  # the same shoppers, the same organic returns


def test_frames_follow_the_contract():
    result = run_journeys(SHOP, oracle_policy(SHOP), 600, abandon_gap_hours=0.5)
    decisions, carts, labels = result.decisions, result.carts, result.labels
    features = list(snapshot(make_ctx()))
    assert list(decisions.columns) == [
        "decision_id",
        "cart_id",
        "decided_at",
        "touch",
        "policy",
        *[f for f in features if f != "touch"],
        "action",
        "propensity",
        "allowed_actions",
        "sent",
        "rule_action",
        "value",
        "reward",
    ]
    assert list(carts.columns) == [
        "cart_id",
        "abandoned_at",
        *features,
        "holdout",
        "touches_sent",
        "recovered",
        "value",
    ]
    assert list(labels.columns) == ["cart_id", "labelled_at", *features, "label", "label_source"]
    for frame, when in ((decisions, "decided_at"), (carts, "abandoned_at"), (labels, "labelled_at")):
        assert str(frame[when].dtype) == "datetime64[ns, UTC]"
    assert decisions.dtypes[["decision_id", "touch", "action"]].eq(np.int64).all()
    assert carts.dtypes[["item_count", "orders", "signal_price_sort", "email_sent"]].eq(np.int32).all()
    assert carts.cart_value.dtype == np.float64
    assert carts.email_reachable.dtype == bool
    assert decisions.sent.dtype == bool
    assert carts.holdout.dtype == bool
    assert carts.recovered.dtype == bool
    assert decisions.decision_id.is_unique
    assert (decisions.propensity > 0).all()
    assert all(a in allowed for a, allowed in zip(decisions.action, decisions.allowed_actions))
    # the masks hold: every chosen channel was reachable in the logged snapshot
    assert all(row[f"{ACTIONS[row['action']].channel}_reachable"] for _, row in decisions.iterrows())
    recovered = carts.set_index("cart_id").recovered
    assert (decisions.reward == decisions.cart_id.map(recovered).astype(float)).all()
    assert set(decisions.reward) == {0.0, 1.0}
    assert len(carts) == 600
    assert carts.cart_id.is_unique
    assert (carts[carts.holdout].touches_sent == 0).all()
    assert carts.touches_sent.sum() == decisions.sent.sum() == sum(result.summary().messages.values())
    truth = {s.cart_id: s.reason for s in SHOP.shoppers(600, gap_hours=0.5)}
    assert 30 < len(labels) < 100
    assert (labels.label_source == "survey").all()
    assert labels.label.isin(REASONS).all()
    assert (labels.cart_id.map(truth) == labels.label).all()
    # returning customers bring their history into the features
    assert (carts.previous_abandonments > 0).any()
    assert (carts.orders > 0).any()
    assert (carts[[f"{c}_sent" for c in ("email", "sms", "push", "retargeting")]].sum(axis=1) > 0).any()


def test_rules_without_an_action_still_get_a_summary_and_empty_frames():
    result = run_journeys(SHOP, RulePolicy(), 200)
    if RulePolicy().plan(make_ctx()).action is None:
        assert result.decisions.empty
    assert list(result.decisions.columns)[:3] == ["decision_id", "cart_id", "decided_at"]
    summary = result.summary()
    assert summary.carts == 200
    assert summary.treated + summary.holdout == 200
    assert sum(summary.messages.values()) > 0
    assert summary.policies == ("rules-v1",)


def test_the_oracle_only_plans_contexts_the_runner_handed_it():
    with pytest.raises(LookupError):
        oracle_policy(SHOP).plan(make_ctx())


def test_decisions_of_a_learned_policy_log_the_rule_priors_shadow_action():
    from channel_models.policy import Planner
    from channel_models.registry.model_set import LoadedModel, ModelSet

    learned = run_journeys(
        SHOP, Planner("auto", ModelSet(policy=LoadedModel(1, 1, PreferLateActions())), exploration=0.0), 300
    )
    rules = run_journeys(SHOP, Planner("auto", exploration=0.1), 300)
    shadow = learned.decisions["rule_action"].to_numpy()
    assert (shadow >= 0).mean() > 0.8
    assert all(a in allowed for a, allowed in zip(shadow, learned.decisions["allowed_actions"]) if a >= 0)
    assert (shadow != learned.decisions["action"].to_numpy()).mean() > 0.3  # they disagree: there is something to judge
    assert set(rules.decisions["rule_action"]) == {-1}  # the rules' own log has nothing to shadow


class NoMessage:
    """Plans nothing: every treated cart is left alone, like the holdout."""

    def plan(self, ctx):
        return TouchDecision(
            stop=True,
            stop_reason="no messages",
            channel=None,
            send_at=None,
            reason="other",
            reason_confidence=0.2,
            propensity=0.5,
            bucket="Moderate",
            incentive=None,
            allowed={},
            blocked={},
            policy="none",
        )


class PreferLateActions:
    """A stand-in reward model: later action indexes score higher."""

    def score_actions(self, x_row, actions):
        return np.asarray(actions, dtype=float) / 100.0
