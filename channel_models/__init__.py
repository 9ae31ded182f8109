"""Channel models: abandonment reason, channel masks, propensity and the rule-based planner.

``RulePolicy().plan(ctx)`` is the public entry point until trained models earn trust; the rules
are documented in channel_models/rules/rule_policy.py and the modules it uses.
"""

from channel_models.context import (
    BUCKETS,
    CHANNELS,
    INCENTIVES,
    REASONS,
    PlanContext,
    Reachability,
    TouchDecision,
)
from channel_models.compliance.eligibility import channel_masks
from channel_models.rules.propensity import bucket_for, self_recovery_propensity
from channel_models.rules.reasons import infer_reason
from channel_models.rules.rule_policy import RulePolicy

__all__ = [
    "BUCKETS",
    "CHANNELS",
    "INCENTIVES",
    "REASONS",
    "PlanContext",
    "Reachability",
    "RulePolicy",
    "TouchDecision",
    "bucket_for",
    "channel_masks",
    "infer_reason",
    "self_recovery_propensity",
]
