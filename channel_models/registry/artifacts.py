"""Model artifacts: bytes the service writes, signs, and later loads without trusting them blindly.

A trained model is serialised with skops (``skops.io``), which never unpickles: it rebuilds only
types it is told to trust. Two locks, in this order, on load:

1. HMAC-SHA256 of the bytes under the service's secret key, compared in constant time *before*
   anything in the bytes is parsed: a tampered or foreign artifact is rejected unread.
2. The types skops does not trust by default (``get_untrusted_types``) must all be in
   ``TRUSTED_TYPES``, the short list of types this service itself stores; the load then trusts
   exactly that list, never ``trusted=True``. The same check runs when dumping, so the service
   cannot write an artifact it would refuse to read.

The HMAC alone would let anyone holding the key plant any object; the allow-list keeps even a
signed artifact from naming a function or class the service never writes (defence in depth).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import platform
import sys
import zipfile
from typing import Any

import numpy
import pandas
import sklearn
import skops
import skops.io as sio

# Types outside skops' defaults that our models are made of. Add a type here only when the
# service's own estimators start holding it (the dump-time check names it).
TRUSTED_TYPES = frozenset(
    {
        "channel_models.learning.factor_model.FactorModel",
        "channel_models.learning.propensity_model.PropensityModel",
        "channel_models.learning.reason_model.ReasonClassifier",
        "channel_models.learning.reward_model.RewardModel",
        # the fitted trees inside HistGradientBoosting* (a plain data holder of numpy arrays)
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    }
)
# Where those classes lived before the layout of December 2026. Artifacts stored then name these
# modules; they still load, as the classes they name now live under the new module.
MOVED_MODULES = {
    "channel_models.propensity_model": "channel_models.learning.propensity_model",
    "channel_models.reason_model": "channel_models.learning.reason_model",
    "channel_models.bandit": "channel_models.learning.reward_model",
}
_MOVED_TYPES = {
    f"{old}.{name.rsplit('.', 1)[1]}": name
    for old, new in MOVED_MODULES.items()
    for name in TRUSTED_TYPES
    if name.rsplit(".", 1)[0] == new
}


class ArtifactError(ValueError):
    """An artifact the service refuses to store or load."""


class ArtifactIntegrityError(ArtifactError):
    """The bytes do not match their HMAC: tampered, truncated, or signed with another key."""


class UntrustedArtifactError(ArtifactError):
    """The artifact contains a type outside TRUSTED_TYPES."""


def artifact_hmac(data: bytes, key: bytes) -> str:
    """Hex HMAC-SHA256 of ``data`` under ``key``."""
    if not key:
        raise ArtifactError("an artifact key is required: an empty key would make the HMAC meaningless")
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def _check_types(data: bytes, doing: str) -> list[str]:
    untrusted = sorted(sio.get_untrusted_types(data=data))
    refused = [name for name in untrusted if name not in TRUSTED_TYPES and name not in _MOVED_TYPES]
    if refused:
        raise UntrustedArtifactError(
            f"refusing to {doing} an artifact containing types outside the allow-list: {', '.join(refused)}"
        )
    return untrusted


def dump_artifact(obj: Any, key: bytes) -> tuple[bytes, str]:
    """Serialise ``obj`` with skops (deflated zip) -> (bytes, hex HMAC-SHA256)."""
    data = sio.dumps(obj, compression=zipfile.ZIP_DEFLATED)
    _check_types(data, "store")
    return data, artifact_hmac(data, key)


def load_artifact(data: bytes, hmac_hex: str, key: bytes) -> Any:
    """Verify the HMAC, then the types, then rebuild the object; raise ArtifactError otherwise."""
    expected = artifact_hmac(data, key)
    if not isinstance(hmac_hex, str) or not hmac.compare_digest(expected.encode(), hmac_hex.encode()):
        raise ArtifactIntegrityError(
            "artifact HMAC mismatch: the bytes were changed or signed with another key; not loading it"
        )
    trusted = _check_types(data, "load")
    if any(name in _MOVED_TYPES for name in trusted):
        _alias_moved_modules()
    return sio.loads(data, trusted=trusted)


def _alias_moved_modules() -> None:
    """Let skops import an old module path: it resolves to the module the class lives in now."""
    for old, new in MOVED_MODULES.items():
        sys.modules.setdefault(old, importlib.import_module(new))


def library_versions() -> dict[str, str]:
    """Versions an artifact was written with; a model row keeps them next to its bytes."""
    return {
        "python": platform.python_version(),
        "sklearn": sklearn.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "skops": skops.__version__,
    }
