"""The service's vocabulary: the one definition of every closed set the code names.

Everything else imports these; nothing restates them. Orders are meaningful where noted.
"""

from __future__ import annotations

from typing import Literal

CHANNELS = ("email", "sms", "push", "retargeting")
Channel = Literal["email", "sms", "push", "retargeting"]  # CHANNELS as a type (a test keeps them equal)
REASONS = ("shipping_cost", "price", "indecision", "technical", "other")
# Self-recovery propensity in five buckets of about 20 % each, lowest first.
BUCKETS = ("Very low", "Low", "Moderate", "High", "Very high")
INCENTIVES = ("free_shipping", "discount")
# Retraining fits, reports and lists the kinds in this order.
MODEL_KINDS = ("policy", "propensity", "reason")
# The contact kinds that make a channel reachable, in the order a recipient is looked up.
CONTACTS_FOR = {
    "email": ("email",),
    "sms": ("phone",),
    "push": ("push_token",),
    "retargeting": ("audience_id", "email", "phone"),
}
