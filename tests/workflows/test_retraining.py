"""RetrainWorkflow with scripted activities (time-skipping server), and the retraining Schedule on the dev server."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import ScheduleOverlapPolicy

from services.core.settings import ConfigurationError, Settings
from services.model_ops.retraining import SCHEDULE_ID, ensure_schedule
from tests.utils.retrain_workflow import Script, start, worker
from workflows.retraining import RetrainWorkflow
from workflows.types import ModelOutcome, RetrainProgress, RetrainResult


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
    assert result == RetrainResult(
        "completed",
        "manual",
        [ModelOutcome("policy", "promoted", 3, "beats v2"), ModelOutcome("reason", "skipped", None, "needs 40 labels")],
        1234,
        56,
    )
    assert (final.step, final.done, final.total) == ("done", 5, 5)
    assert script.failures == []


async def test_failing_training_is_tried_twice_recorded_once_and_reported_failed(time_skipping_env, task_queue):
    script = Script(error="training frame has no rows")
    async with worker(time_skipping_env, task_queue, script):
        handle = await start(time_skipping_env, task_queue, "schedule")
        result = await handle.result()
        progress = await handle.query(RetrainWorkflow.progress)
    assert script.attempts == 2  # not retried forever
    assert result.status == "failed"
    assert result.trigger == "schedule"
    assert [(o.kind, o.outcome) for o in result.outcomes] == [
        ("policy", "failed"),
        ("propensity", "failed"),
        ("reason", "failed"),
    ]
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
        result = await dev_env.client.get_workflow_handle_for(
            RetrainWorkflow.run, run.workflow_id, run_id=run.first_execution_run_id
        ).result()
    assert result.status == "completed"
    assert result.trigger == "schedule"


async def test_bad_cron_is_a_configuration_error(dev_env, task_queue, clean_schedule):
    with pytest.raises(ConfigurationError, match="CR_RETRAIN_CRON"):
        await ensure_schedule(dev_env.client, schedule_settings(task_queue, retrain_cron="every night"))
