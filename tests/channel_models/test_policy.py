from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import pytest

from channel_models.actions import ACTIONS
from channel_models.economics import Economics
from channel_models.learning.learned_policy import LearnedPolicy
from channel_models.policy import InformedRulePolicy, Planner
from channel_models.registry.model_set import LoadedModel, ModelSet
from channel_models.rules.exploration import ExploringPolicy
from channel_models.rules.rule_policy import RulePolicy
from tests.utils.planner_builders import ABANDONED, make_ctx


class CountingRewardModel:
    def __init__(self):
        self.calls = 0

    def score_actions(self, x_row, actions):
        self.calls += 1
        return np.linspace(0.1, 0.2, len(actions))


class GivenReason:
    def predict_reason(self, x_row):
        return "price", 0.9


class GivenPropensity:
    bucket_edges_ = (0.2, 0.4, 0.6, 0.8)

    def predict_proba(self, X):
        return np.tile([0.9, 0.1], (len(X), 1))


def contexts():
    for minutes in range(0, 3000, 97):
        for touch in (1, 2, 3):
            yield make_ctx(
                touch=touch,
                now=ABANDONED + timedelta(minutes=minutes),
                incentives_available=("discount",),
                signal_counts={"price_sort": 2},
            )


def test_modes_choose_their_policy():
    ctx = make_ctx(touch=2, now=ABANDONED + timedelta(hours=2))
    assert Planner("rules").plan(ctx) == RulePolicy().plan(ctx)
    assert Planner("fixed", fixed_flow="email@3h,sms@1d").plan(ctx).policy == "fixed-v1"
    assert isinstance(Planner("auto").policy, ExploringPolicy)
    assert Planner("auto", exploration=0.0).plan(ctx).policy == "rules-v1+explore"
    learned = Planner("auto", ModelSet(policy=LoadedModel(31, 5, CountingRewardModel())))
    assert isinstance(learned.policy, LearnedPolicy)
    assert learned.plan(ctx).policy == "bandit-v5"
    with pytest.raises(ValueError, match="mode must be one of auto, rules, fixed"):
        Planner("bandit")


def test_auto_without_an_active_policy_model_never_asks_a_learned_model():
    learning = CountingRewardModel()
    models = ModelSet(policy=LoadedModel(40, 2, learning, {"status": "Learning"}))
    planner = Planner("auto", models, exploration=0.3, seed=5)
    decisions = [planner.plan(ctx) for ctx in contexts()]
    assert learning.calls == 0
    assert planner.models.policy is None
    assert {d.policy for d in decisions} == {"rules-v1+explore"}
    assert all("policy" not in d.model_versions for d in decisions)
    explored = [d for d in decisions if d.action_propensity < 0.5]
    assert explored
    assert all(d.action in d.allowed_actions for d in explored)
    # with no policy model at all, the same
    none = Planner("auto", ModelSet(), exploration=0.3, seed=5)
    assert [none.plan(ctx) for ctx in contexts()] == decisions


def test_an_active_policy_model_decides_in_auto_mode():
    active = CountingRewardModel()
    planner = Planner("auto", ModelSet(policy=LoadedModel(41, 3, active, {"status": "active"})), exploration=0.0)
    decision = planner.plan(make_ctx())
    assert active.calls == 1
    assert decision.policy == "bandit-v3"
    assert decision.model_versions == {"policy": 41}
    # linspace scores rise with the index: the last allowed action wins
    assert decision.action == max(decision.allowed_actions)


def test_a_learned_decision_carries_the_action_the_rule_prior_would_have_taken():
    others = dict(reason=LoadedModel(1, 1, GivenReason()), propensity=LoadedModel(2, 1, GivenPropensity()))
    learned = Planner("auto", ModelSet(policy=LoadedModel(41, 3, CountingRewardModel()), **others), exploration=0.0)
    rules = Planner("auto", ModelSet(**others), exploration=0.0)  # what decides when the policy is not Active
    pairs = [(learned.plan(ctx), rules.plan(ctx)) for ctx in contexts()]
    sent = [(mine, theirs) for mine, theirs in pairs if not mine.stop]
    assert sent
    assert all(mine.rule_action == (None if theirs.stop else theirs.action) for mine, theirs in sent)
    assert all(mine.rule_action is None or mine.rule_action in mine.allowed_actions for mine, _ in sent)
    assert any(mine.rule_action is not None and mine.rule_action != mine.action for mine, _ in sent)
    assert all(mine.rule_action is None for mine, _ in pairs if mine.stop)
    # only a learned policy is shadowed: the rules, the fixed flow and the exploring prior are the log's own
    for planner in (rules, Planner("rules"), Planner("fixed")):
        assert {planner.plan(ctx).rule_action for ctx in contexts()} == {None}


def test_rules_use_active_reason_and_propensity_models_before_a_policy_model_is_active():
    models = ModelSet(reason=LoadedModel(1, 1, GivenReason()), propensity=LoadedModel(2, 1, GivenPropensity()))
    planner = Planner("auto", models, exploration=0.0)
    assert isinstance(planner.policy.base, InformedRulePolicy)
    decision = planner.plan(make_ctx(touch=2, now=ABANDONED + timedelta(hours=2), incentives_available=("discount",)))
    assert (decision.reason, decision.reason_confidence) == ("price", 0.9)
    assert (decision.propensity, decision.bucket) == (0.1, "Very low")
    assert decision.incentive == "discount"  # the rule prior's answer to a price reason
    assert ACTIONS[decision.action].incentive == "discount"
    assert decision.model_versions == {"reason": 1, "propensity": 2}
    # the rules mode is the rule prior alone, models or not
    plain = Planner("rules", models).plan(make_ctx())
    assert plain.model_versions == {}
    assert plain.reason == "other"


def test_from_settings_reads_the_policy_settings():
    settings = SimpleNamespace(
        policy="fixed",
        fixed_flow="sms@30m",
        exploration=0.2,
        min_incentive_lift=0.05,
        reward="revenue",
        train_seed=9,
        challenger_share=0.3,
        discount_percent=20,
        free_shipping_cost=0.07,
        gross_margin=0.35,
        send_costs="sms=0.06",
    )
    planner = Planner.from_settings(settings)
    assert planner.economics == Economics(0.2, 0.07, 0.35, {"sms": 0.06})
    learned = Planner.from_settings(
        SimpleNamespace(**{**vars(settings), "policy": "auto"}), ModelSet(policy=LoadedModel(1, 1, object()))
    )
    assert learned.policy.economics == planner.economics  # what the learned policy weighs
    assert (
        planner.mode,
        planner.fixed_flow,
        planner.exploration,
        planner.min_incentive_lift,
        planner.reward,
        planner.seed,
        planner.challenger_share,
    ) == ("fixed", "sms@30m", 0.2, 0.05, "revenue", 9, 0.3)
    assert planner.plan(make_ctx()).channel == "sms"


def test_a_challenger_decides_its_share_of_carts_and_every_touch_of_a_cart_it_took():
    trial = CountingRewardModel()
    models = ModelSet(challenger=LoadedModel(50, 7, trial, {"status": "challenger"}))
    planner = Planner("auto", models, exploration=0.0, seed=2, challenger_share=0.3)
    carts = [ABANDONED + timedelta(minutes=13 * i) for i in range(400)]
    by_cart = [
        {planner.plan(make_ctx(touch=t, abandoned_at=at, now=at + timedelta(hours=t))).policy for t in (1, 2, 3)}
        for at in carts
    ]
    assert all(len(policies) == 1 for policies in by_cart)  # a cart never changes arm between touches
    share = sum(policies == {"bandit-v7"} for policies in by_cart) / len(carts)
    assert 0.22 < share < 0.38
    assert {p for policies in by_cart for p in policies} == {"bandit-v7", "rules-v1+explore"}
    assert trial.calls > 0


def test_no_challenger_without_its_status_or_outside_auto_mode():
    trial = LoadedModel(50, 7, CountingRewardModel(), {"status": "rejected"})
    assert Planner("auto", ModelSet(challenger=trial)).challenger is None
    running = replace(trial, meta={"status": "challenger"})
    assert Planner("rules", ModelSet(challenger=running)).challenger is None
    assert Planner("auto", ModelSet(challenger=running), challenger_share=0.0).challenger is None
    assert Planner("auto", ModelSet(challenger=running)).challenger is not None
