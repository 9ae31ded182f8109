"""Browser tests: Debian's Chromium (installed by scripts/test.sh) driven by Playwright, against the
real app served by uvicorn on loopback. Screenshots are kept in tests/artifacts/."""

from __future__ import annotations

import asyncio
import shutil
import uuid

import pytest
import uvicorn
from playwright.async_api import async_playwright

from services.api.app import create_app
from services.core.settings import Settings
from services.store.db import make_engine
from tests.utils.browser import ADMIN_KEY
from tests.utils.e2e.sinks import free_port

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(
        "Chromium not found: run the suite with `bash scripts/test.sh`, which installs Debian's chromium"
    )


@pytest.fixture(scope="session")
async def browser():
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser):
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    yield page
    await context.close()


@pytest.fixture
async def web(dev_env, tmp_path):
    """The app on a loopback port; yields (base URL, settings, engine)."""
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'app.db'}",
        api_port=free_port(),
        webhook_secret="web-secret",
        admin_api_key=ADMIN_KEY,
        task_queue=f"web-{uuid.uuid4().hex[:8]}",
        email_url="mailto://127.0.0.1:9?to={to}",
        email_from="shop@example.com",
        shop_address="1 Test Street",
    )
    engine = make_engine(settings.database_url)
    app = create_app(settings, engine=engine, client=dev_env.client)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.api_port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{settings.api_port}", settings, engine
    server.should_exit = True
    await serving
    engine.dispose()
