"""The data facts behind the training thresholds and model status (SQLite, PostgreSQL): counts, rates, history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from services.store.frames.data_facts import data_facts
from services.store.model_versions import record_failure, record_version
from services.store.tables import ModelVersion, ReasonLabel
from tests.utils.training_journeys import T0, H, cart, key, outcome, snap

# --- data facts --------------------------------------------------------------------------------
NOW = T0 + timedelta(days=20)


def version(session, kind, status, at, **metrics):
    return record_version(
        session,
        kind=kind,
        status=status,
        metrics=metrics,
        params={},
        library_versions={},
        data_from=at - timedelta(days=10),
        data_to=at,
        eval_from=at,
        eval_to=at,
        rows_train=1,
        rows_eval=1,
        artifact=b"x" if status == "active" else None,
        artifact_hmac="m" if status == "active" else None,
        note="",
        now=at,
    )


def test_data_facts_count_ended_journeys_conversions_and_labels(journeys):
    with Session(journeys) as s:
        cart(s, "late", features=snap(1.0), abandoned=NOW - timedelta(days=2))
        outcome(s, "late", "recovered", placed=NOW - timedelta(days=1))
        s.add(ReasonLabel(cart_id=key("late"), reason="price", source="survey", recorded_at=NOW - timedelta(days=1)))
        s.commit()
        facts = data_facts(s, "policy", NOW)
    assert facts.first_abandoned_at == T0
    assert facts.last_decision_at == T0 + 2 * H  # the newest decision recorded (g's)
    # a, b, c, d, f, g, h, late; labels: the shoppers' answers (a, d, late), per cart
    assert (facts.carts, facts.conversions, facts.labels) == (8, 5, 3)
    assert (facts.carts_per_day, facts.conversions_per_day, facts.labels_per_day) == (1 / 14, 1 / 14, 1 / 14)
    assert facts.last_training_at is None
    assert facts.last_training_ok is None
    assert facts.active_version is None


def test_rates_use_the_days_there_are_when_data_is_young(engine):
    with Session(engine) as s:
        cart(s, "x", features=snap(1.0), abandoned=NOW - timedelta(days=4))
        cart(s, "y", features=snap(1.0), abandoned=NOW - timedelta(days=1))
        outcome(s, "x", "not_recovered")
        outcome(s, "y", "recovered", placed=NOW)
        s.commit()
        facts = data_facts(s, "propensity", NOW)
    assert (facts.carts, facts.carts_per_day, facts.conversions_per_day) == (2, 0.5, 0.25)


def test_data_facts_training_history_per_kind(engine):
    with Session(engine) as s:
        version(s, "policy", "active", NOW - timedelta(days=3), dr=0.1)
        version(s, "policy", "rejected", NOW - timedelta(days=2), active_quality_fell=False)
        record_failure(s, "policy", "MemoryError: too big", NOW - timedelta(days=1))
        version(s, "reason", "active", NOW - timedelta(days=5))
        version(s, "reason", "rejected", NOW - timedelta(days=4), active_quality_fell=True)
        s.commit()
        policy, reason, propensity = (data_facts(s, kind, NOW) for kind in ("policy", "reason", "propensity"))
    assert (policy.last_training_at, policy.last_training_ok, policy.last_failure) == (
        NOW - timedelta(days=2),
        False,
        "MemoryError: too big",
    )
    assert (policy.active_version, policy.quality_fell) == (1, False)
    # the latest completed run (policy's, 2 days ago) counts for every kind: a kind it skipped for
    # lack of data is not overdue
    assert (reason.last_training_at, reason.last_training_ok, reason.last_failure) == (
        NOW - timedelta(days=2),
        True,
        None,
    )
    assert (reason.active_version, reason.quality_fell) == (1, True)
    assert (propensity.last_training_ok, propensity.active_version, propensity.quality_fell) == (None, None, False)
    assert propensity.last_training_at == NOW - timedelta(days=2)


def test_a_newer_promotion_clears_quality_fell(engine):
    with Session(engine) as s:
        version(s, "reason", "active", NOW - timedelta(days=5))
        version(s, "reason", "rejected", NOW - timedelta(days=4), active_quality_fell=True)
        version(s, "reason", "active", NOW - timedelta(days=3))
        s.commit()
        facts = data_facts(s, "reason", NOW)
        assert (facts.active_version, facts.quality_fell) == (3, False)
        assert s.get(ModelVersion, 1).status == "retired"


def test_data_facts_refuses_an_unknown_kind(engine):
    with Session(engine) as s, pytest.raises(ValueError, match="unknown model kind 'bandit'"):
        data_facts(s, "bandit", NOW)
