import os

import numpy as np
import pytest
import skops.io as sio

import channel_models.registry.artifacts as artifacts
from channel_models.learning.propensity_model import PropensityModel
from channel_models.learning.reason_model import ReasonClassifier
from channel_models.registry.artifacts import (
    ArtifactError,
    ArtifactIntegrityError,
    UntrustedArtifactError,
    artifact_hmac,
    dump_artifact,
    library_versions,
    load_artifact,
)
from channel_models.vocabulary import REASONS

KEY = b"k" * 32


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 8))
    recovered = rng.random(3000) < 1 / (1 + np.exp(-(X[:, 0] - X[:, 1])))
    reasons = np.array(REASONS, dtype=object)[np.argmax(X[:, :5] + rng.normal(size=(3000, 5)), axis=1)]
    return X, recovered, reasons


@pytest.fixture(scope="module")
def models(data):
    X, recovered, reasons = data
    return {
        "propensity": PropensityModel(max_iter=40).fit(X, recovered),
        "reason": ReasonClassifier().fit(X, reasons),
    }


@pytest.mark.parametrize("kind", ["propensity", "reason"])
def test_saved_then_loaded_model_predicts_the_same(kind, models, data):
    model = models[kind]
    blob, mac = dump_artifact(model, KEY)
    loaded = load_artifact(blob, mac, KEY)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    assert np.array_equal(loaded.predict_proba(data[0]), model.predict_proba(data[0]))
    if kind == "propensity":
        assert loaded.bucket_edges_ == model.bucket_edges_
    else:
        assert loaded.predict_reason(data[0][0]) == model.predict_reason(data[0][0])


def test_hmac_is_checked_before_anything_is_parsed(models, monkeypatch):
    blob, mac = dump_artifact(models["reason"], KEY)
    parsed = []
    monkeypatch.setattr(artifacts.sio, "get_untrusted_types", lambda **kw: parsed.append("types"))
    monkeypatch.setattr(artifacts.sio, "loads", lambda *a, **kw: parsed.append("loads"))
    tampered = bytearray(blob)
    tampered[len(tampered) // 2] ^= 0x01
    with pytest.raises(ArtifactIntegrityError, match="HMAC mismatch"):
        load_artifact(bytes(tampered), mac, KEY)
    with pytest.raises(ArtifactIntegrityError, match="HMAC mismatch"):
        load_artifact(blob, mac, b"another key")
    with pytest.raises(ArtifactIntegrityError, match="HMAC mismatch"):
        load_artifact(blob, mac[:-1] + ("0" if mac[-1] != "0" else "1"), KEY)
    with pytest.raises(ArtifactIntegrityError):
        load_artifact(blob, None, KEY)
    assert parsed == []


class Intruder:
    """A type the service never writes; it records whether skops ever built it."""

    built = 0

    def __init__(self):
        self.payload = "x"

    def __setstate__(self, state):
        Intruder.built += 1
        self.__dict__.update(state)


@pytest.mark.parametrize("make", [lambda: Intruder(), lambda: os.system], ids=["class", "function"])
def test_a_signed_artifact_with_an_untrusted_type_is_refused(make, models):
    payload = {"model": models["reason"], "extra": make()}
    blob = sio.dumps(payload)  # written outside dump_artifact, then signed with the real key
    with pytest.raises(UntrustedArtifactError, match="outside the allow-list") as refused:
        load_artifact(blob, artifact_hmac(blob, KEY), KEY)
    assert "Intruder" in str(refused.value) or "system" in str(refused.value)
    assert Intruder.built == 0
    with pytest.raises(UntrustedArtifactError, match="refusing to store"):
        dump_artifact(payload, KEY)


def test_an_empty_key_is_refused(models):
    with pytest.raises(ArtifactError, match="key is required"):
        dump_artifact(models["reason"], b"")
    blob, mac = dump_artifact(models["reason"], KEY)
    with pytest.raises(ArtifactError, match="key is required"):
        load_artifact(blob, mac, b"")


def test_library_versions_name_every_library_a_model_depends_on():
    versions = library_versions()
    assert set(versions) == {"python", "sklearn", "numpy", "pandas", "skops"}
    assert all(isinstance(v, str) and v[0].isdigit() for v in versions.values())


def test_an_artifact_stored_before_the_models_moved_package_still_loads(models, data, monkeypatch):
    """Artifacts written before December 2026 name channel_models.propensity_model (now
    channel_models.learning.propensity_model); a worker must still load the Active version."""
    X, _, _ = data
    model = models["propensity"]
    monkeypatch.setattr(PropensityModel, "__module__", "channel_models.propensity_model")
    monkeypatch.setattr(
        artifacts, "TRUSTED_TYPES", artifacts.TRUSTED_TYPES | {"channel_models.propensity_model.PropensityModel"}
    )
    blob, mac = dump_artifact(model, KEY)
    monkeypatch.undo()
    assert "channel_models.propensity_model.PropensityModel" in sio.get_untrusted_types(data=blob)
    loaded = load_artifact(blob, mac, KEY)
    assert type(loaded) is PropensityModel
    np.testing.assert_array_equal(loaded.predict_proba(X[:50]), model.predict_proba(X[:50]))


def test_an_old_module_path_outside_the_moved_classes_is_still_refused():
    assert "channel_models.bandit.Anything" not in artifacts._MOVED_TYPES
    assert (
        artifacts._MOVED_TYPES["channel_models.bandit.RewardModel"]
        == "channel_models.learning.reward_model.RewardModel"
    )
