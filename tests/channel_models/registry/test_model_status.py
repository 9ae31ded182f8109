from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channel_models.registry.model_status import ACTIVE, ALERT, LEARNING, DataFacts, Thresholds, model_status
from channel_models.vocabulary import MODEL_KINDS
from services.core.settings import Settings

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LIMITS = Thresholds(min_days=14, min_carts=1000, min_conversions=50, min_labels=200, overdue_hours=48, stale_hours=48)


def facts(**overrides) -> DataFacts:
    """A healthy shop with plenty of data, trained 3 h ago, version 2 active."""
    base = dict(
        first_abandoned_at=NOW - timedelta(days=30),
        last_decision_at=NOW - timedelta(minutes=5),
        carts=5000,
        conversions=400,
        labels=600,
        carts_per_day=150.0,
        conversions_per_day=12.0,
        labels_per_day=20.0,
        last_training_at=NOW - timedelta(hours=3),
        last_training_ok=True,
        last_failure=None,
        active_version=2,
        quality_fell=False,
    )
    return DataFacts(**(base | overrides))


def test_learning_reports_what_is_missing_and_when_it_should_arrive():
    young = facts(
        first_abandoned_at=NOW - timedelta(days=4),
        carts=400,
        conversions=20,
        labels=10,
        active_version=None,
        last_training_at=NOW - timedelta(hours=3),
    )
    report = model_status("propensity", young, LIMITS, NOW)
    assert report.status == LEARNING
    assert not report.decides
    assert report.remaining == {"days": 10.0, "carts": 600, "conversions": 30, "labels": 0}
    # carts: 600 / 150 = 4 days, conversions: 30 / 12 = 2.5 days, but 10 more days are needed anyway
    assert report.eta_days == 10.0
    assert any("600 more abandoned carts" in r for r in report.reasons)
    assert report.reasons[-1] == "the rule prior decides"


def test_the_reason_classifier_also_waits_for_labels():
    few_labels = facts(labels=50, labels_per_day=5.0, active_version=None)
    assert model_status("policy", few_labels, LIMITS, NOW).remaining["labels"] == 0
    report = model_status("reason", few_labels, LIMITS, NOW)
    assert report.status == LEARNING
    assert report.remaining["labels"] == 150
    assert report.eta_days == 30.0
    assert any("150 more labelled reasons" in r for r in report.reasons)


def test_no_recent_data_means_no_estimate():
    stalled = facts(carts=100, carts_per_day=0.0, active_version=None)
    report = model_status("policy", stalled, LIMITS, NOW)
    assert report.eta_days is None
    assert any("none came in the last 14 days" in r for r in report.reasons)


def test_learning_to_active_once_thresholds_are_met_and_a_version_is_promoted():
    moments = [
        (NOW - timedelta(days=10), facts(first_abandoned_at=NOW - timedelta(days=20), carts=300, active_version=None)),
        (NOW, facts(active_version=None)),  # thresholds met, nothing promoted yet
        (NOW, facts(active_version=1)),
    ]
    reports = [model_status("propensity", f, LIMITS, t) for t, f in moments]
    assert [r.status for r in reports] == [LEARNING, LEARNING, ACTIVE]
    assert [r.decides for r in reports] == [False, False, True]
    assert reports[1].eta_days == 0.0
    assert "waiting for a trained version to beat the rule prior" in reports[1].reasons[0]
    assert reports[2].reasons == ("version 1 decides",)


def test_a_failed_training_is_an_alert_but_the_active_version_keeps_deciding():
    report = model_status("policy", facts(last_training_ok=False, last_failure="MemoryError"), LIMITS, NOW)
    assert report.status == ALERT
    assert report.decides
    assert report.reasons[0] == "the last training failed: MemoryError"
    assert report.reasons[-1] == "version 2 decides"


def test_stopped_data_is_an_alert():
    report = model_status("reason", facts(last_decision_at=NOW - timedelta(hours=60)), LIMITS, NOW)
    assert report.status == ALERT
    assert report.decides
    assert "data stopped: no decision recorded for 60 h (limit 48 h)" in report.reasons[0]


def test_overdue_training_is_an_alert_also_when_none_ever_ran():
    overdue = model_status("policy", facts(last_training_at=NOW - timedelta(hours=50)), LIMITS, NOW)
    assert overdue.status == ALERT
    assert "no successful training for 50 h" in overdue.reasons[0]
    untrained = facts(last_training_at=None, last_training_ok=None, active_version=None)
    never = model_status("policy", untrained, LIMITS, NOW)
    assert never.status == ALERT
    assert not never.decides
    assert "no training at all since data began" in never.reasons[0]


def test_fallen_quality_is_an_alert_and_hands_back_to_the_rule_prior():
    report = model_status("propensity", facts(quality_fell=True), LIMITS, NOW)
    assert report.status == ALERT
    assert not report.decides
    assert report.reasons == (
        "the quality of version 2 fell on recent data",
        "the rule prior decides instead of version 2",
    )


def test_a_failure_while_learning_is_an_alert_that_still_does_not_decide():
    report = model_status("reason", facts(labels=10, last_training_ok=False, last_failure="boom"), LIMITS, NOW)
    assert report.status == ALERT
    assert not report.decides
    assert report.remaining["labels"] == 190


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown model kind 'bandit'"):
        model_status("bandit", facts(), LIMITS, NOW)


def test_thresholds_come_from_the_service_settings():
    settings = Settings(
        model_min_days=3,
        model_min_carts=10,
        model_min_conversions=2,
        reason_min_labels=5,
        model_overdue_hours=30,
        model_stale_hours=12,
    )
    assert Thresholds.from_settings(settings) == Thresholds(3, 10, 2, 5, 30, 12)


optional_time = st.one_of(st.none(), st.integers(0, 24 * 60).map(lambda h: NOW - timedelta(hours=h)))


@given(
    kind=st.sampled_from(MODEL_KINDS),
    first=optional_time,
    last=optional_time,
    trained=optional_time,
    carts=st.integers(0, 3000),
    conversions=st.integers(0, 200),
    labels=st.integers(0, 500),
    ok=st.sampled_from([None, True, False]),
    version=st.one_of(st.none(), st.integers(1, 9)),
    fell=st.booleans(),
)
def test_only_a_promoted_model_past_every_threshold_decides(
    kind, first, last, trained, carts, conversions, labels, ok, version, fell
):
    f = replace(
        facts(),
        first_abandoned_at=first,
        last_decision_at=last,
        last_training_at=trained,
        carts=carts,
        conversions=conversions,
        labels=labels,
        last_training_ok=ok,
        active_version=version,
        quality_fell=fell,
    )
    report = model_status(kind, f, LIMITS, NOW)
    if report.status == LEARNING:
        assert not report.decides
    assert report.decides == (version is not None and not fell and not any(report.remaining.values()))
    assert report.status in (LEARNING, ACTIVE, ALERT)
    assert report.reasons
