"""The Temporal worker: CartRecoveryWorkflow and RetrainWorkflow plus their activities, with their
dependencies. One ModelCache per worker: plan_touch plans with the models it holds, and the
retraining activity refreshes it as soon as it promotes a version (other workers see the promotion
within CR_MODEL_REFRESH_SECONDS).

The workflows run unsandboxed here: building a sandbox for every new journey cost an eighth of the
worker's CPU under load (bench/journeys.py, docs/PERFORMANCE.md). The workflow tests
(tests/workflows) run the same workflows in the SDK's default sandbox, which fails a test on any
non-deterministic call (time, random, I/O) a change brings in, and replay recorded histories."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.planning import PlanningActivities
from activities.recording import RecordingActivities
from activities.sending import SendingActivities
from activities.training import TrainingActivities
from services.core.settings import Settings
from services.messaging.delivery import Delivery
from services.model_ops.model_cache import CachedPlanner, ModelCache
from workflows.cart_recovery import CartRecoveryWorkflow
from workflows.retraining import RetrainWorkflow


def build_worker(
    client: Client,
    settings: Settings,
    engine: Engine,
    *,
    delivery: Delivery | None = None,
    task_queue: str | None = None,
) -> Worker:
    models = ModelCache(engine, settings)
    planning = PlanningActivities(engine, settings, policy=CachedPlanner(models, settings))
    sending = SendingActivities(engine, settings, delivery=delivery, planning=planning)
    recording = RecordingActivities(engine, settings)
    training = TrainingActivities(engine, settings, models)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[CartRecoveryWorkflow, RetrainWorkflow],
        activities=[
            planning.plan_touch,
            sending.send_touch,
            recording.record_abandonment,
            recording.record_outcome,
            training.retrain_models,
            training.record_training_failure,
        ],
        activity_executor=ThreadPoolExecutor(settings.worker_activity_threads),
        max_concurrent_activities=settings.worker_activity_threads,
        max_cached_workflows=settings.worker_cached_workflows,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
