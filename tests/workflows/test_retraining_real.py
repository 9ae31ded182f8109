"""RetrainWorkflow with the real training activities on a seeded SQLite database, and recorded histories replayed."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, Worker

from activities.training import TrainingActivities
from channel_models.registry.model_set import ModelSet
from services.model_ops.model_cache import ModelCache
from tests.utils.retrain_workflow import start
from tests.utils.training_seed import low_threshold_settings, seed_shop, statuses, versions
from workflows.retraining import RetrainWorkflow
from workflows.types import RetrainRequest

# --- the real activities on a seeded SQLite database --------------------------------------------


def real_worker(env, task_queue, activities):
    return Worker(
        env.client,
        task_queue=task_queue,
        workflows=[RetrainWorkflow],
        activities=[activities.retrain_models, activities.record_training_failure],
        activity_executor=ThreadPoolExecutor(2),
    )


async def test_real_retraining_promotes_and_moves_the_models_from_learning_to_active(
    time_skipping_env, task_queue, sqlite_engine, tmp_path
):
    seed_shop(sqlite_engine)
    settings = low_threshold_settings(tmp_path)
    cache = ModelCache(sqlite_engine, settings)
    assert cache.current() == ModelSet()
    assert statuses(sqlite_engine, settings) == {"policy": "Learning", "propensity": "Learning", "reason": "Learning"}
    async with real_worker(time_skipping_env, task_queue, TrainingActivities(sqlite_engine, settings, cache)):
        handle = await start(time_skipping_env, task_queue)
        result = await handle.result()
        progress = await handle.query(RetrainWorkflow.progress)
    assert result.status == "completed"
    assert result.rows + result.open_decisions == 1500  # those of carts whose window is still open left out
    assert [(o.kind, o.outcome, o.version) for o in result.outcomes] == [
        ("policy", "promoted", 1),
        ("propensity", "promoted", 1),
        ("reason", "promoted", 1),
    ]
    assert (progress.step, progress.done, progress.total) == ("done", 5, 5)
    assert versions(sqlite_engine) == {kind: [(1, "active", True)] for kind in ("policy", "propensity", "reason")}
    assert statuses(sqlite_engine, settings) == {"policy": "Active", "propensity": "Active", "reason": "Active"}
    models = cache.current()  # invalidated by the activity: no refresh interval to wait for
    assert (models.policy.version, models.propensity.version, models.reason.version) == (1, 1, 1)
    # the history holds kinds, steps, counts and reasons only: no cart ids, features or values
    history = await handle.fetch_history()
    payloads = decoded_payloads(json.loads(history.to_json()))
    assert '"step":"training propensity"' in payloads
    assert '"outcome":"promoted"' in payloads  # decoding works
    assert "c000" not in payloads
    assert "cart_value" not in payloads
    assert "desktop" not in payloads


def decoded_payloads(node) -> str:
    """Every payload's data in a JSON history (base64 there), decoded and joined."""
    if isinstance(node, dict):
        if "metadata" in node and "data" in node:
            return base64.b64decode(node["data"]).decode("utf-8", "replace")
        return "\n".join(decoded_payloads(v) for v in node.values())
    if isinstance(node, list):
        return "\n".join(decoded_payloads(v) for v in node)
    return ""


async def test_real_retraining_that_fails_reports_failed_and_puts_the_models_in_alert(
    time_skipping_env, task_queue, sqlite_engine, tmp_path
):
    seed_shop(sqlite_engine, carts=300)
    settings = low_threshold_settings(tmp_path)
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise KeyError("action")

    async with real_worker(time_skipping_env, task_queue, TrainingActivities(sqlite_engine, settings, train=broken)):
        result = await (await start(time_skipping_env, task_queue, "schedule")).result()
    assert len(calls) == 2
    assert result.status == "failed"
    assert {o.outcome for o in result.outcomes} == {"failed"}
    assert result.outcomes[0].why == "KeyError: 'action'"
    assert statuses(sqlite_engine, settings) == {"policy": "Alert", "propensity": "Alert", "reason": "Alert"}
    assert versions(sqlite_engine) == {kind: [(1, "failed", False)] for kind in ("policy", "propensity", "reason")}


async def test_every_training_step_reaches_the_workflow_however_quickly_they_follow_each_other(
    time_skipping_env, task_queue, sqlite_engine, tmp_path
):
    """Steps reported faster than the activity polls are each signalled, in order: a short step
    (a kind skipped for want of data, a small shop) is never hidden by the one after it."""
    steps = [f"training {kind}" for kind in ("policy", "propensity", "reason")]

    def instant(*args, progress, **kwargs):
        for done, step in enumerate(steps):
            progress(step, done, len(steps))
        return []

    async with real_worker(
        time_skipping_env,
        task_queue,
        TrainingActivities(sqlite_engine, low_threshold_settings(tmp_path), train=instant),
    ):
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
        RetrainWorkflow.run,
        RetrainRequest("manual", "admin"),
        id=f"retrain/manual/{uuid.uuid4()}",
        task_queue=f"{task_queue}-idle",
    )
    try:
        for _ in range(50):
            if [
                w
                async for w in dev_env.client.list_workflows(
                    f"WorkflowId = '{blocker.id}' AND ExecutionStatus = 'Running'"
                )
            ]:
                break
            await asyncio.sleep(0.1)
        activities = TrainingActivities(sqlite_engine, low_threshold_settings(tmp_path))
        async with real_worker(dev_env, task_queue, activities):
            result = await (await start(dev_env, task_queue, "schedule")).result()
    finally:
        await blocker.terminate("test ended")
    assert result.status == "completed"
    assert {(o.outcome, o.why) for o in result.outcomes} == {
        ("skipped", f"another retraining is running: {blocker.id}")
    }
    assert versions(sqlite_engine) == {}


RECORDED = sorted((Path(__file__).parent / "retrain_histories").glob("*.json"))


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_recorded_retraining_histories_replay(path):
    """Histories recorded by earlier versions (progress signals, a failure after two attempts)
    must replay on the current code; a change that breaks this needs `workflow.patched(...)`."""
    history = WorkflowHistory.from_json("recorded", path.read_text())
    await Replayer(workflows=[RetrainWorkflow]).replay_workflow(history)
    assert len(RECORDED) == 2
