"""Every HTML page carries the Content-Security-Policy and no-framing headers; the JSON API and
FastAPI's own docs do not."""

from __future__ import annotations

import pytest

from services.api.page_headers import CONTENT_SECURITY_POLICY
from services.messaging.unsubscribe import make_token


def assert_page_headers(response) -> None:
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/login", "/c/not-a-token"])
async def test_html_pages_forbid_framing_and_foreign_scripts(api, path):
    response = await api.get(path)
    assert response.status_code < 500
    assert_page_headers(response)


async def test_the_unsubscribe_page_forbids_framing_too(api):
    token = make_token(api.app.state.settings.signing_key(), "customer-1", "email")
    response = await api.get(f"/unsubscribe/{token}")
    assert response.status_code == 200
    assert_page_headers(response)


async def test_the_json_api_and_the_openapi_docs_are_left_alone(api):
    response = await api.get("/v1/reports/recovery", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert "content-security-policy" not in response.headers
    docs = await api.get("/docs")
    assert docs.status_code == 200
    assert "content-security-policy" not in docs.headers


@pytest.mark.parametrize("token", ["ünïcödé.sïgnature", "abc.\u0661\u0662", "%E2%80%AE.x"])
async def test_a_non_ascii_unsubscribe_token_is_a_page_not_a_500(api, token):
    shown = await api.get(f"/unsubscribe/{token}")
    assert shown.status_code == 404
    posted = await api.post(f"/unsubscribe/{token}")
    assert posted.status_code == 404
