"""GET /v1/models and retraining on demand, through the real app on the dev server."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from services.api.app import create_app
from services.core.settings import Settings
from services.store.api_keys import create_key
from services.store.model_versions import record_version
from tests.utils.retrain_workflow import Script
from workflows.retraining import RetrainWorkflow

ADMIN = "admin-key-for-model-tests"


def make_key(engine, role: str) -> str:
    with Session(engine) as session:
        _, key = create_key(session, f"{role} person", role, created_by="test")
        session.commit()
    return key


def settings_for(tmp_path, **overrides) -> Settings:
    values = dict(
        _env_file=None,
        data_dir=tmp_path,
        webhook_secret="generic-secret",
        admin_api_key=ADMIN,
        task_queue=f"models-{uuid.uuid4().hex[:8]}",
        model_min_days=0,
        model_min_carts=10,
        model_min_conversions=2,
    )
    return Settings(**(values | overrides))


@pytest.fixture
async def api(tmp_path, sqlite_engine, dev_env):
    settings = settings_for(tmp_path)
    app = create_app(settings, engine=sqlite_engine, client=dev_env.client)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            client.settings, client.engine, client.temporal = settings, sqlite_engine, dev_env.client
            client.keys = {role: make_key(sqlite_engine, role) for role in ("viewer", "editor")} | {"admin": ADMIN}
            yield client
    # a run a failed test left behind would make every later request a 409
    async for execution in dev_env.client.list_workflows(
        f"TaskQueue = '{settings.task_queue}' AND ExecutionStatus = 'Running'"
    ):
        await dev_env.client.get_workflow_handle(execution.id).terminate("test ended")


def auth(api, role: str) -> dict:
    return {"Authorization": f"Bearer {api.keys[role]}"}


def store_version(engine, kind: str, status: str, note: str = "") -> None:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    with Session(engine) as session:
        record_version(
            session,
            kind=kind,
            status=status,
            metrics={"auc": 0.71, "ece": 0.03},
            params={"seed": 0},
            library_versions={"scikit-learn": "1.9.1"},
            data_from=start,
            data_to=start + timedelta(days=20),
            eval_from=start + timedelta(days=20),
            eval_to=start + timedelta(days=25),
            rows_train=800,
            rows_eval=200,
            artifact=b"not shown",
            artifact_hmac="0" * 64,
            note=note,
            now=start + timedelta(days=25),
        )
        session.commit()


async def test_models_on_an_empty_database_are_learning_and_say_what_they_need(api):
    response = await api.get("/v1/models", headers=auth(api, "viewer"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [m["kind"] for m in body["models"]] == ["policy", "propensity", "reason"]
    for model in body["models"]:
        assert model["status"] == "Learning"
        assert model["active_version"] is None
        assert model["still_needed"]["carts"] == 10
        assert model["line"].startswith("Learning")
    assert body["versions"] == []
    assert body["retraining"] == {"cron": "0 3 * * *", "timezone": "UTC"}


async def test_models_show_versions_without_their_artifacts(api):
    store_version(api.engine, "propensity", "active", "AUC 0.71 beats the prior")
    store_version(api.engine, "propensity", "rejected", "AUC lower than v1")
    body = (await api.get("/v1/models", headers=auth(api, "viewer"))).json()
    propensity = next(m for m in body["models"] if m["kind"] == "propensity")
    active = propensity["active_version"]
    assert (active["version"], active["status"], active["metrics"]["auc"]) == (1, "active", 0.71)
    assert active["training_window"]["from"].startswith("2024-05-01")
    assert active["library_versions"] == {"scikit-learn": "1.9.1"}
    assert [(v["kind"], v["version"], v["status"]) for v in body["versions"]] == [
        ("propensity", 2, "rejected"),
        ("propensity", 1, "active"),
    ]
    assert "artifact" not in str(body)
    assert "0" * 64 not in str(body)


async def test_model_routes_need_a_key_and_retraining_needs_admin(api):
    assert (await api.get("/v1/models")).status_code == 401
    for role in ("viewer", "editor"):
        response = await api.post("/v1/models/retrain", headers=auth(api, role))
        assert response.status_code == 403
        assert response.json()["detail"] == f"this needs the admin role; your key has {role}"


async def test_retrain_starts_one_run_refuses_a_second_and_reports_progress_then_the_result(api):
    script = Script()
    async with Worker(
        api.temporal, task_queue=api.settings.task_queue, workflows=[RetrainWorkflow], activities=script.activities()
    ):
        started = await api.post("/v1/models/retrain", headers=auth(api, "admin"))
        assert started.status_code == 202, started.text
        workflow_id = started.json()["workflow_id"]
        assert workflow_id.startswith("retrain/manual/")
        assert started.json()["progress_url"] == f"/v1/models/retrain/{workflow_id}"

        second = await api.post("/v1/models/retrain", headers=auth(api, "admin"))
        assert second.status_code == 409
        assert second.json() == {
            "detail": f"a retraining is already running: {workflow_id}",
            "workflow_id": workflow_id,
        }

        await asyncio.wait_for(script.reported.wait(), 20)
        running = (await api.get(f"/v1/models/retrain/{workflow_id}", headers=auth(api, "viewer"))).json()
        assert running["status"] == "running"
        assert running["result"] is None
        assert running["progress"] == {"step": "training propensity", "done": 3, "total": 5}

        script.release.set()
        handle = api.temporal.get_workflow_handle(workflow_id)
        await handle.result()
        done = (await api.get(f"/v1/models/retrain/{workflow_id}", headers=auth(api, "viewer"))).json()
    assert done["status"] == "completed"
    assert (done["result"]["rows"], done["result"]["open_decisions"]) == (1234, 56)
    assert [(o["kind"], o["outcome"], o["version"]) for o in done["result"]["outcomes"]] == [
        ("policy", "promoted", 3),
        ("reason", "skipped", None),
    ]
    described = await handle.describe()
    assert described.status == WorkflowExecutionStatus.COMPLETED
    # the request crosses into Temporal with the role only
    history = await handle.fetch_history()
    assert (
        b'"requested_by":"admin"'
        in history.events[0].workflow_execution_started_event_attributes.input.payloads[0].data
    )


async def test_a_failed_training_reads_as_failed(api):
    script = Script(error="no decisions logged")
    async with Worker(
        api.temporal, task_queue=api.settings.task_queue, workflows=[RetrainWorkflow], activities=script.activities()
    ):
        workflow_id = (await api.post("/v1/models/retrain", headers=auth(api, "admin"))).json()["workflow_id"]
        await api.temporal.get_workflow_handle(workflow_id).result()
        state = (await api.get(f"/v1/models/retrain/{workflow_id}", headers=auth(api, "admin"))).json()
    assert state["status"] == "failed"
    assert {o["outcome"] for o in state["result"]["outcomes"]} == {"failed"}
    assert state["result"]["outcomes"][0]["why"] == "ValueError: no decisions logged"


@pytest.mark.parametrize(
    "workflow_id,message",
    [
        ("retrain/manual/no-such-run", "no retraining run 'retrain/manual/no-such-run'"),
        ("recovery/shop/cart", "'recovery/shop/cart' is not a retraining run (their ids start with 'retrain/')"),
    ],
)
async def test_unknown_runs_are_404(api, workflow_id, message):
    response = await api.get(f"/v1/models/retrain/{workflow_id}", headers=auth(api, "viewer"))
    assert response.status_code == 404
    assert response.json()["detail"] == message


async def test_temporal_down_is_503_quickly(tmp_path, sqlite_engine):
    dead = await Client.connect("127.0.0.1:1", lazy=True)
    app = create_app(settings_for(tmp_path), engine=sqlite_engine, client=dead)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            started = asyncio.get_running_loop().time()
            response = await client.post("/v1/models/retrain", headers={"Authorization": f"Bearer {ADMIN}"})
            assert response.status_code == 503
            assert response.json()["detail"] == "workflow engine unavailable; retry later"
            progress = await client.get(
                "/v1/models/retrain/retrain/manual/x", headers={"Authorization": f"Bearer {ADMIN}"}
            )
            assert progress.status_code == 503
            assert asyncio.get_running_loop().time() - started < 12
            assert (await client.get("/v1/models", headers={"Authorization": f"Bearer {ADMIN}"})).status_code == 200
