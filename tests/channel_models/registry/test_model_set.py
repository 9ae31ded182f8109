from channel_models.registry.model_set import LoadedModel, ModelSet


def loaded(version_id: int, status: str = "active") -> LoadedModel:
    return LoadedModel(version_id=version_id, version=1, model=object(), meta={"status": status})


def test_active_only_keeps_every_model_in_its_own_kind():
    models = ModelSet(reason=loaded(1), propensity=loaded(2), policy=loaded(3))
    kept = models.active_only()
    assert kept.reason is models.reason
    assert kept.propensity is models.propensity
    assert kept.policy is models.policy


def test_active_only_drops_a_model_whose_status_is_not_active():
    kept = ModelSet(reason=loaded(1, "alert"), propensity=loaded(2), policy=loaded(3, "learning")).active_only()
    assert kept.reason is None
    assert kept.propensity is not None
    assert kept.policy is None
    assert kept.versions() == {"propensity": 2}
