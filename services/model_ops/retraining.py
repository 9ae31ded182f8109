"""RetrainWorkflow from the service side: the nightly Temporal Schedule, starting a run on demand
(API and CLI share this), and reading a run's progress or result.

A run's workflow id is `retrain/manual/<uuid>` when asked for, and `retrain/schedule-<time>` when
the schedule starts it (Temporal appends the scheduled time to the action's id). At most one run
at a time: a request while one runs is refused with that run's id, the schedule skips a slot while
its own previous run goes on, and a run that starts while another runs anyway (the schedule firing
during a manual run) trains nothing (`retrain_models` looks first).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowExecutionStatus,
)
from temporalio.service import RPCError, RPCStatusCode

from services.core.settings import ConfigurationError, Settings
from workflows.retraining import RetrainWorkflow
from workflows.types import RetrainProgress, RetrainRequest, RetrainResult

SCHEDULE_ID = "cartrecovery-retrain"
ID_PREFIX = "retrain/"
RUNNING = f"WorkflowType = '{RetrainWorkflow.__name__}' AND ExecutionStatus = 'Running'"
QUERY_TIMEOUT_S = 5
# a run stuck without a worker must not block every later request for good
RUN_TIMEOUT = timedelta(hours=3)


class RetrainAlreadyRunning(Exception):
    def __init__(self, workflow_id: str):
        super().__init__(f"a retraining is already running: {workflow_id}")
        self.workflow_id = workflow_id


@dataclass
class RetrainState:
    workflow_id: str
    status: str  # running, completed, failed, cancelled, terminated, timed_out
    progress: RetrainProgress | None = None  # while running; None when no worker has answered yet
    result: RetrainResult | None = None


def retrain_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RetrainWorkflow.run,
            RetrainRequest(trigger="schedule", requested_by="schedule"),
            id=f"{ID_PREFIX}schedule",
            task_queue=settings.task_queue,
            execution_timeout=RUN_TIMEOUT,
        ),
        spec=ScheduleSpec(cron_expressions=[settings.retrain_cron], time_zone_name=settings.shop_timezone),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note="retrains the models (CR_RETRAIN_CRON, in CR_SHOP_TIMEZONE)"),
    )


async def ensure_schedule(client: Client, settings: Settings) -> str:
    """Create the schedule, or bring an existing one up to the current settings; "created" or
    "updated". Safe to call on every start, from every process. A pause set by an operator stays."""
    schedule = retrain_schedule(settings)
    try:
        try:
            await client.create_schedule(SCHEDULE_ID, schedule)
            return "created"
        except ScheduleAlreadyRunningError:
            pass

        async def keep_state(current: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule.state = current.description.schedule.state
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(SCHEDULE_ID).update(keep_state)
        return "updated"
    except RPCError as err:
        if err.status == RPCStatusCode.INVALID_ARGUMENT:
            raise ConfigurationError(
                f"the retraining schedule was refused (check CR_RETRAIN_CRON={settings.retrain_cron!r}): {err.message}"
            ) from None
        raise


class Retraining:
    """Start and watch runs. Remembers the last run it started, so a second request right after the
    first is refused even before Temporal's visibility index lists the first."""

    def __init__(self, client: Client, settings: Settings):
        self.client = client
        self._settings = settings
        self._last: str | None = None
        self._lock = asyncio.Lock()

    async def running(self) -> str | None:
        if self._last and await self._is_running(self._last):
            return self._last
        async for execution in self.client.list_workflows(RUNNING, limit=1):
            return execution.id
        return None

    async def start(self, trigger: str, requested_by: str) -> str:
        async with self._lock:
            running = await self.running()
            if running:
                raise RetrainAlreadyRunning(running)
            workflow_id = f"{ID_PREFIX}{trigger}/{uuid.uuid4()}"
            await self.client.start_workflow(
                RetrainWorkflow.run,
                RetrainRequest(trigger, requested_by),
                id=workflow_id,
                task_queue=self._settings.task_queue,
                execution_timeout=RUN_TIMEOUT,
            )
            self._last = workflow_id
            return workflow_id

    async def state(self, workflow_id: str) -> RetrainState:
        """LookupError when there is no retraining run with this id."""
        if not workflow_id.startswith(ID_PREFIX):
            raise LookupError(f"{workflow_id!r} is not a retraining run (their ids start with {ID_PREFIX!r})")
        handle = self.client.get_workflow_handle_for(RetrainWorkflow.run, workflow_id)
        try:
            description = await handle.describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise LookupError(f"no retraining run {workflow_id!r}") from None
            raise
        if description.workflow_type != RetrainWorkflow.__name__:
            raise LookupError(f"{workflow_id!r} is not a retraining run")
        status = (description.status or WorkflowExecutionStatus.RUNNING).name.lower()
        if status == "running":
            try:
                progress = await asyncio.wait_for(handle.query(RetrainWorkflow.progress), QUERY_TIMEOUT_S)
            except (TimeoutError, RPCError):
                progress = None  # queued: no worker has picked the run up
            return RetrainState(workflow_id, status, progress)
        if status == "completed":
            result = await handle.result()
            return RetrainState(workflow_id, result.status, None, result)
        return RetrainState(workflow_id, status)

    async def _is_running(self, workflow_id: str) -> bool:
        try:
            description = await self.client.get_workflow_handle(workflow_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return description.status == WorkflowExecutionStatus.RUNNING


def cli_address(settings: Settings) -> str:
    """Where the CLI finds Temporal: CR_TEMPORAL_ADDRESS, else the embedded dev server of `up`."""
    return settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
