"""The retraining activities on a seeded database: every candidate stored (promoted with a signed
artifact that loads and predicts the same, rejected without one), skipped kinds with training's
reason, progress reported step by step, failures recorded for every kind."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select
from temporalio.testing import ActivityEnvironment

from activities.training import TrainingActivities
from channel_models.actions import action_index
from channel_models.learning.features import encode_frame
from channel_models.learning.training import Candidate, train_models
from services.core.clock import service_now
from services.model_ops.model_cache import CachedPlanner, ModelCache, load_version
from services.model_ops.overview import kind_status, models_overview
from services.store.frames.training_data import load_frames
from services.store.service_clock import stored_clock
from services.store.tables import Cart, Decision, ModelVersion
from tests.utils.planner_builders import ABANDONED, make_ctx
from tests.utils.training_seed import low_threshold_settings, seed_shop, statuses, versions
from workflows.types import RetrainRequest, TrainingFailure


def not_promoted(*args, **kwargs):  # tonight's policy candidate does not clear the off-policy gate
    return [replace(c, promote=False) if c.kind == "policy" else c for c in train_models(*args, **kwargs)]


@pytest.fixture
def shop(engine, tmp_path):
    seed_shop(engine)
    return engine


def test_retrain_promotes_what_beats_the_rule_prior_and_stores_every_candidate(shop, tmp_path):
    settings = low_threshold_settings(tmp_path)
    assert statuses(shop, settings) == {"policy": "Learning", "propensity": "Learning", "reason": "Learning"}
    cache = ModelCache(shop, settings)
    steps: list[tuple[str, int, int]] = []
    report = TrainingActivities(shop, settings, cache).retrain(
        RetrainRequest("manual", "admin"), lambda *p: steps.append(p)
    )

    outcomes = {o.kind: (o.outcome, o.version) for o in report.outcomes}
    assert outcomes == {"policy": ("promoted", 1), "propensity": ("promoted", 1), "reason": ("promoted", 1)}, report
    assert [o.kind for o in report.outcomes] == ["policy", "propensity", "reason"]
    # every logged decision, less those of carts whose attribution window is still open
    with Session(shop) as session:
        now = service_now(stored_clock(session))
        open_carts = select(Cart.id).where(
            col(Cart.abandoned_at) >= now - timedelta(hours=settings.attribution_window_hours)
        )
        still_open = len(session.exec(select(Decision.id).where(col(Decision.cart_id).in_(open_carts))).all())
    assert 0 < still_open < 1500
    assert (report.rows, report.open_decisions) == (1500 - still_open, still_open)
    why = {o.kind: o.why for o in report.outcomes}
    assert "DR value" in why["policy"]
    assert "AUC" in why["propensity"]
    assert "log loss" in why["reason"]
    assert versions(shop) == {kind: [(1, "active", True)] for kind in ("policy", "propensity", "reason")}
    assert statuses(shop, settings) == {"policy": "Active", "propensity": "Active", "reason": "Active"}
    assert cache.current().policy.version == 1  # the promoting process sees it at once
    decision = CachedPlanner(cache, settings).plan(make_ctx())
    assert decision.policy.startswith("bandit-v1")
    assert set(decision.model_versions) == {
        "policy",
        "propensity",
        "reason",
    }

    # progress: from loading to stored, never backwards, one step per model trained
    assert steps[0] == ("loading data", 0, 5)
    assert steps[-1] == ("stored", 5, 5)
    assert [done for _, done, _ in steps] == sorted(done for _, done, _ in steps)
    assert {"training propensity", "training reason", "training policy", "storing"} <= {step for step, _, _ in steps}

    # the stored artifact is the trained model: loaded back it predicts what the cache plans with
    with Session(shop) as session:
        row = session.exec(select(ModelVersion).where(ModelVersion.kind == "propensity")).one()
        loaded = load_version(row, settings.signing_key())
        assert row.library_versions["sklearn"]
        assert row.metrics["auc"] > row.metrics["baseline_auc"]
        assert row.data_to <= row.eval_from
        assert row.rows_train > row.rows_eval > 0
    X = encode_frame(load_frames(shop).carts)
    np.testing.assert_array_equal(loaded.model.predict_proba(X), cache.current().propensity.model.predict_proba(X))


def test_a_candidate_that_does_not_beat_the_active_one_is_stored_rejected_without_artifact(sqlite_engine, tmp_path):
    moment = datetime(2024, 5, 1, tzinfo=UTC)

    def no_better(*args, **kwargs):
        kwargs["progress"]("training propensity", 0, 1)
        metrics = {
            "auc": np.float64(0.61),
            "baseline_auc": 0.64,
            "ece": float("nan"),
        }  # numpy and NaN: JSON needs neither
        return [
            Candidate(
                "propensity",
                object(),
                metrics,
                False,
                "AUC 0.610 vs 0.640 for version 3",
                moment,
                moment + timedelta(days=8),
                moment + timedelta(days=8),
                moment + timedelta(days=10),
                800,
                200,
            )
        ]

    report = TrainingActivities(sqlite_engine, low_threshold_settings(tmp_path), train=no_better).retrain(
        RetrainRequest(), lambda *p: None
    )
    assert [(o.kind, o.outcome, o.version, o.why) for o in report.outcomes] == [
        ("policy", "skipped", None, "no candidate was trained"),
        ("propensity", "rejected", 1, "AUC 0.610 vs 0.640 for version 3"),
        ("reason", "skipped", None, "no candidate was trained"),
    ]
    with Session(sqlite_engine) as session:
        row = session.exec(select(ModelVersion)).one()
    assert (row.status, row.artifact, row.artifact_hmac, row.note, row.rows_train) == (
        "rejected",
        None,
        None,
        "AUC 0.610 vs 0.640 for version 3",
        800,
    )
    assert row.metrics == {"auc": 0.61, "baseline_auc": 0.64, "ece": None}
    assert row.promoted_at is None


def test_kinds_without_data_are_skipped_with_trainings_reason(sqlite_engine, tmp_path):
    report = TrainingActivities(sqlite_engine, low_threshold_settings(tmp_path)).retrain(
        RetrainRequest(), lambda *p: None
    )
    assert [(o.kind, o.outcome, o.version) for o in report.outcomes] == [
        ("policy", "skipped", None),
        ("propensity", "skipped", None),
        ("reason", "skipped", None),
    ]
    assert {o.kind: o.why for o in report.outcomes} == {
        "policy": "no logged decisions yet",
        "propensity": "no carts with an outcome yet",
        "reason": "no labelled reasons yet",
    }
    assert versions(sqlite_engine) == {}


def test_recorded_failure_puts_every_model_in_alert_and_invalidates_the_cache(sqlite_engine, tmp_path):
    settings = low_threshold_settings(tmp_path)
    seed_shop(sqlite_engine, carts=400)

    class Cache:
        invalidated = 0

        def invalidate(self):
            Cache.invalidated += 1

    TrainingActivities(sqlite_engine, settings, Cache()).record_training_failure(TrainingFailure("ValueError: boom"))
    assert statuses(sqlite_engine, settings) == {"policy": "Alert", "propensity": "Alert", "reason": "Alert"}
    assert {kind: rows for kind, rows in versions(sqlite_engine).items()} == {
        k: [(1, "failed", False)] for k in ("policy", "propensity", "reason")
    }
    with Session(sqlite_engine) as session:
        report = kind_status(session, settings, "propensity", service_now(stored_clock(session)))
    assert "the last training failed: ValueError: boom" in report.reasons
    assert Cache.invalidated == 1


async def test_activity_heartbeats_progress_and_returns_the_report(sqlite_engine, tmp_path):
    seed_shop(sqlite_engine, carts=600)
    heartbeats = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: heartbeats.append(details)
    activities = TrainingActivities(sqlite_engine, low_threshold_settings(tmp_path))
    report = await env.run(activities.retrain_models, RetrainRequest("manual", "admin"))
    assert {o.kind for o in report.outcomes} == {"policy", "propensity", "reason"}
    assert heartbeats
    assert heartbeats[-1] == ("stored", 5, 5)
    assert all(len(h) in (0, 3) for h in heartbeats)


async def test_activity_raises_what_training_raised(sqlite_engine, tmp_path):
    def broken(*args, **kwargs):
        raise ValueError("the frame has no action column")

    activities = TrainingActivities(sqlite_engine, low_threshold_settings(tmp_path), train=broken)
    with pytest.raises(ValueError, match="no action column"):
        await ActivityEnvironment().run(activities.retrain_models, RetrainRequest())
    assert versions(sqlite_engine) == {}  # the workflow records the failure once the retries are spent


def test_an_active_policy_that_fell_below_the_rules_shadow_goes_to_alert_and_the_rules_decide(shop, tmp_path):
    """Through the database: a policy promoted from scrambled rewards decides for a while with the
    rule prior's shadow logged beside it (here: e-mail at 15 minutes, what the truth rewards); the
    next night's candidate is not promoted, but the run values the active version against the
    shadow, stores the verdict, and the status and the planner follow it. (No champion /
    challenger split here: tonight's candidate would otherwise go on trial beside the rules.)"""
    settings = low_threshold_settings(tmp_path, challenger_share=0.0)

    def scrambled(decisions, *args, **kwargs):  # night 1: a bad policy gets promoted
        noise = decisions.assign(reward=np.random.default_rng(0).permutation(decisions["reward"].to_numpy()))
        return [replace(c, promote=True) if c.kind == "policy" else c for c in train_models(noise, *args, **kwargs)]

    TrainingActivities(shop, settings, train=scrambled).retrain(RetrainRequest(), lambda *p: None)
    assert statuses(shop, settings)["policy"] == "Active"
    with Session(shop) as session:
        session.execute(update(Decision).values(rule_action=action_index("email", 0.25, None)))
        session.commit()
    cache = ModelCache(shop, settings)
    TrainingActivities(shop, settings, cache, train=not_promoted).retrain(RetrainRequest(), lambda *p: None)

    with Session(shop) as session:
        newest = session.exec(
            select(ModelVersion).where(ModelVersion.kind == "policy").order_by(col(ModelVersion.id).desc())
        ).first()
    assert (newest.version, newest.status) == (2, "rejected")
    assert newest.metrics["active_quality_fell"] is True
    assert newest.metrics["rules_rows"] > 200
    assert newest.metrics["active_vs_rules_high"] < 0
    assert statuses(shop, settings)["policy"] == "Alert"
    models = cache.current()
    assert models.policy is None
    assert models.propensity is not None  # only the fallen kind steps aside
    decision = CachedPlanner(cache, settings).plan(make_ctx())
    assert decision.policy == "rules-v1+explore"
    assert decision.rule_action is None


def test_a_candidate_not_promoted_goes_on_trial_and_its_challenge_promotes_it(shop, tmp_path):
    """Night 1: the policy candidate misses the off-policy gate and goes on trial, deciding its
    share of carts. Its carts (planted: most of them recovered) are judged at night 2 by the
    sequential test: it becomes the active version, and night 2's candidate the next challenger."""
    settings = low_threshold_settings(tmp_path)
    cache = ModelCache(shop, settings)
    report = TrainingActivities(shop, settings, cache, train=not_promoted).retrain(RetrainRequest(), lambda *p: None)
    assert {o.kind: o.outcome for o in report.outcomes}["policy"] == "on trial"
    assert versions(shop)["policy"] == [(1, "challenger", True)]
    assert cache.current().policy is None and cache.current().challenger.version == 1
    planner = CachedPlanner(cache, settings)
    decided = {planner.plan(make_ctx(abandoned_at=ABANDONED + timedelta(minutes=7 * i))).policy for i in range(60)}
    assert decided == {"bandit-v1", "rules-v1+explore"}
    with Session(shop) as session:
        line = models_overview(session, settings)["models"][0]["line"]
    assert line.endswith(
        "except for 20% of carts, which v1 decides on trial (no carts with a closed attribution window yet)"
    )

    # the trial began before the seeded carts; the challenger's carts recovered far more often
    frames = load_frames(shop)
    first = frames.decisions.drop_duplicates("cart_id")
    recovered = first.loc[first["reward"] == 1, "cart_id"].tolist()
    lost = first.loc[first["reward"] == 0, "cart_id"].tolist()
    with Session(shop) as session:
        trial = session.exec(select(ModelVersion).where(ModelVersion.status == "challenger")).one()
        trial.created_at = first["decided_at"].min().to_pydatetime() - timedelta(days=1)
        session.add(trial)
        session.execute(
            update(Decision).where(col(Decision.cart_id).in_(recovered[::2] + lost[::8])).values(policy="bandit-v1")
        )
        session.commit()
    report = TrainingActivities(shop, settings, cache, train=not_promoted).retrain(RetrainRequest(), lambda *p: None)
    assert versions(shop)["policy"] == [(1, "active", True), (2, "challenger", True)]
    with Session(shop) as session:
        promoted = session.exec(
            select(ModelVersion).where(ModelVersion.version == 1, ModelVersion.kind == "policy")
        ).one()
    challenge = promoted.metrics["challenge"]
    assert challenge["decision"] == "promote" and challenge["difference"] > 0.2
    assert promoted.note.startswith("promoted by its challenge")
    assert statuses(shop, settings)["policy"] == "Active"
    cache.invalidate()  # as retrain_models does after storing
    assert cache.current().policy.version == 1 and cache.current().challenger.version == 2
