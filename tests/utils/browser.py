"""Helpers for the browser tests: the admin key their service runs with, screenshots, sign-in."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

ARTIFACTS = Path(__file__).parents[1] / "artifacts"


ADMIN_KEY = "admin-key-for-browser-tests"


async def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def create_key(base: str, role: str) -> str:
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post(
            "/v1/keys",
            json={"name": f"{role} in the browser test", "role": role},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        )
        assert response.status_code == 201, response.text
        return response.json()["key"]


async def sign_in(page, base: str, key: str, target: str) -> None:
    await page.goto(f"{base}{target}")
    assert "/login" in page.url  # not signed in: sent to the sign-in form
    await page.fill("#api_key", key)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}{target}*")


async def until(page, expression: str, timeout: float = 15.0) -> None:
    """Poll a JavaScript expression until it is true. Playwright's wait_for_function evaluates its
    predicate with eval(), which the pages' Content-Security-Policy forbids; page.evaluate does not."""
    deadline = time.monotonic() + timeout
    while not await page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        await asyncio.sleep(0.05)
