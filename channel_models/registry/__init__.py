"""Model registry, the pure side: signed artifacts and each kind's learning-phase status.

No database here - ``services/store/model_versions.py`` keeps the rows (artifact bytes, HMAC,
library versions, metrics, training window) and ``services/store/frames/training_data.py`` fills
``DataFacts``. Two private modules sit behind this facade:

* ``channel_models.registry.artifacts`` - skops serialisation, HMAC-SHA256 checked before parsing, and a
  type allow-list checked on dump and on load.
* ``channel_models.registry.model_status`` - Learning / Active / Alert, what is still needed, and whether
  a kind may decide (``StatusReport.decides``: a model in Learning never decides; an Alert model
  keeps deciding unless its quality fell).
"""

from channel_models.registry.artifacts import (
    TRUSTED_TYPES,
    ArtifactError,
    ArtifactIntegrityError,
    UntrustedArtifactError,
    artifact_hmac,
    dump_artifact,
    library_versions,
    load_artifact,
)
from channel_models.registry.model_status import (
    ACTIVE,
    ALERT,
    LEARNING,
    DataFacts,
    StatusReport,
    Thresholds,
    model_status,
    thresholds_remaining,
)
from channel_models.vocabulary import MODEL_KINDS

__all__ = [
    "ACTIVE",
    "ALERT",
    "LEARNING",
    "MODEL_KINDS",
    "TRUSTED_TYPES",
    "ArtifactError",
    "ArtifactIntegrityError",
    "UntrustedArtifactError",
    "DataFacts",
    "StatusReport",
    "Thresholds",
    "artifact_hmac",
    "dump_artifact",
    "library_versions",
    "load_artifact",
    "model_status",
    "thresholds_remaining",
]
