"""RetrainWorkflow: progress, results and failures on the time-skipping server (scripted and real
activities), and the retraining Temporal Schedule on the dev server (the time-skipping server has
no schedules)."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import ScheduleOverlapPolicy, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer, Worker

from activities.training import TrainingActivities
from channel_models.policy import ModelSet
from services.model_ops.model_cache import ModelCache
from services.model_ops.retraining import SCHEDULE_ID, ensure_schedule
from services.core.settings import ConfigurationError, Settings
from tests.activities.test_training_activity import low_threshold_settings, seed_shop, statuses, versions
from workflows.retraining import RetrainWorkflow
from workflows.types import ModelOutcome, RetrainProgress, RetrainRequest, RetrainResult, TrainingFailure, TrainingReport


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
            return TrainingReport([ModelOutcome("policy", "promoted", 3, "beats v2"), ModelOutcome("reason", "skipped", None, "needs 40 labels")], rows=1234)

        @activity.defn(name="record_training_failure")
        async def record_training_failure(failure: TrainingFailure) -> None:
            self.failures.append(failure)

        return [retrain_models, record_training_failure]


def worker(env, task_queue, script):
    return Worker(env.client, task_queue=task_queue, workflows=[RetrainWorkflow], activities=script.activities())


async def start(env, task_queue, trigger="manual"):
    return await env.client.start_workflow(
        RetrainWorkflow.run, RetrainRequest(trigger, "admin"), id=f"retrain/{trigger}/{uuid.uuid4()}", task_queue=task_queue
    )


async def test_progress_query_follows_the_activity_then_the_result_lists_each_model(time_skipping_env, task_queue):
    script = Script()
    async with worker(time_skipping_env, task_queue, script):
        handle = await start(time_skipping_env, task_queue)
        await asyncio.wait_for(script.reported.wait(), 20)
        progress = await handle.query(RetrainWorkflow.progress)
        assert progress == RetrainProgress("training propensity", 3, 5)
        script.release.set()
        result = await handle.result()
        final = await handle.query(RetrainWorkflow.progress)
    assert result == RetrainResult("completed", "manual", [ModelOutcome("policy", "promoted", 3, "beats v2"), ModelOutcome("reason", "skipped", None, "needs 40 labels")], 1234)
    assert (final.step, final.done, final.total) == ("done", 5, 5)
    assert script.failures == []


async def test_failing_training_is_tried_twice_recorded_once_and_reported_failed(time_skipping_env, task_queue):
    script = Script(error="training frame has no rows")
    async with worker(time_skipping_env, task_queue, script):
        handle = await start(time_skipping_env, task_queue, "schedule")
        result = await handle.result()
        progress = await handle.query(RetrainWorkflow.progress)
    assert script.attempts == 2  # not retried forever
    assert result.status == "failed" and result.trigger == "schedule"
    assert [(o.kind, o.outcome) for o in result.outcomes] == [("policy", "failed"), ("propensity", "failed"), ("reason", "failed")]
    assert all(o.why == "ValueError: training frame has no rows" for o in result.outcomes)
    assert [f.why for f in script.failures] == ["ValueError: training frame has no rows"]
    assert progress.step == "failed"


# --- the schedule, on the dev server -------------------------------------------------------------


def schedule_settings(task_queue: str, **overrides) -> Settings:
    return Settings(_env_file=None, task_queue=task_queue, **overrides)


@pytest.fixture
async def clean_schedule(dev_env):
    handle = dev_env.client.get_schedule_handle(SCHEDULE_ID)
    yield handle
    try:
        await handle.delete()
    except Exception:  # noqa: BLE001 - a test that failed before creating it
        pass


async def test_schedule_is_created_then_updated_in_place_keeping_a_pause(dev_env, task_queue, clean_schedule):
    settings = schedule_settings(task_queue, retrain_cron="0 3 * * *", shop_timezone="Europe/Berlin")
    assert await ensure_schedule(dev_env.client, settings) == "created"
    described = await clean_schedule.describe()
    spec = described.schedule.spec
    assert spec.time_zone_name == "Europe/Berlin"
    assert [(c.hour[0].start, c.minute[0].start) for c in spec.calendars] == [(3, 0)]
    assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert described.schedule.action.workflow == "RetrainWorkflow"
    assert described.schedule.action.task_queue == task_queue

    await clean_schedule.pause(note="paused by an operator")
    moved = schedule_settings(task_queue, retrain_cron="30 1 * * *", shop_timezone="America/New_York")
    assert await ensure_schedule(dev_env.client, moved) == "updated"
    again = await ensure_schedule(dev_env.client, moved)
    assert again == "updated"
    described = await clean_schedule.describe()
    assert [(c.hour[0].start, c.minute[0].start) for c in described.schedule.spec.calendars] == [(1, 30)]
    assert described.schedule.spec.time_zone_name == "America/New_York"
    assert described.schedule.state.paused is True


async def test_schedule_starts_a_retraining_on_the_task_queue(dev_env, task_queue, clean_schedule):
    script = Script()
    script.release.set()
    async with worker(dev_env, task_queue, script):
        await ensure_schedule(dev_env.client, schedule_settings(task_queue))
        await clean_schedule.trigger()
        for _ in range(100):
            runs = (await clean_schedule.describe()).info.recent_actions
            if runs:
                break
            await asyncio.sleep(0.1)
        run = runs[0].action
        assert run.workflow_id.startswith("retrain/schedule")
        result = await dev_env.client.get_workflow_handle_for(RetrainWorkflow.run, run.workflow_id, run_id=run.first_execution_run_id).result()
    assert result.status == "completed" and result.trigger == "schedule"


async def test_bad_cron_is_a_configuration_error(dev_env, task_queue, clean_schedule):
    with pytest.raises(ConfigurationError, match="CR_RETRAIN_CRON"):
        await ensure_schedule(dev_env.client, schedule_settings(task_queue, retrain_cron="every night"))


# --- the real activities on a seeded SQLite database --------------------------------------------


def real_worker(env, task_queue, activities):
    return Worker(env.client, task_queue=task_queue, workflows=[RetrainWorkflow],
                  activities=[activities.retrain_models, activities.record_training_failure],
                  activity_executor=ThreadPoolExecutor(2))


async def test_real_retraining_promotes_and_moves_the_models_from_learning_to_active(time_skipping_env, task_queue, sqlite_engine, tmp_path):
    seed_shop(sqlite_engine)
    settings = low_threshold_settings(tmp_path)
    cache = ModelCache(sqlite_engine, settings)
    assert cache.current() == ModelSet()
    assert statuses(sqlite_engine, settings) == {"policy": "Learning", "propensity": "Learning", "reason": "Learning"}
    async with real_worker(time_skipping_env, task_queue, TrainingActivities(sqlite_engine, settings, cache)):
        handle = await start(time_skipping_env, task_queue)
        result = await handle.result()
        progress = await handle.query(RetrainWorkflow.progress)
    assert result.status == "completed" and result.rows == 1500
    assert [(o.kind, o.outcome, o.version) for o in result.outcomes] == [("policy", "promoted", 1), ("propensity", "promoted", 1), ("reason", "promoted", 1)]
    assert (progress.step, progress.done, progress.total) == ("done", 5, 5)
    assert versions(sqlite_engine) == {kind: [(1, "active", True)] for kind in ("policy", "propensity", "reason")}
    assert statuses(sqlite_engine, settings) == {"policy": "Active", "propensity": "Active", "reason": "Active"}
    models = cache.current()  # invalidated by the activity: no refresh interval to wait for
    assert (models.policy.version, models.propensity.version, models.reason.version) == (1, 1, 1)
    # the history holds kinds, steps, counts and reasons only: no cart ids, features or values
    history = await handle.fetch_history()
    payloads = decoded_payloads(json.loads(history.to_json()))
    assert '"step":"training propensity"' in payloads and '"outcome":"promoted"' in payloads  # decoding works
    assert "c000" not in payloads and "cart_value" not in payloads and "desktop" not in payloads


def decoded_payloads(node) -> str:
    """Every payload's data in a JSON history (base64 there), decoded and joined."""
    if isinstance(node, dict):
        if "metadata" in node and "data" in node:
            return base64.b64decode(node["data"]).decode("utf-8", "replace")
        return "\n".join(decoded_payloads(v) for v in node.values())
    if isinstance(node, list):
        return "\n".join(decoded_payloads(v) for v in node)
    return ""


async def test_real_retraining_that_fails_reports_failed_and_puts_the_models_in_alert(time_skipping_env, task_queue, sqlite_engine, tmp_path):
    seed_shop(sqlite_engine, carts=300)
    settings = low_threshold_settings(tmp_path)
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise KeyError("action")

    async with real_worker(time_skipping_env, task_queue, TrainingActivities(sqlite_engine, settings, train=broken)):
        result = await (await start(time_skipping_env, task_queue, "schedule")).result()
    assert len(calls) == 2
    assert result.status == "failed" and {o.outcome for o in result.outcomes} == {"failed"}
    assert result.outcomes[0].why == "KeyError: 'action'"
    assert statuses(sqlite_engine, settings) == {"policy": "Alert", "propensity": "Alert", "reason": "Alert"}
    assert versions(sqlite_engine) == {kind: [(1, "failed", False)] for kind in ("policy", "propensity", "reason")}


async def test_every_training_step_reaches_the_workflow_however_quickly_they_follow_each_other(time_skipping_env, task_queue, sqlite_engine, tmp_path):
    """Steps reported faster than the activity polls are each signalled, in order: a short step
    (a kind skipped for want of data, a small shop) is never hidden by the one after it."""
    steps = [f"training {kind}" for kind in ("policy", "propensity", "reason")]

    def instant(*args, progress, **kwargs):
        for done, step in enumerate(steps):
            progress(step, done, len(steps))
        return []

    async with real_worker(time_skipping_env, task_queue, TrainingActivities(sqlite_engine, low_threshold_settings(tmp_path), train=instant)):
        handle = await start(time_skipping_env, task_queue)
        await handle.result()
    signalled = [
        json.loads(decoded_payloads(event["workflowExecutionSignaledEventAttributes"]["input"]))["step"]
        for event in json.loads((await handle.fetch_history()).to_json())["events"]
        if "workflowExecutionSignaledEventAttributes" in event
    ]
    assert signalled == ["loading data", *steps, "storing", "stored"]


async def test_a_run_that_starts_while_another_runs_trains_nothing(dev_env, task_queue, sqlite_engine, tmp_path):
    """The schedule's overlap policy sees only scheduled runs: a run starting during a manual one
    (or the reverse) finds it and stops, so two trainings never promote at once."""
    blocker = await dev_env.client.start_workflow(  # no worker polls its queue: it stays running
        RetrainWorkflow.run, RetrainRequest("manual", "admin"), id=f"retrain/manual/{uuid.uuid4()}", task_queue=f"{task_queue}-idle"
    )
    try:
        for _ in range(50):
            if [w async for w in dev_env.client.list_workflows(f"WorkflowId = '{blocker.id}' AND ExecutionStatus = 'Running'")]:
                break
            await asyncio.sleep(0.1)
        activities = TrainingActivities(sqlite_engine, low_threshold_settings(tmp_path))
        async with real_worker(dev_env, task_queue, activities):
            result = await (await start(dev_env, task_queue, "schedule")).result()
    finally:
        await blocker.terminate("test ended")
    assert result.status == "completed"
    assert {(o.outcome, o.why) for o in result.outcomes} == {("skipped", f"another retraining is running: {blocker.id}")}
    assert versions(sqlite_engine) == {}


RECORDED = sorted((Path(__file__).parent / "retrain_histories").glob("*.json"))


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_recorded_retraining_histories_replay(path):
    """Histories recorded by earlier versions (progress signals, a failure after two attempts)
    must replay on the current code; a change that breaks this needs `workflow.patched(...)`."""
    history = WorkflowHistory.from_json("recorded", path.read_text())
    await Replayer(workflows=[RetrainWorkflow]).replay_workflow(history)
    assert len(RECORDED) == 2
