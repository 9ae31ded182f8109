"""ModelCache: loads the active versions that may decide, refreshes after a promotion (at most
every CR_MODEL_REFRESH_SECONDS), never loads an artifact it cannot verify; CachedPlanner plans
with CR_POLICY over them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlmodel import Session

from channel_models.learning.propensity_model import PropensityModel
from channel_models.registry.artifacts import dump_artifact, library_versions
from services.core.settings import Settings
from services.model_ops.model_cache import CachedPlanner, ModelCache
from services.store.model_versions import record_failure, record_version
from tests.utils.planner_builders import make_ctx

SECRET = "model-cache-secret-key-0123456789"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings_for(tmp_path, **overrides) -> Settings:
    values = dict(
        _env_file=None,
        data_dir=tmp_path,
        secret_key=SECRET,
        model_refresh_seconds=30,
        model_min_days=0,
        model_min_carts=0,
        model_min_conversions=0,
    )
    return Settings(**(values | overrides))


def fitted_model(seed: int = 0) -> tuple[PropensityModel, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, 4))
    y = (X[:, 0] + rng.normal(scale=0.8, size=600)) > 0
    return PropensityModel(seed=seed, max_iter=20, min_samples_leaf=10).fit(X, y), X


def promote(engine, model, key: bytes, kind: str = "propensity", hmac_hex: str | None = None) -> int:
    data, mac = dump_artifact(model, key)
    now = datetime.now(UTC)
    with Session(engine) as session:
        row = record_version(
            session,
            kind=kind,
            status="active",
            metrics={"auc": 0.7},
            params={},
            library_versions=library_versions(),
            data_from=now - timedelta(days=20),
            data_to=now - timedelta(days=4),
            eval_from=now - timedelta(days=4),
            eval_to=now,
            rows_train=480,
            rows_eval=120,
            artifact=data,
            artifact_hmac=hmac_hex or mac,
            note="test",
            now=now,
        )
        session.commit()
        return row.version


def test_empty_database_gives_no_models(sqlite_engine, tmp_path):
    models = ModelCache(sqlite_engine, settings_for(tmp_path)).current()
    assert (models.policy, models.propensity, models.reason) == (None, None, None)


def test_promotion_is_picked_up_after_the_refresh_interval_and_predicts_the_same(engine, tmp_path):
    settings, clock = settings_for(tmp_path), Clock()
    cache = ModelCache(engine, settings, monotonic=clock)
    assert cache.current().propensity is None
    model, X = fitted_model()
    promote(engine, model, settings.signing_key())
    clock.now += 29
    assert cache.current().propensity is None  # not looked at again within 30 s
    clock.now += 1
    loaded = cache.current().propensity
    assert loaded is not None
    assert loaded.version == 1
    assert loaded.meta["metrics"] == {"auc": 0.7}
    np.testing.assert_array_equal(loaded.model.predict_proba(X), model.predict_proba(X))
    assert cache.statuses()["propensity"].status == "Active"

    better, _ = fitted_model(seed=1)
    promote(engine, better, settings.signing_key())
    cache.invalidate()  # what the retraining activity does in the promoting process
    assert cache.current().propensity.version == 2
    np.testing.assert_array_equal(cache.current().propensity.model.predict_proba(X), better.predict_proba(X))


def test_unchanged_versions_are_not_loaded_again(sqlite_engine, tmp_path, monkeypatch):
    import services.model_ops.model_cache as module

    settings, clock = settings_for(tmp_path), Clock()
    promote(sqlite_engine, fitted_model()[0], settings.signing_key())
    loads = []
    real = module.load_artifact
    monkeypatch.setattr(module, "load_artifact", lambda *a: loads.append(1) or real(*a))
    cache = ModelCache(sqlite_engine, settings, monotonic=clock)
    for _ in range(5):
        assert cache.current().propensity is not None
        clock.now += 31
    assert len(loads) == 1


def test_a_model_in_learning_never_decides(sqlite_engine, tmp_path):
    settings = settings_for(tmp_path, model_min_carts=1000)
    promote(sqlite_engine, fitted_model()[0], settings.signing_key())
    cache = ModelCache(sqlite_engine, settings)
    assert cache.current().propensity is None
    assert cache.statuses()["propensity"].status == "Learning"


def test_alert_after_a_failed_training_keeps_the_active_version_deciding(sqlite_engine, tmp_path):
    settings = settings_for(tmp_path)
    promote(sqlite_engine, fitted_model()[0], settings.signing_key())
    with Session(sqlite_engine) as session:
        record_failure(session, "propensity", "ValueError: no rows", datetime.now(UTC))
        session.commit()
    cache = ModelCache(sqlite_engine, settings)
    assert cache.statuses() == {}
    assert cache.current().propensity is not None  # the registry: an Alert about the pipeline keeps it
    assert cache.statuses()["propensity"].status == "Alert"


@pytest.mark.parametrize("how", ["another key", "tampered mac"])
def test_an_artifact_that_does_not_verify_is_never_loaded(sqlite_engine, tmp_path, how, caplog):
    settings = settings_for(tmp_path)
    model = fitted_model()[0]
    if how == "another key":
        promote(sqlite_engine, model, b"someone-elses-key-0123456789")
    else:
        promote(sqlite_engine, model, settings.signing_key(), hmac_hex="f" * 64)
    assert ModelCache(sqlite_engine, settings).current().propensity is None
    assert "could not be loaded" in caplog.text


def test_cached_planner_follows_the_policy_setting(sqlite_engine, tmp_path):
    class Counting(ModelCache):
        calls = 0

        def current(self):
            Counting.calls += 1
            return super().current()

    ctx = make_ctx()
    rules = CachedPlanner(
        Counting(sqlite_engine, settings_for(tmp_path, policy="rules")), settings_for(tmp_path, policy="rules")
    )
    assert rules.plan(ctx).policy == "rules-v1"
    assert Counting.calls == 0  # rules never need the models
    auto = CachedPlanner(Counting(sqlite_engine, settings_for(tmp_path)), settings_for(tmp_path))
    decision = auto.plan(ctx)
    assert Counting.calls == 1
    assert decision.policy.startswith("rules-v1")  # no model Active: the rule prior explores
    fixed = settings_for(tmp_path, policy="fixed")
    assert CachedPlanner(ModelCache(sqlite_engine, fixed), fixed).plan(ctx).policy == "fixed-v1"
