"""The models a worker plans with, loaded once and refreshed when a new version is promoted.

`ModelCache.current()` is called on every plan, so it is cheap: it looks at the database at most
every CR_MODEL_REFRESH_SECONDS (one small query, `active_fingerprint`), loads artifacts only when
the active versions changed, and re-evaluates each kind's status when the versions change and
otherwise at most every STATUS_EVERY_S, because data and training age change slowly. A kind's
model is in the ModelSet only when its status says it decides (`StatusReport.decides`: never in
Learning; in Alert only while the alert is about the pipeline - training failed or overdue, data
stopped - not when its quality fell). An artifact is loaded only after its HMAC checks out under this
service's key (`channel_models.registry.load_artifact`); one that does not is logged and left out,
so the rule prior decides for that kind.

`CachedPlanner` is what PlanningActivities calls: a `Planner` over the cache's models, built per
plan (the Planner is a thin facade; the models are shared).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from channel_models.policy import Planner
from channel_models.registry.artifacts import load_artifact
from channel_models.registry.model_set import LoadedModel, ModelSet
from channel_models.registry.model_status import StatusReport
from channel_models.vocabulary import MODEL_KINDS
from services.core.clock import service_now
from services.core.settings import Settings
from services.model_ops.overview import kind_status
from services.store.model_versions import active_fingerprint, active_versions, running_challenger
from services.store.service_clock import stored_clock
from services.store.tables import ModelVersion, saved_id

log = logging.getLogger(__name__)

STATUS_EVERY_S = 300.0


def load_version(row: ModelVersion, key: bytes) -> LoadedModel:
    """The verified, deserialised model of a stored version; ArtifactError when it does not verify,
    ValueError when no artifact was stored (rejected and failed versions have none)."""
    if row.artifact is None or not row.artifact_hmac:
        raise ValueError(f"{row.kind} v{row.version} has no stored artifact")
    model = load_artifact(row.artifact, row.artifact_hmac, key)
    meta = {
        "kind": row.kind,
        "status": row.status,
        "metrics": dict(row.metrics or {}),
        "data_from": row.data_from,
        "data_to": row.data_to,
        "library_versions": dict(row.library_versions or {}),
    }
    return LoadedModel(version_id=saved_id(row), version=row.version, model=model, meta=meta)


def load_active(session: Session, key: bytes, loaded: dict[int, LoadedModel] | None = None) -> dict[str, LoadedModel]:
    """Every kind's active version, whatever its status (training compares candidates with these),
    and under "challenger" the policy version on trial, if one is. `loaded` (version id -> model)
    is reused and filled, so an unchanged version is not reloaded."""
    loaded = {} if loaded is None else loaded
    out = {}
    rows = dict(active_versions(session))
    if (challenger := running_challenger(session)) is not None:
        rows["challenger"] = challenger
    for kind, row in rows.items():
        version_id = saved_id(row)
        if version_id not in loaded:
            try:
                loaded[version_id] = load_version(row, key)
            except Exception:  # noqa: BLE001 - a bad artifact must not stop planning
                log.exception("model %s v%s could not be loaded; the rule prior decides for it", kind, row.version)
                continue
        out[kind] = loaded[version_id]
    return out


class ModelCache:
    def __init__(self, engine: Engine, settings: Settings, *, monotonic: Callable[[], float] = time.monotonic):
        self._engine = engine
        self._settings = settings
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._models = ModelSet()
        self._active: dict[str, LoadedModel] = {}
        self._loaded: dict[int, LoadedModel] = {}
        self._fingerprint: object = None
        self._checked_at: float | None = None
        self._status_at: float | None = None
        self._statuses: dict[str, StatusReport] = {}

    def current(self) -> ModelSet:
        with self._lock:
            now = self._monotonic()
            if self._checked_at is None or now - self._checked_at >= self._settings.model_refresh_seconds:
                self._refresh(now)
                self._checked_at = now
            return self._models

    def statuses(self) -> dict[str, StatusReport]:
        """kind -> its status as of the last refresh."""
        with self._lock:
            return dict(self._statuses)

    def invalidate(self) -> None:
        """Look at the database on the next call (after this process promoted a version)."""
        with self._lock:
            self._checked_at = None
            self._fingerprint = None

    def _refresh(self, now: float) -> None:
        with Session(self._engine) as session:
            fingerprint = active_fingerprint(session)
            changed = fingerprint != self._fingerprint
            if changed:
                self._active = load_active(session, self._settings.signing_key(), self._loaded)
                live = {m.version_id for m in self._active.values()}
                self._loaded = {k: v for k, v in self._loaded.items() if k in live}
                self._fingerprint = fingerprint
            if changed or self._status_at is None or now - self._status_at >= STATUS_EVERY_S:
                moment = service_now(stored_clock(session))
                self._statuses = {kind: kind_status(session, self._settings, kind, moment) for kind in MODEL_KINDS}
                self._status_at = now
        deciding = {kind: self._active.get(kind) if self._statuses[kind].decides else None for kind in MODEL_KINDS}
        self._models = ModelSet(**deciding, challenger=self._active.get("challenger"))


class CachedPlanner:
    """The policy PlanningActivities calls: CR_POLICY's planner over the models that may decide."""

    def __init__(self, cache: ModelCache, settings: Settings):
        self._cache = cache
        self._settings = settings

    def plan(self, ctx):
        models = self._cache.current() if self._settings.policy == "auto" else ModelSet()
        return Planner.from_settings(self._settings, models).plan(ctx)
