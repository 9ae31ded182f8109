"""What plans the touches, and how far it is from being replaced by learned models.

No learned model exists in this version: the rule-based planner decides every touch, so the
report says so (status "Learning") and shows the data gathered so far in its range, instead of
quality figures that would have to be invented."""

from __future__ import annotations

from channel_models.rules import POLICY_NAME

NEEDS = (
    "No learned model has been trained yet, so the rule-based planner {planner} decides every touch. "
    "Learned models need logged decisions and outcomes (days of data, planned carts and attributed "
    "recoveries past their thresholds); their quality (AUC, calibration, off-policy value) is reported "
    "once one is trained."
)


def model_status(*, planned_carts: int, attributed_recoveries: int, days_with_carts: int) -> dict:
    return {
        "planner": POLICY_NAME,
        "status": "Learning",
        "quality": None,
        "needs": NEEDS.format(planner=POLICY_NAME),
        "data": {
            "planned_carts": planned_carts,
            "attributed_recoveries": attributed_recoveries,
            "days_with_carts": days_with_carts,
        },
    }
