"""The Active model of each kind, as the planner and the learned policy use it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from channel_models.vocabulary import MODEL_KINDS


@dataclass(frozen=True)
class LoadedModel:
    version_id: int  # model_versions.id, logged with every decision it shaped
    version: int  # per-kind version number, shown as "bandit-v<version>"
    model: Any
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSet:
    """The Active model of each kind, or None; and the policy model on trial beside the active
    policy (or the rule prior), deciding a share of carts (channel_models.learning.challenger)."""

    reason: LoadedModel | None = None
    propensity: LoadedModel | None = None
    policy: LoadedModel | None = None
    challenger: LoadedModel | None = None

    def active_only(self) -> ModelSet:
        def keep(loaded: LoadedModel | None, wanted: str = "active") -> LoadedModel | None:
            if loaded is None:
                return None
            status = str(loaded.meta.get("status", wanted)).lower()
            return loaded if status == wanted else None

        kept = {kind: keep(getattr(self, kind)) for kind in MODEL_KINDS}
        return ModelSet(**kept, challenger=keep(self.challenger, "challenger"))

    def versions(self) -> dict[str, int]:
        return {kind: loaded.version_id for kind in MODEL_KINDS if (loaded := getattr(self, kind)) is not None}
