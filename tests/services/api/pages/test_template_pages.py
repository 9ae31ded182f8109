"""The template editor's pages through the real app: stable element ids for browser tests, the
viewer kept out, form saves with CSRF (invalid: the error with its line; valid: a new active
version), diff and rollback, and the live preview's cookie + CSRF-header call."""

from __future__ import annotations

import html
import re

from tests.utils.template_api import OPT_OUT, active, browser_session, template_id


async def test_editor_pages_have_stable_ids(api):
    cookie, _ = await browser_session(api)
    listing = await api.get("/templates", headers={"Cookie": cookie})
    assert listing.status_code == 200
    assert 'id="templates-table"' in listing.text
    tid = await template_id(api, "email", "price")
    page = (await api.get(f"/templates/{tid}/edit", headers={"Cookie": cookie})).text
    for element in (
        "source-email-price-html",
        "source-email-price-txt",
        "source-email-price-subject",
        "preview",
        "errors",
        "sample-reason",
        "sample-bucket",
        "sample-items",
        "sample-returning",
        "sample-locale",
        "history",
        "variants",
        "preview-html",
        "test-send",
        "editor-form",
    ):
        assert f'id="{element}"' in page, element
    assert re.search(r'<iframe id="preview-html" title="[^"]*" sandbox srcdoc="[^"]*Return to your cart', page)
    assert '<script src="/static/editor.js"' in page
    sms = (await api.get(f"/templates/{await template_id(api, 'sms', 'price')}/edit", headers={"Cookie": cookie})).text
    assert re.search(r'id="sms-count"[^>]*>\d+ characters · \d segments? · GSM-7 \(budget 2\)<', sms)
    assert (await api.get("/static/editor.js")).status_code == 200


async def test_viewer_cannot_open_the_editor(api):
    cookie, _ = await browser_session(api, "viewer")
    tid = await template_id(api, "sms", "price")
    for url in ("/templates", f"/templates/{tid}/edit"):
        response = await api.get(url, headers={"Cookie": cookie, "Accept": "text/html"})
        assert response.status_code == 403
        assert "needs the editor role" in response.text
    stranger = await api.get(f"/templates/{tid}/edit", headers={"Accept": "text/html"})
    assert stranger.status_code == 303
    assert stranger.headers["location"] == f"/login?next=/templates/{tid}/edit"


async def test_form_save_invalid_shows_the_line_then_valid_saves_and_rollback_restores(api):
    cookie, csrf = await browser_session(api)
    tid = await template_id(api, "sms", "price")
    original = active(api, "sms", "price").sources["sms/price.txt"]
    bad = await api.post(
        f"/templates/{tid}/edit",
        headers={"Cookie": cookie},
        data={"csrf_token": csrf, "sms/price.txt": "{{ shop.name }}\n{% endif %}", "note": "oops"},
    )
    assert bad.status_code == 422
    errors = re.search(r'<ul id="errors".*?</ul>', bad.text, re.S).group(0)
    assert 'data-file="sms/price.txt" data-line="2"' in errors
    assert "sms/price.txt line 2: syntax error" in errors
    assert "{{ shop.name }}\n{% endif %}</textarea>" in html.unescape(bad.text)  # the edit is kept, not lost
    assert active(api, "sms", "price").version == 1
    good = original.replace("before you pay", "before paying")
    saved = await api.post(
        f"/templates/{tid}/edit",
        headers={"Cookie": cookie},
        data={"csrf_token": csrf, "sms/price.txt": good, "note": "wording"},
    )
    assert saved.status_code == 303
    new_id = int(re.match(r"/templates/(\d+)/edit\?saved=2", saved.headers["location"]).group(1))
    assert active(api, "sms", "price").sources["sms/price.txt"] == good
    page = (await api.get(f"/templates/{new_id}/edit?saved=2", headers={"Cookie": cookie})).text
    assert 'id="saved"' in page
    assert 'id="rollback-1"' in page
    assert 'id="diff-2"' in page
    assert 'id="rollback-2"' not in page
    diff = await api.get(f"/templates/diff?a={tid}&b={new_id}", headers={"Cookie": cookie})
    assert diff.status_code == 200
    assert 'id="diff"' in diff.text
    assert "before paying" in diff.text
    rolled = await api.post(f"/templates/{tid}/rollback", headers={"Cookie": cookie}, data={"csrf_token": csrf})
    assert rolled.status_code == 303
    assert rolled.headers["location"].endswith("?saved=3")
    assert active(api, "sms", "price").sources["sms/price.txt"] == original


async def test_form_posts_need_the_csrf_token(api):
    cookie, _ = await browser_session(api)
    tid = await template_id(api, "sms", "price")
    for url in (f"/templates/{tid}/edit", f"/templates/{tid}/rollback"):
        response = await api.post(url, headers={"Cookie": cookie}, data={"sms/price.txt": OPT_OUT})
        assert response.status_code == 403
    preview = await api.post(
        "/v1/templates/preview", headers={"Cookie": cookie}, json={"channel": "sms", "reason": "price", "sources": {}}
    )
    assert preview.status_code == 403
    assert "CSRF" in preview.json()["detail"]
    assert active(api, "sms", "price").version == 1


async def test_live_preview_works_with_the_session_cookie_and_csrf_header(api):
    cookie, csrf = await browser_session(api)
    response = await api.post(
        "/v1/templates/preview",
        headers={"Cookie": cookie, "X-CSRF-Token": csrf},
        json={"channel": "sms", "reason": "price", "sources": {"sms/price.txt": "Hi " + OPT_OUT}},
    )
    assert response.status_code == 200
    assert response.json()["text"] == "Hi " + OPT_OUT


async def test_saving_under_a_new_variant_name_starts_variant_b(api):
    cookie, csrf = await browser_session(api)
    tid = await template_id(api, "sms", "price")
    source = "{{ shop.name }}: still yours. {{ cart.recovery_url }} " + OPT_OUT
    bad = await api.post(
        f"/templates/{tid}/edit",
        headers={"Cookie": cookie},
        data={"csrf_token": csrf, "sms/price.txt": source, "variant": "b!"},
    )
    assert bad.status_code == 422
    assert "variant must be a capital letter" in bad.text
    saved = await api.post(
        f"/templates/{tid}/edit",
        headers={"Cookie": cookie},
        data={"csrf_token": csrf, "sms/price.txt": source, "variant": "B"},
    )
    assert saved.status_code == 303
    assert saved.headers["location"].endswith("?saved=1")
    page = (await api.get(saved.headers["location"], headers={"Cookie": cookie})).text
    assert 'id="variant-A"' in page
    assert 'id="variant-B"' in page
    assert "variant B" in page
    assert active(api, "sms", "price").variant == "A"  # A stays live beside B
