"""The planner facade ``plan_touch`` calls: which policy decides a touch, given the Active models.

Modes (``CR_POLICY``):

* ``rules`` - the rule prior (RulePolicy), deterministic, no exploration;
* ``fixed`` - the fixed flow (FixedFlowPolicy, ``CR_FIXED_FLOW``);
* ``auto`` - the learned policy (LearnedPolicy) once a policy model is Active; until then the rule
  prior with epsilon-greedy exploration (ExploringPolicy), so the decisions it logs carry the
  probabilities a first policy model is later trained and evaluated on. Reason and propensity
  models are used by either as soon as they are Active. While the learned policy decides, each
  decision also records the action the rule prior would have taken (``rule_action``): retraining
  values both on the same log, and a policy that fell below the rules goes to Alert.

With a policy model on trial (``ModelSet.challenger``), mode ``auto`` lets it decide
``challenger_share`` of carts (all touches of a cart alike, by a keyed hash of the cart's
abandonment time) while the incumbent - the Active policy or the exploring rule prior - decides the
rest; channel_models.learning.challenger judges the two on those carts' outcomes.

A ModelSet holds Active models only (None = not Active: Learning, Alert or never trained), so a
model in Learning never decides. As a second guard, a model whose metadata carries a status other
than "active" is dropped here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

from channel_models.compliance.action_mask import ActionMask
from channel_models.context import PlanContext, TouchDecision
from channel_models.economics import Economics
from channel_models.learning.challenger import in_challenger_arm
from channel_models.learning.features import encode_row, snapshot
from channel_models.learning.learned_policy import LearnedPolicy, assess
from channel_models.registry.model_set import ModelSet
from channel_models.rules.exploration import ExploringPolicy
from channel_models.rules.fixed_flow import FixedFlowPolicy
from channel_models.rules.propensity import DEFAULT_EDGES
from channel_models.rules.rule_policy import RulePolicy

MODES = ("auto", "rules", "fixed")


class InformedRulePolicy(RulePolicy):
    """The rule prior, with reason and propensity from the Active models where there are some."""

    def __init__(
        self, models: ModelSet | None = None, high_value: float = 100.0, bucket_edges: Sequence[float] = DEFAULT_EDGES
    ):
        super().__init__(high_value=high_value, bucket_edges=bucket_edges)
        self.models = models

    def _models(self) -> tuple[Any, Any]:
        models = self.models or ModelSet()
        return (models.reason and models.reason.model, models.propensity and models.propensity.model)

    def assess(self, ctx: PlanContext) -> tuple[str, float, float, str]:
        reason_model, propensity_model = self._models()
        if reason_model is None and propensity_model is None:
            return super().assess(ctx)
        cart = assess(ctx, encode_row(snapshot(ctx)), reason_model, propensity_model)
        return cart.reason, cart.reason_confidence, cart.propensity, cart.bucket

    def plan(self, ctx: PlanContext) -> TouchDecision:
        decision = super().plan(ctx)
        versions = (self.models or ModelSet()).versions()
        versions.pop("policy", None)  # the rules decided, not a policy model
        return replace(decision, model_versions=versions) if versions else decision


class AssessedRulePolicy(RulePolicy):
    """The rule prior on a cart a learned decision already assessed and masked: its reason and
    propensity come from the same Active models InformedRulePolicy would ask, and its allowed
    actions are the mask of the same bucket, so the shadow computes neither again."""

    def __init__(self, assessed: TouchDecision):
        super().__init__()
        self.assessed = (assessed.reason, assessed.reason_confidence, assessed.propensity, assessed.bucket)
        self.allowed = tuple(assessed.allowed_actions)

    def assess(self, ctx: PlanContext) -> tuple[str, float, float, str]:
        return self.assessed

    def bandit_view(self, ctx, bucket, channel, incentive, send_at) -> tuple[int | None, tuple[int, ...]]:
        return ActionMask(now=ctx.now, allowed=self.allowed, blocked={}).snap(channel, incentive, send_at), self.allowed


class Policy(Protocol):
    """Anything that decides a touch: the rule prior, the fixed flow, the learned policy, a Planner."""

    def plan(self, ctx: PlanContext) -> TouchDecision: ...


class Planner:
    """The facade: builds the policy ``mode`` and the Active models call for, and shadows a learned
    policy with the rule prior."""

    def __init__(
        self,
        mode: str = "auto",
        models: ModelSet | None = None,
        exploration: float = 0.1,
        fixed_flow: str = "email@4h,email@24h",
        min_incentive_lift: float = 0.02,
        reward: str = "recoveries",
        seed: int = 0,
        challenger_share: float = 0.2,
        economics: Economics | None = None,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.models = (models or ModelSet()).active_only()
        self.exploration = exploration
        self.fixed_flow = fixed_flow
        self.min_incentive_lift = min_incentive_lift
        self.reward = reward
        self.seed = seed
        self.challenger_share = challenger_share
        self.economics = economics or Economics()
        self.policy = self._policy()
        self.challenger = self._challenger()
        # a learned policy is shadowed by the rule prior it is judged against: computed, logged, never sent
        self.shadowed = isinstance(self.policy, LearnedPolicy)

    @classmethod
    def from_settings(cls, settings: Any, models: ModelSet | None = None) -> Planner:
        return cls(
            mode=settings.policy,
            models=models,
            exploration=settings.exploration,
            fixed_flow=settings.fixed_flow,
            min_incentive_lift=settings.min_incentive_lift,
            reward=settings.reward,
            seed=settings.train_seed,
            challenger_share=settings.challenger_share,
            economics=Economics.from_settings(settings),
        )

    def _policy(self):
        if self.mode == "rules":
            return RulePolicy()
        if self.mode == "fixed":
            return FixedFlowPolicy(self.fixed_flow)
        if self.models.policy is not None:
            return self._learned(self.models)
        return ExploringPolicy(InformedRulePolicy(self.models), epsilon=self.exploration, seed=self.seed)

    def _challenger(self) -> LearnedPolicy | None:
        """The policy model on trial, deciding ``challenger_share`` of carts (mode auto only)."""
        if self.mode != "auto" or self.models.challenger is None or self.challenger_share <= 0:
            return None
        return self._learned(replace(self.models, policy=self.models.challenger, challenger=None))

    def _learned(self, models: ModelSet) -> LearnedPolicy:
        return LearnedPolicy(
            models,
            epsilon=self.exploration,
            min_incentive_lift=self.min_incentive_lift,
            reward=self.reward,
            seed=self.seed,
            economics=self.economics,
        )

    def challenger_for(self, ctx: PlanContext) -> LearnedPolicy | None:
        """The challenger when it decides this cart: every touch of a cart goes the same way."""
        if self.challenger is None:
            return None
        key = f"{self.seed}|{round(ctx.abandoned_at.timestamp() * 1_000_000)}"
        return self.challenger if in_challenger_arm(key, self.challenger_share) else None

    def plan(self, ctx: PlanContext) -> TouchDecision:
        if (challenger := self.challenger_for(ctx)) is not None:
            return challenger.plan(ctx)
        decision = self.policy.plan(ctx)
        if not self.shadowed or decision.stop:
            return decision
        return replace(decision, rule_action=self.rule_action(ctx, decision))

    def rule_action(self, ctx: PlanContext, decision: TouchDecision) -> int | None:
        """What the rule prior would have done here, as one of the decision's allowed actions."""
        rules = AssessedRulePolicy(decision).plan(ctx)
        return None if rules.stop else rules.action
