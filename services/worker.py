"""The Temporal worker: CartRecoveryWorkflow plus the activities, with their dependencies."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.planning import PlanningActivities
from activities.recording import RecordingActivities
from activities.sending import SendingActivities
from services.delivery import Delivery
from services.settings import Settings
from workflows.cart_recovery import CartRecoveryWorkflow

ACTIVITY_THREADS = 16


def build_worker(client: Client, settings: Settings, engine: Engine, *, delivery: Delivery | None = None, task_queue: str | None = None) -> Worker:
    planning = PlanningActivities(engine, settings)
    sending = SendingActivities(engine, settings, delivery=delivery)
    recording = RecordingActivities(engine)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[CartRecoveryWorkflow],
        activities=[planning.plan_touch, sending.send_touch, recording.record_abandonment, recording.record_outcome],
        activity_executor=ThreadPoolExecutor(ACTIVITY_THREADS),
        max_concurrent_activities=ACTIVITY_THREADS,
    )
