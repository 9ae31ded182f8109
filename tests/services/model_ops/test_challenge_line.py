"""The policy line's account of a version on trial (services/model_ops/overview.py)."""

from services.model_ops.overview import challenge_line
from services.store.tables import ModelVersion

VERDICT = {
    "decision": "continue",
    "difference": 0.031,
    "likelihood_ratio": 3.2,
    "threshold": 20.0,
    "challenger_carts": 412,
    "incumbent_carts": 1650,
    "carts_to_decide": 900,
}


def trial(**metrics) -> ModelVersion:
    return ModelVersion(kind="policy", version=4, status="challenger", metrics=metrics)


def test_says_what_the_trial_has_earned_and_when_it_decides():
    assert challenge_line(trial(challenge=VERDICT), 0.2) == (
        "except for 20% of carts, which v4 decides on trial: +3.1 points of recovery against the incumbent "
        "over 412 of its carts and 1,650 of the incumbent's; a decision expected after about 900 more carts "
        "if that holds"
    )


def test_a_trial_without_judged_carts_or_without_a_foreseeable_decision_says_so():
    assert challenge_line(trial(), 0.25).endswith("(no carts with a closed attribution window yet)")
    level = dict(VERDICT, difference=0.0, carts_to_decide=None)
    assert challenge_line(trial(challenge=level), 0.2).endswith("too close to call at any volume yet")
