"""create_app(): the HTTP API. The Temporal client is connected in the lifespan; while it is not,
webhooks answer 503 so platforms retry instead of losing events."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from temporalio.client import Client

from services.api.database import Database
from services.api.page_headers import PageHeaders
from services.api.pages import STATIC_DIR, dashboard, login
from services.api.pages import templates as template_pages
from services.api.pages.access import PageAccessDenied, page_access_denied
from services.api.request_guard import RequestGuard
from services.api.routes import (
    carts,
    clicks,
    customers,
    keys,
    models,
    reports,
    surveys,
    templates,
    unsubscribe,
    webhooks,
)
from services.core.events import GenericWebhook
from services.core.settings import Settings
from services.ingest.journeys import Journeys
from services.store.db import database_unavailable, make_engine
from services.store.service_clock import load_clock

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, engine=None, client: Client | None = None) -> FastAPI:
    engine = engine or make_engine(settings.database_url, lock_wait_s=settings.api_lock_wait_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.clock = load_clock(engine, settings.time_scale)
        temporal = client
        if temporal is None:
            temporal = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
        app.state.journeys = Journeys(temporal, settings, app.state.clock)
        yield
        app.state.database.dispose()

    app = FastAPI(
        title="cartrecovery",
        version="0.1.0",
        summary="Abandoned-cart recovery: webhooks in, personalised messages out, outcomes recorded.",
        lifespan=lifespan,
    )
    app.state.settings, app.state.engine, app.state.journeys = settings, engine, None
    app.state.database = Database.on(engine)
    for module in (webhooks, carts, reports, dashboard, models, customers, unsubscribe, clicks, surveys, keys, login):
        app.include_router(module.router)
    app.include_router(templates.router)
    app.include_router(template_pages.router)
    app.exception_handler(PageAccessDenied)(page_access_denied)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(PageHeaders)
    app.add_middleware(RequestGuard)

    @app.get("/healthz", tags=["health"], summary="Database and workflow engine reachable")
    async def healthz() -> JSONResponse:
        checks = {"database": "ok", "temporal": "ok"}
        try:
            await run_in_threadpool(_ping_database, engine)
        except Exception as err:  # noqa: BLE001 - any failure means unhealthy
            checks["database"] = f"unavailable: {type(err).__name__}"
        journeys = app.state.journeys
        try:
            if journeys is None:
                raise ConnectionError("not connected")
            await journeys.client.service_client.check_health(timeout=timedelta(seconds=2))
        except Exception as err:  # noqa: BLE001
            checks["temporal"] = f"unavailable: {type(err).__name__}"
        healthy = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "unavailable", **checks}, status_code=200 if healthy else 503
        )

    @app.exception_handler(OperationalError)
    async def _database_error(request: Request, exc: OperationalError) -> JSONResponse:
        if not database_unavailable(exc):  # a fault of ours (statement parameters are hidden)
            log.error("database error on %s %s", request.method, request.url.path, exc_info=exc)
            return JSONResponse({"detail": "internal error"}, status_code=500)
        # A lock held longer than CR_API_LOCK_WAIT_SECONDS, or the database gone: retrying helps.
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc.orig).__name__)
        return JSONResponse(
            {"detail": "database unavailable; retry later"}, status_code=503, headers={"Retry-After": "5"}
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    _document_generic_schema(app)
    return app


def _ping_database(engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _document_generic_schema(app: FastAPI) -> None:
    """Put GenericWebhook (read from the raw body, not a parameter) into the OpenAPI components."""
    original = app.openapi

    def openapi():
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        definitions = GenericWebhook.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(definitions.pop("$defs", {}))
        components["GenericWebhook"] = definitions
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema
