"""The retraining activities on a seeded database: every candidate stored (promoted with a signed
artifact that loads and predicts the same, rejected without one), skipped kinds with training's
reason, progress reported step by step, failures recorded for every kind."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import insert, update
from sqlmodel import Session, col, select
from temporalio.testing import ActivityEnvironment

from activities.training import TrainingActivities
from channel_models.learning.training import Candidate, train_models
from channel_models.actions import action_index
from channel_models.context import PlanContext, Reachability
from channel_models.learning.features import encode_frame, snapshot
from services.model_ops.model_cache import CachedPlanner, ModelCache, load_version
from services.model_ops.overview import kind_status, service_now
from services.core.settings import Settings
from services.store.tables import Cart, Decision, Message, ModelVersion, Outcome, ReasonLabel
from services.store.frames.training_data import load_frames
from tests.channel_models.planner_builders import make_ctx
from workflows.types import RetrainRequest, TrainingFailure

SECRET = "training-activity-secret-0123456789"
# touch 1 of a treated cart may be e-mail or SMS at any delay, no incentive: 10 actions, logged uniformly
LOGGED_ACTIONS = [action_index(channel, delay, None) for channel in ("email", "sms") for delay in (0.25, 1.0, 4.0, 24.0, 48.0)]
FAST_EMAIL = {action_index("email", 0.25, None), action_index("email", 1.0, None)}


def low_threshold_settings(tmp_path, **overrides) -> Settings:
    """Thresholds a few thousand seeded carts pass; overdue training never alerts in the test."""
    values = dict(_env_file=None, data_dir=tmp_path, secret_key=SECRET, model_min_days=3, model_min_carts=200,
                  model_min_conversions=20, reason_min_labels=50, model_overdue_hours=24 * 365, model_stale_hours=24 * 365)
    return Settings(**(values | overrides))


def seed_shop(engine, *, carts: int = 3000, days: int = 20, seed: int = 0) -> None:
    """Ended journeys over `days` before the latest Monday: half holdout, half one uniformly
    explored touch.

    Ground truth the rule prior cannot see: desktop shoppers and e-mail traffic come back on their
    own more often (propensity), and a fast e-mail recovers many more (policy); survey reasons
    follow the device (reason classifier)."""
    rng = random.Random(seed)
    # the latest Monday midnight: local hour and weekday features, and so the fits, are the same every run
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    now = today - timedelta(days=today.weekday())
    rows = {name: [] for name in ("carts", "decisions", "messages", "outcomes", "labels")}
    for i in range(carts):
        abandoned = now - timedelta(days=days) + timedelta(seconds=rng.uniform(0, (days - 0.5) * 86400))
        device, source = rng.choice(["mobile", "desktop"]), rng.choice(["email", "search", "social"])
        ctx = PlanContext(
            touch=1, max_touches=3, now=abandoned + timedelta(minutes=10), abandoned_at=abandoned,
            deadline=abandoned + timedelta(days=5), cart_value=rng.uniform(20, 200), item_count=rng.randint(1, 4),
            stage="checkout", configured=("email", "sms"), device=device, source=source,
            reachability={c: Reachability(True, "granted") for c in ("email", "sms")},
        )
        features = snapshot(ctx)
        organic = 0.1 + 0.3 * (device == "desktop") + 0.2 * (source == "email")
        holdout = i % 2 == 0
        cart_id = f"c{i:06d}"
        recovered = rng.random() < organic
        if not holdout:
            action = rng.choice(LOGGED_ACTIONS)
            recovered = recovered or rng.random() < (0.9 if action in FAST_EMAIL else 0.0)
            rows["decisions"].append(dict(
                id=i + 1, cart_id=cart_id, touch=1, decided_at=ctx.now, policy="rules-v1+explore", stop=False,
                channel="email" if action < 15 else "sms", send_at=ctx.now, reason="other", reason_confidence=0.5,
                propensity=0.3, bucket="Moderate", action_propensity=1 / len(LOGGED_ACTIONS), allowed={}, blocked={},
                explanation=[], features=features, action=action, allowed_actions=LOGGED_ACTIONS, model_versions={},
            ))
            rows["messages"].append(dict(
                idempotency_key=f"recovery/s/{cart_id}/1", cart_id=cart_id, decision_id=i + 1, touch=1,
                channel="email" if action < 15 else "sms", status="sent", created_at=ctx.now, sent_at=ctx.now,
            ))
        rows["carts"].append(dict(
            id=cart_id, shop="s", token=cart_id, platform="generic", value_cents=int(ctx.cart_value * 100), items=[],
            stage="checkout", status="recovered" if recovered else "not_recovered", journey_state="done",
            holdout=holdout, created_at=abandoned - timedelta(minutes=30), updated_at=abandoned, abandoned_at=abandoned,
            features=features,
        ))
        rows["outcomes"].append(dict(
            cart_id=cart_id, status="recovered" if recovered else "not_recovered", holdout=holdout, value_cents=0,
            touches_sent=0 if holdout else 1, time_to_recovery_s=3 * 3600.0 if recovered else None,
            recorded_at=min(abandoned + timedelta(days=5), now),
        ))
        if i % 10 == 0:
            reason = "shipping_cost" if (device == "desktop") == (rng.random() < 0.85) else "price"
            rows["labels"].append(dict(cart_id=cart_id, reason=reason, source="survey", recorded_at=abandoned + timedelta(hours=1)))
    with Session(engine) as session:
        for table, name in ((Cart, "carts"), (Decision, "decisions"), (Message, "messages"), (Outcome, "outcomes"), (ReasonLabel, "labels")):
            session.execute(insert(table), rows[name])
        session.commit()


def versions(engine) -> dict[str, list[tuple[int, str]]]:
    with Session(engine) as session:
        out: dict[str, list] = {}
        for row in session.exec(select(ModelVersion).order_by(ModelVersion.id)):
            out.setdefault(row.kind, []).append((row.version, row.status, row.artifact is not None))
        return out


def statuses(engine, settings) -> dict[str, str]:
    with Session(engine) as session:
        now = service_now(session)
        return {kind: kind_status(session, settings, kind, now).status for kind in ("policy", "propensity", "reason")}


@pytest.fixture
def shop(engine, tmp_path):
    seed_shop(engine)
    return engine


def test_retrain_promotes_what_beats_the_rule_prior_and_stores_every_candidate(shop, tmp_path):
    settings = low_threshold_settings(tmp_path)
    assert statuses(shop, settings) == {"policy": "Learning", "propensity": "Learning", "reason": "Learning"}
    cache = ModelCache(shop, settings)
    steps: list[tuple[str, int, int]] = []
    report = TrainingActivities(shop, settings, cache).retrain(RetrainRequest("manual", "admin"), lambda *p: steps.append(p))

    outcomes = {o.kind: (o.outcome, o.version) for o in report.outcomes}
    assert outcomes == {"policy": ("promoted", 1), "propensity": ("promoted", 1), "reason": ("promoted", 1)}, report
    assert [o.kind for o in report.outcomes] == ["policy", "propensity", "reason"] and report.rows == 1500
    why = {o.kind: o.why for o in report.outcomes}
    assert "DR value" in why["policy"] and "AUC" in why["propensity"] and "log loss" in why["reason"]
    assert versions(shop) == {kind: [(1, "active", True)] for kind in ("policy", "propensity", "reason")}
    assert statuses(shop, settings) == {"policy": "Active", "propensity": "Active", "reason": "Active"}
    assert cache.current().policy.version == 1  # the promoting process sees it at once
    decision = CachedPlanner(cache, settings).plan(make_ctx())
    assert decision.policy.startswith("bandit-v1") and set(decision.model_versions) == {"policy", "propensity", "reason"}

    # progress: from loading to stored, never backwards, one step per model trained
    assert steps[0] == ("loading data", 0, 5) and steps[-1] == ("stored", 5, 5)
    assert [done for _, done, _ in steps] == sorted(done for _, done, _ in steps)
    assert {"training propensity", "training reason", "training policy", "storing"} <= {step for step, _, _ in steps}

    # the stored artifact is the trained model: loaded back it predicts what the cache plans with
    with Session(shop) as session:
        row = session.exec(select(ModelVersion).where(ModelVersion.kind == "propensity")).one()
        loaded = load_version(row, settings.signing_key())
        assert row.library_versions["sklearn"] and row.metrics["auc"] > row.metrics["baseline_auc"]
        assert row.data_to <= row.eval_from and row.rows_train > row.rows_eval > 0
    X = encode_frame(load_frames(shop).carts)
    np.testing.assert_array_equal(loaded.model.predict_proba(X), cache.current().propensity.model.predict_proba(X))


def test_a_candidate_that_does_not_beat_the_active_one_is_stored_rejected_without_artifact(sqlite_engine, tmp_path):
    moment = datetime(2024, 5, 1, tzinfo=timezone.utc)

    def no_better(*args, **kwargs):
        kwargs["progress"]("training propensity", 0, 1)
        metrics = {"auc": np.float64(0.61), "baseline_auc": 0.64, "ece": float("nan")}  # numpy and NaN: JSON needs neither
        return [Candidate("propensity", object(), metrics, False, "AUC 0.610 vs 0.640 for version 3",
                          moment, moment + timedelta(days=8), moment + timedelta(days=8), moment + timedelta(days=10), 800, 200)]

    report = TrainingActivities(sqlite_engine, low_threshold_settings(tmp_path), train=no_better).retrain(RetrainRequest(), lambda *p: None)
    assert [(o.kind, o.outcome, o.version, o.why) for o in report.outcomes] == [
        ("policy", "skipped", None, "no candidate was trained"),
        ("propensity", "rejected", 1, "AUC 0.610 vs 0.640 for version 3"),
        ("reason", "skipped", None, "no candidate was trained"),
    ]
    with Session(sqlite_engine) as session:
        row = session.exec(select(ModelVersion)).one()
    assert (row.status, row.artifact, row.artifact_hmac, row.note, row.rows_train) == ("rejected", None, None, "AUC 0.610 vs 0.640 for version 3", 800)
    assert row.metrics == {"auc": 0.61, "baseline_auc": 0.64, "ece": None} and row.promoted_at is None


def test_kinds_without_data_are_skipped_with_trainings_reason(sqlite_engine, tmp_path):
    report = TrainingActivities(sqlite_engine, low_threshold_settings(tmp_path)).retrain(RetrainRequest(), lambda *p: None)
    assert [(o.kind, o.outcome, o.version) for o in report.outcomes] == [("policy", "skipped", None), ("propensity", "skipped", None), ("reason", "skipped", None)]
    assert {o.kind: o.why for o in report.outcomes} == {
        "policy": "no logged decisions yet", "propensity": "no carts with an outcome yet", "reason": "no labelled reasons yet",
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
    assert {kind: rows for kind, rows in versions(sqlite_engine).items()} == {k: [(1, "failed", False)] for k in ("policy", "propensity", "reason")}
    with Session(sqlite_engine) as session:
        report = kind_status(session, settings, "propensity", service_now(session))
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
    assert heartbeats and heartbeats[-1] == ("stored", 5, 5)
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
    shadow, stores the verdict, and the status and the planner follow it."""
    settings = low_threshold_settings(tmp_path)

    def scrambled(decisions, *args, **kwargs):  # night 1: a bad policy gets promoted
        noise = decisions.assign(reward=np.random.default_rng(0).permutation(decisions["reward"].to_numpy()))
        return [replace(c, promote=True) if c.kind == "policy" else c for c in train_models(noise, *args, **kwargs)]

    def not_promoted(*args, **kwargs):  # night 2: tonight's candidate does not clear the gate
        return [replace(c, promote=False) if c.kind == "policy" else c for c in train_models(*args, **kwargs)]

    TrainingActivities(shop, settings, train=scrambled).retrain(RetrainRequest(), lambda *p: None)
    assert statuses(shop, settings)["policy"] == "Active"
    with Session(shop) as session:
        session.execute(update(Decision).values(rule_action=action_index("email", 0.25, None)))
        session.commit()
    cache = ModelCache(shop, settings)
    TrainingActivities(shop, settings, cache, train=not_promoted).retrain(RetrainRequest(), lambda *p: None)

    with Session(shop) as session:
        newest = session.exec(select(ModelVersion).where(ModelVersion.kind == "policy").order_by(col(ModelVersion.id).desc())).first()
    assert (newest.version, newest.status) == (2, "rejected")
    assert newest.metrics["active_quality_fell"] is True and newest.metrics["rules_rows"] > 200
    assert newest.metrics["active_vs_rules_high"] < 0
    assert statuses(shop, settings)["policy"] == "Alert"
    models = cache.current()
    assert models.policy is None and models.propensity is not None  # only the fallen kind steps aside
    decision = CachedPlanner(cache, settings).plan(make_ctx())
    assert decision.policy == "rules-v1+explore" and decision.rule_action is None
