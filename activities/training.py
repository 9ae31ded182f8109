"""retrain_models and record_training_failure: RetrainWorkflow's side effects.

retrain_models runs the heavy part (load the frames, fit and evaluate candidates, store every
candidate) in a thread, while the activity's own coroutine heartbeats and forwards progress to
the workflow as `training_progress` signals - the workflow cannot see heartbeat details, and the
CLI's progress bar reads the workflow's `progress` query. Progress is counted in units: loading
the data is one, each training step train_models reports is one, storing the candidates is one.

Every candidate is stored: promoted ones as the kind's active version (with the artifact, signed
with this service's key), the others as rejected with their metrics and why (no artifact: it would
never be loaded). A kind without a candidate is "skipped", with the reason training gave.

Champion / challenger (CR_CHALLENGER_SHARE > 0): a policy candidate the off-policy gate did not
promote goes on trial as the "challenger" (with its artifact) when none is on trial, and decides
that share of carts. Each retraining first judges a running challenger on the carts decided since
it began whose attribution window has closed (channel_models.learning.challenger): promoted to
active, stopped (rejected), or left on trial with its figures so far.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.service import RPCError

from channel_models.economics import Economics
from channel_models.learning.challenger import Verdict, challenge
from channel_models.learning.training import Candidate, train_models
from channel_models.registry.artifacts import dump_artifact, library_versions
from channel_models.registry.model_set import ModelSet
from channel_models.registry.model_status import Thresholds
from channel_models.vocabulary import MODEL_KINDS
from services.core.clock import service_now, utc
from services.core.settings import Settings
from services.model_ops.model_cache import ModelCache, load_active
from services.model_ops.retraining import RUNNING
from services.store.frames.data_facts import data_facts
from services.store.frames.training_data import load_frames
from services.store.model_versions import conclude_challenger, record_failure, record_version, running_challenger
from services.store.service_clock import stored_clock
from services.store.tables import ModelVersion, saved_id
from workflows import contracts
from workflows.retraining import RetrainWorkflow
from workflows.types import ModelOutcome, RetrainProgress, RetrainRequest, TrainingFailure, TrainingReport

log = logging.getLogger(__name__)

POLL_S = 0.25
WHY_LIMIT = 300  # a reason crosses into Temporal: short
SIGNAL_EVERY_S = 0.5  # progress signals are history events: at most two a second
Progress = Callable[[str, int, int], None]


class TrainingActivities(contracts.TrainingActivities):
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        cache: ModelCache | None = None,
        *,
        train: Callable[..., Any] = train_models,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._cache = cache
        self._train = train  # injectable, so a test can make training fail

    @activity.defn
    async def retrain_models(self, req: RetrainRequest) -> TrainingReport:
        earlier = await _earlier_run()
        if earlier is not None:
            why = f"another retraining is running: {earlier}"
            return TrainingReport([ModelOutcome(kind, "skipped", None, why) for kind in MODEL_KINDS])
        loop = asyncio.get_running_loop()
        updates: list[RetrainProgress] = []

        def progress(step: str, done: int, total: int) -> None:  # called from the training thread
            loop.call_soon_threadsafe(updates.append, RetrainProgress(step, done, total))

        work = loop.run_in_executor(None, self.retrain, req, progress)
        forward = _ProgressForwarder()
        while True:
            finished = work.done()
            pending = updates[:]
            updates.clear()
            for update in pending:  # every step reaches the workflow, however short it was
                forward.latest = update
                await forward.flush()
            await forward.flush(force=finished)
            activity.heartbeat(*forward.details())  # the SDK batches these; a lost worker shows in 2 min
            if finished:
                break
            await asyncio.wait({work}, timeout=POLL_S)
        report = work.result()  # re-raises the training error: the workflow decides what follows
        if self._cache is not None:
            self._cache.invalidate()
        return report

    def retrain(self, req: RetrainRequest, progress: Progress) -> TrainingReport:
        """The whole retraining, synchronously (also what `bench/models.py` times)."""
        settings, key = self._settings, self._settings.signing_key()
        total = 5  # loading, three training steps (train_models reports them), storing
        progress("loading data", 0, total)
        with Session(self._engine) as session:
            now = service_now(stored_clock(session))
            active = ModelSet(**load_active(session, key))
            facts = {kind: data_facts(session, kind, now) for kind in MODEL_KINDS}
            on_trial = running_challenger(session)
        closed_before = now - timedelta(hours=settings.attribution_window_hours)
        frames = load_frames(self._engine, until=now, closed_before=closed_before)
        verdict = None
        if on_trial is not None:
            verdict = challenge(
                frames.decisions,
                frames.carts,
                f"bandit-v{on_trial.version}",
                utc(on_trial.created_at),
                closed_before,
                settings.challenger_alpha,
            )
        skipped: dict[str, str] = {}

        def training_step(step: str, done: int, steps: int) -> None:
            nonlocal total
            total = steps + 2
            kind, said_skipped, why = step.partition(" skipped: ")
            if said_skipped:
                skipped[kind] = why
            progress(step, 1 + done, total)

        candidates = self._train(
            frames.decisions,
            frames.carts,
            frames.labels,
            now=now,
            seed=settings.train_seed,
            thresholds=Thresholds.from_settings(settings),
            active=active,
            epsilon=settings.exploration,
            min_incentive_lift=settings.min_incentive_lift,
            reward=settings.reward,
            economics=Economics.from_settings(settings),
            promotion_confidence=settings.promotion_confidence,
            facts_by_kind=facts,
            progress=training_step,
            pending=frames.pending,
        )
        progress("storing", total - 1, total)
        outcomes = self._store(candidates, skipped, key, now, on_trial, verdict)
        progress("stored", total, total)
        log.info("retraining (%s) done: %s", req.trigger, ", ".join(f"{o.kind} {o.outcome}" for o in outcomes))
        return TrainingReport(outcomes=outcomes, rows=len(frames.decisions), open_decisions=frames.open_decisions)

    def _store(
        self,
        candidates: list[Candidate],
        skipped: dict[str, str],
        key: bytes,
        now: datetime,
        on_trial: ModelVersion | None = None,
        verdict: Verdict | None = None,
    ) -> list[ModelOutcome]:
        outcomes = {}
        versions = library_versions()
        with Session(self._engine) as session:
            trial_open = False
            if on_trial is not None and verdict is not None:
                row = session.get_one(ModelVersion, saved_id(on_trial))
                conclude_challenger(session, row, verdict.decision, verdict.as_dict(), now)
                trial_open = verdict.decision == "continue"
            for c in candidates:
                status = "active" if c.promote else "rejected"
                if status == "rejected" and c.kind == "policy" and not trial_open and self._trials():
                    status, trial_open = "challenger", True
                artifact, mac = dump_artifact(c.model, key) if status != "rejected" else (None, None)
                row = record_version(
                    session,
                    kind=c.kind,
                    status=status,
                    metrics=_json_safe(c.metrics),
                    params=_params(c.model),
                    library_versions=versions,
                    data_from=c.data_from,
                    data_to=c.data_to,
                    eval_from=c.eval_from,
                    eval_to=c.eval_to,
                    rows_train=c.rows_train,
                    rows_eval=c.rows_eval,
                    artifact=artifact,
                    artifact_hmac=mac,
                    note=c.why,
                    now=now,
                )
                said = {"active": "promoted", "challenger": "on trial"}.get(status, status)
                outcomes[c.kind] = ModelOutcome(c.kind, said, row.version, c.why[:WHY_LIMIT])
            session.commit()
        for kind in MODEL_KINDS:
            if kind not in outcomes:
                outcomes[kind] = ModelOutcome(
                    kind, "skipped", None, skipped.get(kind, "no candidate was trained")[:WHY_LIMIT]
                )
        return [outcomes[kind] for kind in MODEL_KINDS]

    def _trials(self) -> bool:
        """Whether a policy candidate may go on trial: only the auto planner lets one decide."""
        return self._settings.policy == "auto" and self._settings.challenger_share > 0

    @activity.defn
    def record_training_failure(self, failure: TrainingFailure) -> None:
        """Every kind's status shows the failure (Alert) until a later training succeeds."""
        with Session(self._engine) as session:
            now = service_now(stored_clock(session))
            for kind in MODEL_KINDS:
                record_failure(session, kind, failure.why, now)
            session.commit()
        if self._cache is not None:
            self._cache.invalidate()


async def _earlier_run() -> str | None:
    """The id of a retraining that started before this one and still runs, if any: one run at a
    time, also when the schedule fires during a manual run (its overlap policy sees only its own)."""
    info = activity.info()
    try:
        client = activity.client()
    except RuntimeError:
        return None  # no Temporal client (a unit test's ActivityEnvironment)
    try:
        if info.workflow_id is None:
            return None  # not run by a workflow
        mine = await client.get_workflow_handle(info.workflow_id, run_id=info.workflow_run_id).describe()
        async for other in client.list_workflows(RUNNING):
            if other.id != info.workflow_id and other.start_time < mine.start_time:
                return other.id
    except RPCError as err:
        log.warning("could not look for other retraining runs: %s", err.message)
    return None


class _ProgressForwarder:
    """Sends the latest progress to the workflow: at once when the step changes, otherwise at
    most every SIGNAL_EVERY_S (each signal is an event in the run's history)."""

    def __init__(self) -> None:
        self.latest: RetrainProgress | None = None
        self._sent: RetrainProgress | None = None
        self._sent_at = 0.0

    def details(self) -> tuple[Any, ...]:
        shown = self.latest
        return (shown.step, shown.done, shown.total) if shown else ()

    async def flush(self, force: bool = False) -> None:
        latest, sent, now = self.latest, self._sent, time.monotonic()
        if latest is None or latest == sent:
            return
        if not force and sent is not None and latest.step == sent.step and now - self._sent_at < SIGNAL_EVERY_S:
            return
        self._sent, self._sent_at = latest, now
        info = activity.info()
        if info.workflow_id is None:
            return  # not run by a workflow: nobody to tell
        try:
            handle = activity.client().get_workflow_handle(info.workflow_id, run_id=info.workflow_run_id)
            await handle.signal(RetrainWorkflow.training_progress, latest)
        except Exception as err:  # noqa: BLE001 - progress is for display; training goes on
            log.warning("could not report retraining progress: %s", err)


def _json_safe(value: Any) -> Any:
    """Metrics as JSON both databases take: numpy scalars as Python numbers, NaN and infinity as null."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _params(model: Any) -> dict[str, Any]:
    """The estimator's parameters as JSON-safe values (scikit-learn's get_params when present)."""
    get_params = getattr(model, "get_params", None)
    if get_params is None:
        return {}
    return {
        k: v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)[:200]
        for k, v in get_params(deep=False).items()
    }
