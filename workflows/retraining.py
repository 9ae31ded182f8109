"""RetrainWorkflow: rebuild the models from recorded decisions and outcomes, nightly and on demand.

One heavy activity (`retrain_models`, activities/training.py) loads the training frames, fits and
evaluates candidates, and stores every candidate (promoted or rejected). It reports its progress
back with the `training_progress` signal, so the `progress` query - what the CLI's progress bar
and `GET /v1/models/retrain/{id}` read - moves while the activity runs, not only between
activities. When training fails for good (an error on both attempts, or a worker lost twice) the
workflow records the failure (`record_training_failure`), which puts every model in Alert, and
returns a result whose status is "failed".

Only kinds, step names, counts and short reasons cross into Temporal: never a frame or a row.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

# The vocabulary (constants only) and plain dataclasses, no state: shared with the sandbox instead of re-imported for every journey
# the worker (re)loads - that re-import was a sixth of the worker's CPU under load.
with workflow.unsafe.imports_passed_through():
    from channel_models.vocabulary import MODEL_KINDS
    from workflows.contracts import TrainingActivities
    from workflows.types import (
        ModelOutcome,
        RetrainProgress,
        RetrainRequest,
        RetrainResult,
        TrainingFailure,
    )

# Training 1,000,000 decisions takes up to about a minute; the activity heartbeats every few
# seconds, so a lost worker is noticed after two minutes. A failed training is tried once more,
# then reported, never retried forever.
TRAIN_OPTIONS: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(minutes=30),
    heartbeat_timeout=timedelta(minutes=2),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=10), maximum_attempts=2),
)
RECORD_OPTIONS: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=10),
)
WHY_LIMIT = 300


@workflow.defn
class RetrainWorkflow:
    @workflow.init
    def __init__(self, req: RetrainRequest) -> None:
        self._progress = RetrainProgress("queued", 0, 1)

    @workflow.signal
    def training_progress(self, progress: RetrainProgress) -> None:
        self._progress = progress

    @workflow.query
    def progress(self) -> RetrainProgress:
        return self._progress

    @workflow.run
    async def run(self, req: RetrainRequest) -> RetrainResult:
        self._progress = RetrainProgress("starting", 0, 1)
        try:
            report = await workflow.execute_activity_method(TrainingActivities.retrain_models, req, **TRAIN_OPTIONS)
        except ActivityError as err:
            return await self._failed(req, failure_reason(err))
        self._progress = RetrainProgress("done", max(self._progress.total, 1), max(self._progress.total, 1))
        return RetrainResult("completed", req.trigger, report.outcomes, report.rows, report.open_decisions)

    async def _failed(self, req: RetrainRequest, why: str) -> RetrainResult:
        self._progress = RetrainProgress("recording the failure", self._progress.done, self._progress.total)
        await workflow.execute_activity_method(
            TrainingActivities.record_training_failure, TrainingFailure(why), **RECORD_OPTIONS
        )
        self._progress = RetrainProgress("failed", self._progress.done, self._progress.total)
        return RetrainResult("failed", req.trigger, [ModelOutcome(kind, "failed", None, why) for kind in MODEL_KINDS])


def failure_reason(err: ActivityError) -> str:
    """The innermost cause, shortened: "ValueError: ..." or "TimeoutError: activity Heartbeat timeout"."""
    cause: BaseException = err
    while (inner := getattr(cause, "cause", None)) is not None:
        cause = inner
    kind = cause.type if isinstance(cause, ApplicationError) and cause.type else type(cause).__name__
    message = cause.message if isinstance(cause, FailureError) else str(cause)
    return f"{kind}: {message}"[:WHY_LIMIT]
