"""The CRM editor in real headless Chromium: sign in as an editor, edit, see the live preview,
save an invalid template and see its line, save a valid one, roll back; a viewer is kept out."""

from __future__ import annotations

import pytest

from tests.utils.browser import create_key, screenshot, sign_in, until

pytestmark = pytest.mark.e2e


async def renders(page) -> int:
    return int(await page.get_attribute("#preview", "data-renders") or 0)


async def test_editor_edits_previews_validates_saves_and_rolls_back(web, page):
    base, _settings, _engine = web
    await sign_in(page, base, await create_key(base, "editor"), "/templates")
    rows = page.locator("#templates-table tbody tr")
    assert await rows.count() >= 20  # every channel x reason, seeded from the defaults
    sms_row = page.locator("#templates-table tr", has_text="sms").filter(has_text="price").first
    await sms_row.locator("a[id^=edit-]").click()
    await page.wait_for_selector("#editor-form")
    await screenshot(page, "editor-opened")

    source = page.locator("textarea[data-file='sms/price.txt']")
    before = await renders(page)
    await source.fill("{{ shop.name }}: your cart is waiting, {{ cart.recovery_url }} - BROWSER-EDIT {{ sms_opt_out }}")
    await until(page, f"Number(document.querySelector('#preview').dataset.renders) > {before}")
    await until(page, "document.querySelector('#preview-sms').textContent.includes('BROWSER-EDIT')")
    assert "segment" in await page.inner_text("#sms-count")
    await screenshot(page, "editor-live-preview")

    # an invalid template: the error names its line, and nothing is activated
    await source.fill("line one\n{{ shop.name }\n{{ sms_opt_out }}")
    await page.click("#save")
    await page.wait_for_selector("#errors li.problem")
    problem = page.locator("#errors li.problem").first
    assert await problem.get_attribute("data-line") == "2"
    await screenshot(page, "editor-invalid-template")
    assert await page.locator("#saved").count() == 0
    assert await page.locator("#version-2").count() == 0

    # a valid one is saved and becomes active
    await page.locator("textarea[data-file='sms/price.txt']").fill(
        "{{ shop.name }}: your cart is saved {{ cart.recovery_url }} VALID-V2 {{ sms_opt_out }}"
    )
    await page.click("#save")
    await page.wait_for_selector("#saved")
    assert "version 2" in await page.inner_text("#saved")
    assert await page.locator("#version-2").count() == 1
    await screenshot(page, "editor-saved")

    # roll back to version 1: a new active version with v1's sources
    await page.click("#rollback-1")
    await page.wait_for_selector("#version-3")
    content = await page.locator("textarea[data-file='sms/price.txt']").input_value()
    assert "VALID-V2" not in content
    await screenshot(page, "editor-rolled-back")


async def test_viewer_cannot_open_the_editor(web, page):
    base, _settings, _engine = web
    await sign_in(page, base, await create_key(base, "viewer"), "/dashboard")
    response = await page.goto(f"{base}/templates")
    assert response.status == 403
    await screenshot(page, "viewer-forbidden-editor")


async def test_the_worst_case_preview_shows_the_biggest_cart_the_webhooks_admit(web, page):
    base, _settings, _engine = web
    await sign_in(page, base, await create_key(base, "editor"), "/templates")
    email_row = page.locator("#templates-table tr", has_text="email").filter(has_text="other").first
    await email_row.locator("a[id^=edit-]").click()
    await page.wait_for_selector("#editor-form")
    before = await renders(page)
    await page.select_option("#sample-items", label="worst case: 500 items, longest texts")
    await until(page, f"Number(document.querySelector('#preview').dataset.renders) > {before}")
    await until(page, "document.querySelector('#preview-text').textContent.includes('and 490 more items')")
    assert await page.get_attribute("#preview", "data-state") == "ok"
    assert "Maximiliana-Alexandra Christodoulou-Bell" in await page.inner_text("#preview-text")
    await screenshot(page, "editor-worst-case-preview")
