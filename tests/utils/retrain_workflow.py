"""Scripted retraining activities for RetrainWorkflow tests, and starting a retraining on a task queue."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from workflows.retraining import RetrainWorkflow
from workflows.types import ModelOutcome, RetrainProgress, RetrainRequest, TrainingFailure, TrainingReport


@dataclass
class Script:
    """Scripted activities: retrain_models reports three progress steps, then waits for `release`
    (or fails every attempt with `error`)."""

    error: str | None = None
    release: asyncio.Event = field(default_factory=asyncio.Event)
    reported: asyncio.Event = field(default_factory=asyncio.Event)
    attempts: int = 0
    failures: list[TrainingFailure] = field(default_factory=list)

    def activities(self):
        @activity.defn(name="retrain_models")
        async def retrain_models(req: RetrainRequest) -> TrainingReport:
            self.attempts += 1
            if self.error:
                raise ApplicationError(self.error, type="ValueError")
            handle = activity.client().get_workflow_handle(activity.info().workflow_id)
            for done, step in enumerate(("loading data", "training policy", "training propensity"), start=1):
                await handle.signal(RetrainWorkflow.training_progress, RetrainProgress(step, done, 5))
            self.reported.set()
            await self.release.wait()
            return TrainingReport(
                [
                    ModelOutcome("policy", "promoted", 3, "beats v2"),
                    ModelOutcome("reason", "skipped", None, "needs 40 labels"),
                ],
                rows=1234,
                open_decisions=56,
            )

        @activity.defn(name="record_training_failure")
        async def record_training_failure(failure: TrainingFailure) -> None:
            self.failures.append(failure)

        return [retrain_models, record_training_failure]


def worker(env, task_queue, script):
    return Worker(env.client, task_queue=task_queue, workflows=[RetrainWorkflow], activities=script.activities())


async def start(env, task_queue, trigger="manual"):
    return await env.client.start_workflow(
        RetrainWorkflow.run,
        RetrainRequest(trigger, "admin"),
        id=f"retrain/{trigger}/{uuid.uuid4()}",
        task_queue=task_queue,
    )
