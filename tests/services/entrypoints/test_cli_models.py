"""`cartrecovery retrain` and the model lines of `cartrecovery status`, run as a command against
the dev server."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session
from temporalio.worker import Worker

from services.store.db import make_engine
from services.store.model_versions import record_failure
from tests.utils.cli import run_cli
from tests.utils.retrain_workflow import Script
from workflows.retraining import RetrainWorkflow


@pytest.fixture
def cli_env(tmp_path, dev_env):
    env = {
        "CR_DATA_DIR": str(tmp_path),
        "CR_DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "CR_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "CR_TASK_QUEUE": f"cli-{uuid.uuid4().hex[:8]}",
        "CR_PUBLIC_URL": "http://127.0.0.1:1",
        "CR_MODEL_MIN_CARTS": "10",
        "CR_MODEL_MIN_DAYS": "0",
        "CR_MODEL_MIN_CONVERSIONS": "2",
    }
    yield env
    # nothing of this test may stay running: the next retrain would be refused


async def test_retrain_shows_progress_and_each_models_outcome(cli_env, dev_env):
    script = Script()

    async def release_after_the_bar_saw_progress():
        await script.reported.wait()
        await asyncio.sleep(1.5)  # the command polls every 0.5 s
        script.release.set()

    async with Worker(
        dev_env.client, task_queue=cli_env["CR_TASK_QUEUE"], workflows=[RetrainWorkflow], activities=script.activities()
    ):
        releasing = asyncio.create_task(release_after_the_bar_saw_progress())
        result = await run_cli(cli_env, "retrain")
        if not releasing.done():  # the command ended before the bar showed progress: its output says why
            releasing.cancel()
            script.release.set()
    assert result.exit_code == 0, result.output
    assert "started retraining retrain/manual/" in result.output
    assert "5/5" in result.output
    assert "completed" in result.output  # the bar ends full
    assert "Retraining completed (1,234 logged decisions)" in result.output
    assert "56 decisions of carts whose attribution window is still open" in " ".join(result.output.split())
    lines = result.output.splitlines()
    assert any("policy" in line and "promoted" in line and "v3" in line and "beats v2" in line for line in lines)
    assert any("reason" in line and "skipped" in line and "needs 40 labels" in line for line in lines)


async def test_retrain_no_wait_returns_at_once_and_a_second_is_refused(cli_env, dev_env):
    script = Script()
    async with Worker(
        dev_env.client, task_queue=cli_env["CR_TASK_QUEUE"], workflows=[RetrainWorkflow], activities=script.activities()
    ):
        first = await run_cli(cli_env, "retrain", "--no-wait")
        assert first.exit_code == 0, first.output
        workflow_id = first.output.split("started retraining ", 1)[1].split()[0]
        await asyncio.wait_for(script.reported.wait(), 20)
        second = await run_cli(cli_env, "retrain")
        script.release.set()
        await dev_env.client.get_workflow_handle(workflow_id).result()
    assert second.exit_code == 1
    assert f"a retraining is already running: {workflow_id}" in second.output


async def test_failed_retrain_exits_1_with_the_reason(cli_env, dev_env):
    script = Script(error="no decisions logged")
    async with Worker(
        dev_env.client, task_queue=cli_env["CR_TASK_QUEUE"], workflows=[RetrainWorkflow], activities=script.activities()
    ):
        result = await run_cli(cli_env, "retrain")
    assert result.exit_code == 1, result.output
    assert "Retraining failed" in result.output
    assert "ValueError: no decisions logged" in result.output


async def test_retrain_without_temporal_says_so(cli_env):
    result = await run_cli(cli_env | {"CR_TEMPORAL_ADDRESS": "127.0.0.1:1"}, "retrain")
    assert result.exit_code == 1
    assert "cannot reach Temporal at 127.0.0.1:1" in result.output


async def test_status_shows_a_line_per_model(cli_env):
    engine = make_engine(cli_env["CR_DATABASE_URL"])
    with Session(engine) as session:
        record_failure(session, "propensity", "ValueError: no rows", datetime.now(UTC) - timedelta(hours=1))
        session.commit()
    engine.dispose()
    result = await run_cli(cli_env, "status")
    assert result.exit_code == 0, result.output
    lines = {line.split(":", 1)[0]: line for line in result.output.splitlines() if line.startswith("model ")}
    assert set(lines) == {"model policy", "model propensity", "model reason"}
    assert lines["model policy"] == (
        "model policy: Learning: needs 10 more abandoned carts with an outcome, and none came in the last 14 days; "
        "needs 2 more recovered carts, and none came in the last 14 days; the rule prior decides"
    )
    assert lines["model propensity"].startswith(
        "model propensity: Alert: the last training failed: ValueError: no rows;"
    )
